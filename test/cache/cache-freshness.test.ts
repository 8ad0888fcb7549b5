// The cache's freshness: hits within their lifetime, revalidations with a
// 304 (its new lifetime, its body copied or found short), stale-while-
// revalidate and stale-if-error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Cache } from '../../src/cache/cache.js';
import type { OriginSpec } from '../helpers/origin.js';
import { storage, Clock, harness, httpOrigin, lookup, read, within, type Harness, type T } from '../helpers/cache.js';

test('a hit within its lifetime is served from disk with its age; once stale it is revalidated with a 304', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const body = Buffer.alloc(5000, 9);
  origin.set('/photo.jpg', { body, date: false });
  const h = await harness(t, client);
  const miss = await h.cache.get(lookup('/photo.jpg'));
  assert.equal(miss.cacheStatus.fwd, 'miss');
  assert.equal(miss.cacheStatus.stored, true);
  assert.equal(miss.cacheStatus.ttl, 3600);
  assert.deepEqual((await read(miss)).bytes, body);
  await h.cache.fillsSettled();

  h.clock.advance(100);
  const hit = await h.cache.get(lookup('/photo.jpg'));
  assert.equal(hit.cacheStatus.hit, true);
  assert.equal(hit.age, 100);
  assert.equal(Math.round(hit.cacheStatus.ttl!), 3500);
  assert.deepEqual((await read(hit)).bytes, body);
  assert.equal(origin.count('/photo.jpg'), 1);

  h.clock.advance(3600);
  const revalidated = await h.cache.get(lookup('/photo.jpg'));
  assert.equal(revalidated.cacheStatus.fwd, 'stale');
  assert.equal(revalidated.cacheStatus.fwdStatus, 304);
  assert.equal(revalidated.age, 0);
  assert.deepEqual((await read(revalidated)).bytes, body);
  assert.equal(origin.count('/photo.jpg'), 2);
  assert.ok(origin.requests[1]!.headers['if-none-match'], 'the revalidation is conditional');
  await h.cache.fillsSettled();
  assert.deepEqual(h.results, ['ok', 'not_modified']);

  // Refreshed: fresh again for its whole lifetime, without another fetch.
  h.clock.advance(10);
  const after = await h.cache.get(lookup('/photo.jpg'));
  assert.equal(after.cacheStatus.hit, true);
  assert.equal(after.age, 10);
  assert.equal(origin.count('/photo.jpg'), 2);
});

test('a stale object within stale-while-revalidate is served at once and refreshed behind it', async (t) => {
  const { origin, client } = await httpOrigin(t);
  let version = 1;
  origin.set('/swr.jpg', () => ({
    body: Buffer.alloc(100, version),
    headers: { 'content-type': 'image/jpeg', etag: `"v${version}"`, 'cache-control': 'max-age=10, stale-while-revalidate=60' },
  }));
  const h = await harness(t, client);
  await read(await h.cache.get(lookup('/swr.jpg')));
  await h.cache.fillsSettled();
  version = 2;
  h.clock.advance(30);
  const stale = await h.cache.get(lookup('/swr.jpg'));
  assert.equal(stale.cacheStatus.hit, true);
  assert.equal(stale.cacheStatus.detail, 'stale-while-revalidate');
  assert.deepEqual((await read(stale)).bytes, Buffer.alloc(100, 1));
  assert.deepEqual(h.served, ['stale_while_revalidate']);
  await h.cache.fillsSettled();
  assert.equal(origin.count('/swr.jpg'), 2);
  const fresh = await h.cache.get(lookup('/swr.jpg'));
  assert.equal(fresh.cacheStatus.hit, true);
  assert.equal(fresh.cacheStatus.detail, undefined);
  assert.deepEqual((await read(fresh)).bytes, Buffer.alloc(100, 2));

  // Past both windows: the request waits for the origin.
  h.clock.advance(100);
  version = 3;
  const late = await h.cache.get(lookup('/swr.jpg'));
  assert.equal(late.cacheStatus.fwd, 'stale');
  assert.deepEqual((await read(late)).bytes, Buffer.alloc(100, 3));
});

