// The origin IDC's bucket: s3rver (an S3 API server in Node) in a process of
// its own, inside the origin IDC, so its work is not the harness's.
// s3rver overwrites an object in place (its file truncated and rewritten, its
// metadata after), so a read racing an overwrite can get the new bytes cut
// at the old size under the old ETag: a mix no real store (S3, MinIO, Ceph
// RGW) ever serves, as each replaces an object whole. Here a PUT is buffered,
// written to a temp file and renamed over the object (a GET that has opened
// the old file reads the old bytes to the end), and each object gets a
// read-write lock so that the rename and the new metadata land together
// between one read's metadata and its open. What crosses two requests (a
// HEAD, then a GET) may still see two versions, as on a real store.
// Prints {"ready":true,"port":N} once it listens, then {"bucketRead":true}
// for each GET of an object (what the origin tier reads of the bucket).
// usage: node dist/sim/s3.js --host ADDR --port N --dir DIR --bucket NAME
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import S3rver from 's3rver';

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string' }, dir: { type: 'string' }, bucket: { type: 'string' } }, strict: true });
if (!values.host || !values.port || !values.dir || !values.bucket) {
  console.error('usage: s3.js --host ADDR --port N --dir DIR --bucket NAME');
  process.exit(2);
}

interface Lock {
  readers: number;
  writer: boolean;
  readonly waiting: (() => void)[];
}
const locks = new Map<string, Lock>();

async function acquire(key: string, exclusive: boolean): Promise<() => void> {
  let lock = locks.get(key);
  if (!lock) locks.set(key, (lock = { readers: 0, writer: false, waiting: [] }));
  while (lock.writer || (exclusive && lock.readers > 0)) await new Promise<void>((resolve) => lock.waiting.push(resolve));
  if (exclusive) lock.writer = true;
  else lock.readers++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (exclusive) lock.writer = false;
    else lock.readers--;
    for (const wake of lock.waiting.splice(0)) wake();
    if (!lock.writer && lock.readers === 0 && lock.waiting.length === 0) locks.delete(key);
  };
}

async function locked<T>(key: string, exclusive: boolean, run: () => Promise<T>): Promise<T> {
  const release = await acquire(key, exclusive);
  try {
    return await run();
  } finally {
    release();
  }
}

interface StoredObject {
  bucket: string;
  key: string;
  metadata: Record<string, string>;
  content: Buffer | Readable;
}
interface Store {
  getResourcePath(bucket: string, key: string, type: string): string;
  getMetadata(bucket: string, key: string): Promise<unknown>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  getObject(bucket: string, key: string, options?: unknown): Promise<{ content: Readable | null } | null>;
  putObject(object: StoredObject): Promise<{ size: number; md5: string }>;
  deleteObject(bucket: string, key: string): Promise<unknown>;
}

const server = new S3rver({ address: values.host, port: Number(values.port), silent: true, directory: values.dir, configureBuckets: [{ name: values.bucket }] });
const store = (server as unknown as { store: Store }).store;
const original = { getMetadata: store.getMetadata.bind(store), getObject: store.getObject.bind(store), deleteObject: store.deleteObject.bind(store) };
store.getMetadata = (bucket, key) => locked(`${bucket}/${key}`, false, () => original.getMetadata(bucket, key));
// Its metadata read and its file open: from here on it reads that file whatever is renamed over it.
store.getObject = (bucket, key, options) => locked(`${bucket}/${key}`, false, () => original.getObject(bucket, key, options));
store.putObject = async (object) => {
  const chunks: Buffer[] = [];
  if (Buffer.isBuffer(object.content)) chunks.push(object.content);
  else for await (const chunk of object.content) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const md5 = createHash('md5').update(body).digest('hex');
  const file = store.getResourcePath(object.bucket, object.key, 'object');
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await fsp.writeFile(temp, body);
  await locked(`${object.bucket}/${object.key}`, true, async () => {
    await fsp.rename(temp, file);
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
  });
  return { size: body.length, md5 };
};
store.deleteObject = (bucket, key) => locked(`${bucket}/${key}`, true, () => original.deleteObject(bucket, key));

const { port } = (await server.run()) as { port: number };
(server as unknown as { httpServer: import('node:http').Server }).httpServer.on('request', (req: import('node:http').IncomingMessage) => {
  if (req.method === 'GET') process.stdout.write('{"bucketRead":true}\n');
});
process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
