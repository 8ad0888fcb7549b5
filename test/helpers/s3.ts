// An S3 API server for tests: s3rver from npm, on 127.0.0.1 and a free port,
// over a fresh directory, with one bucket. It does not check request
// signatures: signing is left to the AWS SDK, which every real store checks.
import fs from 'node:fs';
import type { TestContext } from 'node:test';
import S3rver from 's3rver';
import { parseOriginConfig } from '../../src/config.js';
import { startOrigin, type RunningOrigin } from '../../src/roles/origin/server.js';
import { tempDir } from './edge.js';
import { startRedis, type TestRedis } from './redis.js';
import { TOKEN } from './imgedge-origin.js';

/** s3rver checks no signature, but the SDK signs with something. */
export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

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

/** `imgedge origin` over the bucket (objects under images/) and a Redis change log, as an operator starts it. */
export function startS3Origin(s3: TestS3, redisUrl: string, extra: string[] = []): Promise<RunningOrigin> {
  return startOrigin(parseOriginConfig([
    '--listen', '127.0.0.1:0', '--root', `s3://${s3.bucket}/images`, '--s3-endpoint', s3.endpoint, '--changelog', redisUrl,
    '--upload-token', TOKEN, '--log-level', 'silent', ...extra,
  ], S3_CREDENTIALS));
}

/** A bucket, a Redis primary and one origin replica over them (with `extra` flags), all closed after the test. */
export async function originOnBucket(t: TestContext, extra: string[] = []): Promise<{ s3: TestS3; redis: TestRedis; origin: RunningOrigin }> {
  const s3 = await startS3();
  t.after(() => s3.close());
  const redis = await startRedis();
  t.after(() => redis.close());
  const origin = await startS3Origin(s3, redis.url, extra);
  t.after(() => origin.close());
  return { s3, redis, origin };
}
