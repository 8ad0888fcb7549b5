// Eviction order from outside: a hit makes an object the most recently used,
// whether it was answered from disk or from memory, whole, a range or a 304,
// so it outlives objects stored after it. A FIFO cache (a lookup that does not refresh use order)
// fails both tests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestOrigin } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { startTestEdge, until, metricValue, type TestEdge } from '../helpers/edge.js';

let origin: TestOrigin;

before(async () => {
  origin = await TestOrigin.start();
});

after(async () => {
  await origin.stop();
});

const KIB = 1024;

/** Fetches a path and waits until its fill has ended (stored or not). */
async function fill(edge: TestEdge, path: string): Promise<void> {
  const res = await get(edge.url, path);
  assert.equal(res.status, 200, path);
  await until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, `the fill of ${path} to end`);
}

/**
 * Four objects fill the cache; the oldest is then read again, and two more
 * are stored. The two evicted must be the second and third stored, never the
 * one just read.
 */
async function evictionOrder(label: string, memoryCacheBytes: string, size: number, touch: Record<string, string> = {}): Promise<void> {
  const paths = Array.from({ length: 6 }, (_, i) => `/${label}/${i}.jpg`);
  const bodies = paths.map((p) => bytes(size, p));
  paths.forEach((p, i) => origin.set(p, { body: bodies[i]! }));
  // Room for four objects (body and a header of a few hundred bytes each), not five.
  const edge = await startTestEdge(origin.url, {
    args: ['--cache-max-bytes', String(Math.floor(4.5 * size)), '--memory-cache-bytes', memoryCacheBytes],
  });
  try {
    for (const p of paths.slice(0, 4)) await fill(edge, p);
    assert.equal(await metricValue(edge.edge, 'imgedge_cache_objects'), 4);
    const touched = await get(edge.url, paths[0]!, { headers: touch });
    assert.match(String(touched.headers['cache-status']), /^imgedge; hit/, 'the oldest object is read again from the cache');
    await fill(edge, paths[4]!);
    await fill(edge, paths[5]!);
    assert.equal(await metricValue(edge.edge, 'imgedge_evictions_total'), 2);

    const fetchesBefore = origin.requests.length;
    const survivor = await get(edge.url, paths[0]!);
    assert.match(String(survivor.headers['cache-status']), /^imgedge; hit/, 'the object read again survived the evictions');
    assert.equal(sha256(survivor.body), sha256(bodies[0]!));
    for (const kept of [paths[3]!, paths[4]!, paths[5]!]) {
      assert.match(String((await get(edge.url, kept)).headers['cache-status']), /^imgedge; hit/, kept);
    }
    assert.equal(origin.requests.length, fetchesBefore, 'no survivor was fetched again');
    for (const gone of [paths[1]!, paths[2]!]) {
      assert.match(String((await get(edge.url, gone)).headers['cache-status']), /fwd=miss/, `${gone} was evicted`);
    }
  } finally {
    await edge.close();
  }
}

test('a hit from disk makes the object the most recently used: it outlives objects stored after it', async () => {
  // No memory cache: every hit is looked up and read from disk.
  await evictionOrder('lru-disk', '0', 256 * KIB);
});

test('a hit from memory makes the object the most recently used too', async () => {
  // Small objects, held in memory after their first hit from disk and then answered by the hit lane.
  await evictionOrder('lru-memory', '64MiB', 32 * KIB);
});

test('a range or a conditional request makes the object the most recently used too', async () => {
  // Neither is answered by the hit paths that look in memory first: each is looked up by the cache itself.
  await evictionOrder('lru-range', '64MiB', 32 * KIB, { range: 'bytes=0-99' });
  await evictionOrder('lru-conditional', '0', 32 * KIB, { 'if-none-match': '"no-such-tag"' });
});
