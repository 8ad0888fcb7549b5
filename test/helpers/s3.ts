// An S3 API server for tests: s3rver from npm, on 127.0.0.1 and a free port,
// over a fresh directory, with one bucket. It does not check request
// signatures: signing is left to the AWS SDK, which every real store checks.
import fs from 'node:fs';
import S3rver from 's3rver';
import { tempDir } from './edge.js';

export interface TestS3 {
  readonly endpoint: string;
  readonly bucket: string;
  /** GET requests of objects (a read of an object's bytes) the bucket has had, by key. */
  objectGets(key: string): number;
  close(): Promise<void>;
}

export async function startS3(bucket = 'imgedge-test'): Promise<TestS3> {
  const dir = tempDir('s3');
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const address = (await server.run()) as { port: number };
  const gets = new Map<string, number>();
  (server as unknown as { httpServer: import('node:http').Server }).httpServer.on('request', (req: import('node:http').IncomingMessage) => {
    if (req.method !== 'GET') return;
    const key = decodeURIComponent(new URL(req.url ?? '/', 'http://s3').pathname).slice(bucket.length + 2);
    gets.set(key, (gets.get(key) ?? 0) + 1);
  });
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    objectGets: (key) => gets.get(key) ?? 0,
    close: async () => {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
