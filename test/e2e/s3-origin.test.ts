// `imgedge origin --root s3://BUCKET --changelog redis://...`: two origin
// replicas on one bucket (s3rver) and one stream (redis-server); uploads,
// overwrites and deletes through either are served by both, logged in one
// order, and reach an edge following the stream. s3rver checks no request
// signatures: signing is trusted to the AWS SDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestEdge, until, metricValue, runToExit } from '../helpers/edge.js';
import { get, sha256 } from '../helpers/http.js';
import { NO_REDIS } from '../helpers/redis.js';
import { originOnBucket, startS3Origin, S3_CREDENTIALS } from '../helpers/s3.js';
import { samplePng, TOKEN } from '../helpers/imgedge-origin.js';

const auth = { authorization: `Bearer ${TOKEN}` };
const put = (base: string, target: string, body: Buffer | string | ReadableStream) => fetch(base + target, { method: 'PUT', body, headers: auth, duplex: 'half' } as RequestInit);
const del = (base: string, target: string) => fetch(base + target, { method: 'DELETE', headers: auth });

test('two origin replicas on one bucket and one stream: writes through either, served by both, in one log, followed by an edge', { skip: NO_REDIS }, async (t) => {
  const { s3, redis, origin: a } = await originOnBucket(t);
  const b = await startS3Origin(s3, redis.url);
  t.after(() => b.close());
  const edge = await startTestEdge(a.url, { args: ['--changelog', redis.url], changelogTiming: { minBackoffMs: 20, maxBackoffMs: 200, waitSec: 5 } });
  t.after(() => edge.close());
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_state', { state: 'following' })) === 1, 'the edge to follow');

  const [v1, v2] = await Promise.all([1, 2].map((i) => samplePng(i, 300, 200)));
  const created = await put(a.url, '/p/cat.png', v1!);
  assert.equal(created.status, 201);
  const etag = created.headers.get('etag')!;
  assert.match(etag, /^"[^"]+"$/, 'a strong ETag');

  // The other replica serves it, with ranges and conditionals.
  const got = await get(b.url, '/p/cat.png');
  assert.equal(got.status, 200);
  assert.equal(sha256(got.body), sha256(v1!));
  assert.equal(got.headers['etag'], etag);
  assert.equal(got.headers['content-type'], 'image/png');
  assert.ok(got.headers['last-modified']);
  const range = await get(b.url, '/p/cat.png', { headers: { range: 'bytes=8-23' } });
  assert.equal(range.status, 206);
  assert.deepEqual(range.body, v1!.subarray(8, 24));
  assert.equal((await get(b.url, '/p/cat.png', { headers: { 'if-none-match': etag } })).status, 304);
  // A range of another version than the client holds is the whole object.
  const otherVersion = await get(b.url, '/p/cat.png', { headers: { range: 'bytes=8-23', 'if-range': '"another"' } });
  assert.equal(otherVersion.status, 200);
  assert.equal(otherVersion.body.length, v1!.length);
  assert.equal((await get(b.url, '/p/cat.png', { headers: { range: 'bytes=8-23', 'if-range': etag } })).status, 206);
  assert.equal((await get(b.url, '/p/cat.png', { headers: { range: `bytes=${v1!.length}-` } })).status, 416);
  const head = await get(b.url, '/p/cat.png', { method: 'HEAD' });
  assert.equal(head.headers['content-length'], String(v1!.length));
  assert.equal(sha256((await get(edge.url, '/p/cat.png')).body), sha256(v1!));

  // Overwritten through the other replica: the edge follows within 2 s.
  assert.equal((await put(b.url, '/p/cat.png', v2!)).status, 204);
  await until(async () => sha256((await get(edge.url, '/p/cat.png')).body) === sha256(v2!), 'the overwrite at the edge', 2000);
  assert.equal(sha256((await get(a.url, '/p/cat.png')).body), sha256(v2!));

  assert.equal((await del(a.url, '/p/cat.png')).status, 204);
  await until(async () => (await get(edge.url, '/p/cat.png')).status === 404, 'the delete at the edge', 2000);
  assert.equal((await get(b.url, '/p/cat.png')).status, 404);
  // Gone already: 404, and an entry all the same (the retry of a DELETE whose entry failed).
  assert.equal((await del(b.url, '/p/cat.png')).status, 404);

  const log = ((await redis.client.xrange('imgedge:changes', '-', '+')) as [string, string[]][]).map(([, f]) => `${f[1]} ${f[3]}`);
  assert.deepEqual(log, ['put /p/cat.png', 'put /p/cat.png', 'delete /p/cat.png', 'delete /p/cat.png']);
});

test('an upload refused on its first bytes, over the limit midway, or cut off by its client leaves nothing in the bucket and nothing in the log', { skip: NO_REDIS }, async (t) => {
  const { redis, origin: a } = await originOnBucket(t, ['--max-upload-bytes', '100KiB']);
  assert.equal((await put(a.url, '/x/svg.png', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')).status, 415);
  const big = await samplePng(3, 400, 400);
  const huge = Buffer.concat([big, Buffer.alloc(200 * 1024, 7)]);
  // Sent without a length, so the limit is met while streaming.
  const streamed = new ReadableStream({
    start(controller) {
      for (let at = 0; at < huge.length; at += 16 * 1024) controller.enqueue(huge.subarray(at, at + 16 * 1024));
      controller.close();
    },
  });
  assert.equal((await put(a.url, '/x/big.png', streamed)).status, 413);
  // An uploader that goes away midway: the object is never completed.
  const cut = http.request(`${a.url}/x/cut.png`, { method: 'PUT', headers: { ...auth, 'transfer-encoding': 'chunked' } });
  cut.on('error', () => {});
  cut.write(big.subarray(0, 20 * 1024));
  await until(async () => (await new Promise<number>((resolve) => a.server.getConnections((_e, n) => resolve(n)))) === 1, 'the upload under way');
  cut.destroy();
  await until(async () => (await new Promise<number>((resolve) => a.server.getConnections((_e, n) => resolve(n)))) === 0, 'the origin to see it go');
  for (const target of ['/x/svg.png', '/x/big.png', '/x/cut.png']) assert.equal((await get(a.url, target)).status, 404);
  assert.equal(await redis.client.exists('imgedge:changes'), 0);
  // Paths are checked before the bucket is asked.
  assert.equal((await get(a.url, '/.imgedge/x')).status, 400);
});

test('an s3:// root without a redis:// change log stops at start with exit 2 naming --changelog', async () => {
  const run = await runToExit(['origin', '--root', 's3://bucket/prefix', '--listen', '127.0.0.1:0'], S3_CREDENTIALS);
  assert.equal(run.code, 2);
  assert.match(run.output, /--changelog/);
  const endpointAlone = await runToExit(['origin', '--root', 'var/x', '--s3-endpoint', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0']);
  assert.equal(endpointAlone.code, 2);
  assert.match(endpointAlone.output, /--s3-endpoint/);
});