test('stale-if-error: a stored copy stands in for a 5xx or a dead origin inside the window, not after it', async (t) => {
  const { origin, client } = await httpOrigin(t);
  let failing = false;
  origin.set('/sie.jpg', (): OriginSpec =>
    failing
      ? { status: 503, body: 'down', headers: { 'content-type': 'text/plain' } }
      : { body: Buffer.alloc(100, 5), headers: { 'content-type': 'image/jpeg', etag: '"s"', 'cache-control': 'max-age=10' } },
  );
  const h = await harness(t, client, { staleIfErrorSec: 60 });
  await read(await h.cache.get(lookup('/sie.jpg')));
  await h.cache.fillsSettled();
  failing = true;
  h.clock.advance(30);
  const standIn = await h.cache.get(lookup('/sie.jpg'));
  assert.equal(standIn.status, 200);
  assert.equal(standIn.cacheStatus.detail, 'stale-if-error');
  assert.equal(standIn.cacheStatus.fwdStatus, 503);
  assert.deepEqual((await read(standIn)).bytes, Buffer.alloc(100, 5));
  assert.deepEqual(h.served, ['stale_if_error']);
  await h.cache.fillsSettled();
  assert.deepEqual(h.results, ['ok', 'server_error'], 'the fetch a copy stood in for is reported as the origin\'s error');

  h.clock.advance(60);
  const past = await h.cache.get(lookup('/sie.jpg'));
  assert.equal(past.status, 503, 'past the window the origin\'s answer is the answer');
  assert.equal(past.cacheStatus.fwdStatus, 503);
  await read(past);

  // A dead origin (no answer at all) within the window of a fresh copy.
  failing = false;
  await h.cache.fillsSettled();
  h.clock.advance(1);
  await read(await h.cache.get(lookup('/sie.jpg')));
  await h.cache.fillsSettled();
  await origin.stop();
  h.clock.advance(30);
  const dead = await h.cache.get(lookup('/sie.jpg'));
  assert.equal(dead.status, 200);
  assert.equal(dead.cacheStatus.detail, 'stale-if-error');
  assert.equal(dead.cacheStatus.fwdStatus, undefined);
  await read(dead);
  h.clock.advance(60);
  await assert.rejects(h.cache.get(lookup('/sie.jpg')));
});

test('stale-if-error ends exactly at its window: a copy that many seconds stale is not served', async (t) => {
  const { origin, client } = await httpOrigin(t);
  let failing = false;
  origin.set('/edge.jpg', (): OriginSpec =>
    failing
      ? { status: 503, body: 'down', headers: { 'content-type': 'text/plain' }, date: false }
      : { body: Buffer.alloc(10, 5), headers: { 'content-type': 'image/jpeg', 'cache-control': 'max-age=10' }, date: false },
  );
  const h = await harness(t, client, { staleIfErrorSec: 60 });
  await read(await h.cache.get(lookup('/edge.jpg')));
  await h.cache.fillsSettled();
  failing = true;
  h.clock.advance(10 + 45);
  const standIn = await h.cache.get(lookup('/edge.jpg'));
  assert.equal(standIn.cacheStatus.detail, 'stale-if-error', '45 s stale: within the window');
  await read(standIn);
  await h.cache.fillsSettled();
  h.clock.advance(15);
  const past = await h.cache.get(lookup('/edge.jpg'));
  assert.equal(past.status, 503);
  await read(past);
  await h.cache.fillsSettled();
  // The same with no answer at all from the origin.
  await origin.stop();
  await assert.rejects(h.cache.get(lookup('/edge.jpg')));
});

test('revalidations that wait for the origin count as coalesced when they join; background ones do not', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/rv.jpg', {
    body: Buffer.alloc(10, 1),
    headers: { 'content-type': 'image/jpeg', etag: '"r"', 'cache-control': 'max-age=10, stale-while-revalidate=30' },
    date: false,
  });
  let coalesced = 0;
  const { store, index } = await storage(t);
  const clock = new Clock();
  const cache = new Cache(store, index, client, { rules: { defaultTtlSec: 0, negativeTtlSec: 0, staleIfErrorSec: 0 }, maxObjectBytes: 1 << 20, now: clock.now }, {
    coalesced: () => coalesced++,
  });
  await read(await cache.get(lookup('/rv.jpg')));
  await cache.fillsSettled();
  // Within stale-while-revalidate: both answered at once, one revalidation behind them.
  clock.advance(20);
  const swr = await Promise.all([cache.get(lookup('/rv.jpg')), cache.get(lookup('/rv.jpg'))]);
  assert.deepEqual(swr.map((a) => a.cacheStatus.detail), ['stale-while-revalidate', 'stale-while-revalidate']);
  await Promise.all(swr.map(read));
  await cache.fillsSettled();
  assert.equal(coalesced, 0, 'a revalidation in the background is no one\'s wait');
  // Past it: the second request waits on the first one's revalidation.
  clock.advance(100);
  const waiting = await Promise.all([cache.get(lookup('/rv.jpg')), cache.get(lookup('/rv.jpg'))]);
  await Promise.all(waiting.map(read));
  await cache.fillsSettled();
  assert.equal(coalesced, 1);
});

