// The cache's memory and disk: small objects held in memory from their
// commit or their first hit after a restart, LRU order on disk, and memory
// given back when the index lets a version go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cache } from '../../src/cache/cache.js';
import { BodyWriter } from '../../src/cache/body-writer.js';
import { Store } from '../../src/cache/store.js';
import { CacheIndex } from '../../src/cache/index.js';
import { storage, harness, httpOrigin, lookup, read } from '../helpers/cache.js';

test('a small object is in memory from its commit on; a large one is served from disk', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/small.jpg', { body: Buffer.alloc(100, 1) });
  origin.set('/large.jpg', { body: Buffer.alloc(200_000, 2) });
  origin.set('/empty.jpg', { body: Buffer.alloc(0) });
  const h = await harness(t, client, { memoryBytes: 1 << 20 });
  for (const key of ['/small.jpg', '/large.jpg', '/empty.jpg']) {
    await read(await h.cache.get(lookup(key)));
  }
  await h.cache.fillsSettled();
  assert.equal(h.cache.hotHit('/empty.jpg')?.object.body.length, 0, 'an empty body too');
  const hot = h.cache.hotHit('/small.jpg');
  assert.ok(hot, 'held in memory without a read from disk');
  assert.equal(hot.object.body.length, 100);
  assert.equal(hot.ttl, 3600);
  const small = await h.cache.get(lookup('/small.jpg'));
  assert.ok(Buffer.isBuffer(small.body()), 'served from memory');
  const large = await h.cache.get(lookup('/large.jpg'));
  assert.ok(large.body() instanceof BodyWriter, 'streamed from the file');
  assert.equal(h.cache.hotHit('/large.jpg'), null);
  h.clock.advance(3600);
  assert.equal(h.cache.hotHit('/small.jpg'), null, 'not once stale');
});

test('a stored object refreshes its LRU place when hit, so the other one is evicted first', async (t) => {
  const { origin, client } = await httpOrigin(t);
  for (const name of ['a', 'b', 'c']) origin.set(`/${name}.jpg`, { body: Buffer.alloc(10_000, name.charCodeAt(0)) });
  const evicted: string[] = [];
  const { store, index } = await storage(t, 25_000, { evicted: (entry) => evicted.push(entry.key) });
  const cache = new Cache(store, index, client, { rules: { defaultTtlSec: 0, negativeTtlSec: 0, staleIfErrorSec: 0 }, maxObjectBytes: 1 << 20 });
  for (const key of ['/a.jpg', '/b.jpg']) {
    await read(await cache.get(lookup(key)));
    await cache.fillsSettled();
  }
  const hit = await cache.get(lookup('/a.jpg'));
  assert.equal(hit.cacheStatus.hit, true);
  await read(hit);
  await read(await cache.get(lookup('/c.jpg')));
  await cache.fillsSettled();
  assert.deepEqual(evicted, ['/b.jpg']);
  assert.ok(index.peek('/a.jpg'), 'the object just hit survives');
});

test('after a restart an object is read into memory when hit, up to the size memory takes; a short file is fetched again', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const limit = (1 << 21) / 16;
  origin.set('/fits.jpg', { body: Buffer.alloc(limit, 1) });
  origin.set('/over.jpg', { body: Buffer.alloc(limit + 1, 2) });
  origin.set('/cut.jpg', { body: Buffer.alloc(100_000, 3) });
  const h = await harness(t, client, { memoryBytes: 1 << 21 });
  for (const key of ['/fits.jpg', '/over.jpg', '/cut.jpg']) await read(await h.cache.get(lookup(key)));
  await h.cache.fillsSettled();
  const cutFile = path.join(h.store.objectsDir, h.index.peek('/cut.jpg')!.file);
  fs.truncateSync(cutFile, fs.statSync(cutFile).size - 1000);
  // A new cache over the same store and index: nothing in memory yet.
  const restarted = new Cache(h.store, h.index, client, {
    rules: { defaultTtlSec: 0, negativeTtlSec: 0, staleIfErrorSec: 0 }, maxObjectBytes: 1 << 20, memoryBytes: 1 << 21, now: h.clock.now,
  });
  const fds = fs.readdirSync('/proc/self/fd').length;
  for (const key of ['/fits.jpg', '/over.jpg']) {
    const hit = await restarted.get(lookup(key));
    assert.equal(hit.cacheStatus.hit, true);
    await read(hit);
  }
  assert.ok(restarted.hotHit('/fits.jpg'), 'read whole into memory');
  assert.equal(restarted.hotHit('/over.jpg'), null, 'one byte over: served from its file');
  const refetched = await restarted.get(lookup('/cut.jpg'));
  assert.equal(refetched.cacheStatus.fwd, 'miss', 'a file shorter than its header says is dropped');
  assert.deepEqual((await read(refetched)).bytes, Buffer.alloc(100_000, 3));
  await restarted.fillsSettled();
  assert.equal(origin.count('/cut.jpg'), 2);
  for (const deadline = Date.now() + 5000; fs.readdirSync('/proc/self/fd').length > fds; await new Promise((resolve) => setTimeout(resolve, 5))) {
    if (Date.now() > deadline) assert.fail('a file read into memory is left open');
  }
});

test('a version the index lets go of leaves memory at once, making room for others', async (t) => {
  const { origin, client } = await httpOrigin(t);
  for (const name of ['a', 'b', 'c']) origin.set(`/${name}.jpg`, { body: Buffer.alloc(100, name.charCodeAt(0)) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-cache-'));
  const store = await Store.open(dir);
  let cache: Cache | null = null;
  const index = await CacheIndex.load(store, 1 << 30, { removed: (entry) => cache?.forget(entry.file) });
  t.after(async () => {
    await index.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // Memory for two of these objects (each counts its body and 1 KiB), no more.
  cache = new Cache(store, index, client, { rules: { defaultTtlSec: 0, negativeTtlSec: 0, staleIfErrorSec: 0 }, maxObjectBytes: 1 << 20, memoryBytes: 2 * 1124 + 500 });
  for (const key of ['/b.jpg', '/a.jpg']) {
    await read(await cache.get(lookup(key)));
    await cache.fillsSettled();
  }
  assert.ok(cache.hotHit('/b.jpg') && cache.hotHit('/a.jpg'));
  cache.invalidate(['/a.jpg'], []);
  await read(await cache.get(lookup('/c.jpg')));
  await cache.fillsSettled();
  assert.ok(cache.hotHit('/c.jpg'));
  assert.ok(cache.hotHit('/b.jpg'), 'the purged object\'s memory went to the new one, not the older one\'s');
});
