// An origin on a bucket shares one read of an object among the edges that
// miss on it, each saying how far it has read the change log: never with
// an edge that has read an entry the origin has not applied yet, never
// across an entry that names the object, and not at all while it cannot
// read the log. Bucket reads are counted at the bucket (s3rver).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OriginClient } from '../../src/origin-client.js';
import { startTestEdge, until, metricValue } from '../helpers/edge.js';
import { get, sha256 } from '../helpers/http.js';
import { NO_REDIS, startRedis } from '../helpers/redis.js';
import { originOnBucket, startS3, startS3Origin, type TestS3 } from '../helpers/s3.js';
import { samplePng, TOKEN } from '../helpers/imgedge-origin.js';

const STREAM = 'imgedge:changes';
const LOG = `redis-stream:${STREAM}`;

async function put(base: string, target: string, body: Buffer): Promise<number> {
  const res = await fetch(base + target, { method: 'PUT', body, headers: { authorization: `Bearer ${TOKEN}` } });
  await res.arrayBuffer();
  return res.status;
}

const at = (seq: number, log = LOG) => ({ headers: { 'imgedge-log-position': `${seq} ${log}` } });

/** Asks until an ask costs the bucket no read: this replica has read the log as far as `seq` and holds a read of the object. */
async function untilShared(s3: TestS3, base: string, target: string, seq: number): Promise<void> {
  await until(async () => {
    const before = s3.objectGets(`images${target}`);
    await get(base, target, at(seq));
    return s3.objectGets(`images${target}`) === before;
  }, `a shared read of ${target}`, 5000);
}

test('misses that say how far they have read the log share one bucket read, until an entry names the object', { skip: NO_REDIS }, async (t) => {
  const { s3, redis, origin: a } = await originOnBucket(t);
  const [v1, v2, v3] = await Promise.all([1, 2, 3].map((i) => samplePng(i, 300, 200)));
  const reads = () => s3.objectGets('images/s/cat.png');

  assert.equal(await put(a.url, '/s/cat.png', v1!), 201);
  await untilShared(s3, a.url, '/s/cat.png', 1);
  const before = reads();
  const answers = await Promise.all(Array.from({ length: 8 }, () => get(a.url, '/s/cat.png', at(1))));
  for (const answer of answers) {
    assert.equal(answer.status, 200);
    assert.equal(sha256(answer.body), sha256(v1!));
    assert.equal(answer.headers['content-length'], String(v1!.length));
    assert.equal(answer.headers['content-type'], 'image/png');
    assert.match(answer.headers['etag'] ?? '', /^"[^"]+"$/);
    assert.match(answer.headers['age'] ?? '', /^\d+$/, 'answered as a cache answers: with an Age');
  }
  assert.equal(reads(), before, 'eight misses, no bucket read');

  // No position, another log, a ranged or conditional request: each reads the bucket.
  await get(a.url, '/s/cat.png');
  await get(a.url, '/s/cat.png', at(1, 'redis-stream:another'));
  assert.equal((await get(a.url, '/s/cat.png', { headers: { ...at(1).headers, range: 'bytes=0-9' } })).status, 206);
  assert.equal(reads(), before + 3);

  // Overwritten: an edge that has read the entry gets the new bytes at once,
  // whether or not this replica has applied it yet, and never the old ones.
  assert.equal(await put(a.url, '/s/cat.png', v2!), 204);
  for (let i = 0; i < 20; i++) assert.equal(sha256((await get(a.url, '/s/cat.png', at(2))).body), sha256(v2!));
  // An edge that has not read it yet may get either.
  assert.ok([sha256(v1!), sha256(v2!)].includes(sha256((await get(a.url, '/s/cat.png', at(1))).body)));

  // A new object, asked by many at once: one read, joined while under way.
  assert.equal(await put(a.url, '/s/dog.png', v3!), 201);
  await untilShared(s3, a.url, '/s/cat.png', 3);
  const dogs = await Promise.all(Array.from({ length: 8 }, () => get(a.url, '/s/dog.png', at(3))));
  for (const dog of dogs) assert.equal(sha256(dog.body), sha256(v3!));
  assert.equal(s3.objectGets('images/s/dog.png'), 1, 'eight misses at once, one bucket read');

  // A purge of a prefix written by another program ends the sharing of what is under it.
  await redis.client.xadd(STREAM, '*', 'op', 'purge', 'prefix', '/s/');
  const afterPurge = s3.objectGets('images/s/dog.png');
  await until(async () => {
    await get(a.url, '/s/dog.png', at(4));
    return s3.objectGets('images/s/dog.png') > afterPurge;
  }, 'a read of the bucket after the purge', 5000);
});