test('a 304 refresh: its Surrogate-Control sets the new lifetime; a large body is copied whole; a 304 saying no-store drops the entry', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const body = Buffer.alloc(600_000);
  for (let i = 0; i < body.length; i++) body[i] = i % 251;
  let notModified: Record<string, string> = {};
  origin.set('/big.jpg', (req): OriginSpec =>
    req.headers['if-none-match']
      ? { status: 304, headers: { etag: '"b"', ...notModified }, date: false }
      : { body, headers: { 'content-type': 'image/jpeg', etag: '"b"', 'cache-control': 'max-age=10' }, date: false, conditional: false },
  );
  const h = await harness(t, client);
  await read(await h.cache.get(lookup('/big.jpg')));
  await h.cache.fillsSettled();
  const fds = fs.readdirSync('/proc/self/fd').length;
  notModified = { 'surrogate-control': 'max-age=500' };
  h.clock.advance(20);
  const refreshed = await h.cache.get(lookup('/big.jpg'));
  assert.equal(refreshed.cacheStatus.fwdStatus, 304);
  assert.equal(refreshed.cacheStatus.ttl, 500);
  assert.ok((await read(refreshed)).bytes.equals(body));
  await h.cache.fillsSettled();
  h.clock.advance(100);
  const hit = await h.cache.get(lookup('/big.jpg'));
  assert.equal(hit.cacheStatus.hit, true, 'fresh for the lifetime the 304 gave');
  assert.ok((await read(hit)).bytes.equals(body), 'the new version holds the whole body');
  for (const deadline = Date.now() + 5000; fs.readdirSync('/proc/self/fd').length > fds; await new Promise((resolve) => setTimeout(resolve, 5))) {
    if (Date.now() > deadline) assert.fail('the refresh left a file open');
  }
  notModified = { 'cache-control': 'no-store' };
  h.clock.advance(1000);
  await read(await h.cache.get(lookup('/big.jpg')));
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 0, 'no longer to be stored: dropped');
  assert.deepEqual(fs.readdirSync(h.store.tmpDir), []);
});

/** A stored object of 600 000 bytes whose file has since lost its last 100 000, stale now: its revalidation gets a 304. */
async function storedThenCut(t: T): Promise<Harness> {
  const { origin, client } = await httpOrigin(t);
  origin.set('/short.jpg', (req): OriginSpec =>
    req.headers['if-none-match']
      ? { status: 304, headers: { etag: '"s"' }, date: false }
      : { body: Buffer.alloc(600_000, 3), headers: { 'content-type': 'image/jpeg', etag: '"s"', 'cache-control': 'max-age=10' }, date: false },
  );
  const h = await harness(t, client);
  await read(await h.cache.get(lookup('/short.jpg')));
  await h.cache.fillsSettled();
  const file = path.join(h.store.objectsDir, h.index.peek('/short.jpg')!.file);
  fs.truncateSync(file, fs.statSync(file).size - 100_000);
  h.clock.advance(20);
  return h;
}

test('a 304 for a stored file that turns out short: the answer is cut, the entry goes, no temp file is left', async (t) => {
  const h = await storedThenCut(t);
  const { cut } = await read(await h.cache.get(lookup('/short.jpg')));
  assert.ok(cut);
  assert.equal(await within(h.cache.fillsSettled()), undefined);
  assert.equal(h.index.peek('/short.jpg'), undefined);
  assert.deepEqual(fs.readdirSync(h.store.tmpDir), []);
});

test('a 304 refresh that finds the stored body short fails its readers with that reason, as a storage error; the next request fetches anew', async (t) => {
  const h = await storedThenCut(t);
  const refreshed = await h.cache.get(lookup('/short.jpg'));
  assert.equal(refreshed.cacheStatus.fwdStatus, 304);
  await h.cache.fillsSettled();
  // Read once the refresh has failed: the reason is the refresh's, not a reader's own short read.
  const { cut } = await read(refreshed);
  assert.equal(cut?.message, 'cache storage failed: short body while refreshing');
  assert.deepEqual(h.results, ['ok', 'storage_error'], 'the cache dir failed, not the origin');
  // The next request fetches the object anew and gets it whole.
  const again = await read(await h.cache.get(lookup('/short.jpg')));
  assert.equal(again.cut, null);
  assert.equal(again.bytes.length, 600_000);
  await h.cache.fillsSettled();
  assert.deepEqual(h.results, ['ok', 'storage_error', 'ok']);
});

test('only-if-cached: a fresh stored object is served; nothing stored, or stale (even within stale-while-revalidate), is NotCached and asks no one', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/oic.jpg', { body: Buffer.alloc(300, 4), headers: { 'content-type': 'image/jpeg', 'cache-control': 'max-age=10, stale-while-revalidate=60' } });
  const h = await harness(t, client);
  const onlyIfCached = { ...lookup('/oic.jpg'), onlyIfCached: true };
  await assert.rejects(h.cache.get(onlyIfCached), { name: 'NotCached', status: 504 });
  assert.equal(origin.count('/oic.jpg'), 0);

  await read(await h.cache.get(lookup('/oic.jpg')));
  await h.cache.fillsSettled();
  const fresh = await h.cache.get(onlyIfCached);
  assert.equal(fresh.cacheStatus.hit, true);
  assert.deepEqual((await read(fresh)).bytes, Buffer.alloc(300, 4));

  h.clock.advance(20);
  await assert.rejects(h.cache.get(onlyIfCached), { name: 'NotCached' });
  await h.cache.fillsSettled();
  assert.equal(origin.count('/oic.jpg'), 1, 'no revalidation, not even in the background');
});