test('while the origin cannot read its change log, every miss reads the bucket; once it can again, misses share again', { skip: NO_REDIS }, async (t) => {
  const { s3, redis, origin: a } = await originOnBucket(t);
  const v1 = await samplePng(4, 200, 200);
  assert.equal(await put(a.url, '/r/cat.png', v1), 201);
  await untilShared(s3, a.url, '/r/cat.png', 1);
  const reads = () => s3.objectGets('images/r/cat.png');

  await redis.kill();
  // Once it has noticed, each ask is a read of its own.
  await until(async () => {
    const before = reads();
    await get(a.url, '/r/cat.png', at(1));
    await get(a.url, '/r/cat.png', at(1));
    return reads() === before + 2;
  }, 'misses to read the bucket each', 10_000);
  assert.equal(sha256((await get(a.url, '/r/cat.png', at(1))).body), sha256(v1));

  await redis.restart();
  await untilShared(s3, a.url, '/r/cat.png', 1);
});

test("a read is handed out only while younger than the origin's --max-age: an edge's copy of it expires when a fresh read's would", { skip: NO_REDIS }, async (t) => {
  const { s3, origin: a } = await originOnBucket(t, ['--max-age', '1']);
  assert.equal(await put(a.url, '/m/cat.png', await samplePng(6, 100, 100)), 201);
  await untilShared(s3, a.url, '/m/cat.png', 1);
  const before = s3.objectGets('images/m/cat.png');
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const late = await get(a.url, '/m/cat.png', at(1));
  assert.equal(s3.objectGets('images/m/cat.png'), before + 1, 'read again once the held read is older than max-age');
  assert.equal(late.headers['age'], '0');
});

test('edges in two IDCs missing on one object cost the bucket one read', { skip: NO_REDIS }, async (t) => {
  const s3 = await startS3();
  t.after(() => s3.close());
  const primary = await startRedis();
  t.after(() => primary.close());
  const replica = await startRedis({ replicaOf: primary });
  t.after(() => replica.close());
  const a = await startS3Origin(s3, primary.url);
  t.after(() => a.close());
  const timing = { changelogTiming: { minBackoffMs: 20, maxBackoffMs: 200, waitSec: 5 } };
  const near = await startTestEdge(a.url, { args: ['--changelog', primary.url], ...timing });
  t.after(() => near.close());
  const far = await startTestEdge(a.url, { args: ['--changelog', replica.url], ...timing });
  t.after(() => far.close());
  const v1 = await samplePng(5, 320, 240);
  assert.equal(await put(a.url, '/i/cat.png', v1), 201);
  for (const edge of [near, far]) {
    await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 1, 'each edge to read the entry', 5000);
  }
  // The origin replica has read its log as far as the edges when it shares a read of another object.
  assert.equal(await put(a.url, '/i/warm.png', v1), 201);
  await untilShared(s3, a.url, '/i/warm.png', 2);

  for (const edge of [near, far]) {
    const got = await get(edge.url, '/i/cat.png');
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), sha256(v1));
  }
  assert.equal(s3.objectGets('images/i/cat.png'), 1);
});

test("an edge's requests to its origin carry its own log position, never one a client sent", async (t) => {
  const seen: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers['imgedge-log-position'] as string | undefined);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  let position: { log: string; seq: number; staleBefore: number } | null = null;
  const client = new OriginClient({ origin: url, timeoutMs: 2000, maxConnections: 2, userAgent: 'test', logPosition: () => position });
  t.after(() => client.close());
  const ask = async () => (await client.fetch('/x.png', { 'imgedge-log-position': '99 redis-stream:forged' })).body.resume();
  await ask();
  position = { log: LOG, seq: 7, staleBefore: 0 };
  await ask();
  await until(async () => seen.length === 2, 'both requests');
  assert.deepEqual(seen, [undefined, `7 ${LOG}`]);
});
