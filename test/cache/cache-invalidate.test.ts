// What the cache drops or doubts: invalidation by path and prefix, of stored
// copies and fills under way, with or without the replacing versions, and
// the marks (markStaleBefore, doubtBefore) that make what was held revalidate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Gate, type OriginSpec, type TestOrigin } from '../helpers/origin.js';
import type { Answer } from '../../src/cache/cache.js';
import { harness, httpOrigin, lookup, read, within, type Harness, type T } from '../helpers/cache.js';

test('an invalidation during a fill: the fill is not stored and not joined; stored copies of the path and prefix go', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  origin.set('/p/slow.jpg', { body: Buffer.alloc(1000, 1), gate, gateAfter: 10 });
  for (const p of ['/p/a.jpg', '/p/a.jpg?x=1', '/q/p/b.jpg', '/pp.jpg', '/px/c.jpg']) origin.set(p, { body: Buffer.alloc(10, 2) });
  const h = await harness(t, client);
  for (const key of ['/p/a.jpg', '/p/a.jpg?x=1', '/q/p/b.jpg', '/pp.jpg', '/px/c.jpg']) await read(await h.cache.get(lookup(key)));
  await h.cache.fillsSettled();
  const slow = await h.cache.get(lookup('/p/slow.jpg'));
  const reading = read(slow);
  const dropped = h.cache.invalidate(['/pp.jpg'], ['/p/']);
  assert.equal(dropped, 4, 'the fill, both queries of /p/a.jpg and /pp.jpg');
  const after = await h.cache.get(lookup('/p/slow.jpg'));
  assert.equal(after.cacheStatus.collapsed, false, 'a request after the invalidation does not join the fill');
  gate.open();
  await reading;
  await read(after);
  await h.cache.fillsSettled();
  assert.deepEqual(
    ['/p/a.jpg', '/p/a.jpg?x=1', '/q/p/b.jpg', '/pp.jpg', '/px/c.jpg'].filter((key) => h.index.get(key)),
    ['/q/p/b.jpg', '/px/c.jpg'],
  );
  assert.deepEqual(fs.readdirSync(h.store.tmpDir), [], 'the invalidated fill left no temp file');
});

/** A cache with memory for small objects, holding one of `bytes` bytes under `key`, its fill settled. */
async function holding(t: T, key: string, bytes: number): Promise<{ origin: TestOrigin; h: Harness }> {
  const { origin, client } = await httpOrigin(t);
  origin.set(key, { body: Buffer.alloc(bytes, 1) });
  const h = await harness(t, client, { memoryBytes: 1 << 20 });
  await read(await h.cache.get(lookup(key)));
  await h.cache.fillsSettled();
  return { origin, h };
}

test('markStaleBefore: what was held is revalidated at its next use, not dropped', async (t) => {
  const { origin, h } = await holding(t, '/held.jpg', 100);
  await read(await h.cache.get(lookup('/held.jpg')));
  assert.ok(h.cache.hotHit('/held.jpg'));
  h.clock.advance(1);
  h.cache.markStaleBefore(h.clock.ms);
  assert.equal(h.index.count, 1, 'nothing dropped');
  assert.equal(h.cache.hotHit('/held.jpg'), null);
  const doubted = await h.cache.get(lookup('/held.jpg'));
  assert.equal(doubted.cacheStatus.fwd, 'stale');
  assert.equal(doubted.cacheStatus.fwdStatus, 304);
  await read(doubted);
  await h.cache.fillsSettled();
  assert.equal(origin.count('/held.jpg'), 2);
  h.clock.advance(1);
  assert.equal((await h.cache.get(lookup('/held.jpg'))).cacheStatus.hit, true, 'trusted again once revalidated');
});

test('doubtBefore: what was held is doubted until lifted, and a lasting mark outlives the lift', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/a.jpg', { body: Buffer.alloc(100, 1) });
  origin.set('/b.jpg', { body: Buffer.alloc(100, 2) });
  const h = await harness(t, client, { memoryBytes: 1 << 20 });
  for (const path of ['/a.jpg', '/b.jpg']) await read(await h.cache.get(lookup(path)));
  await h.cache.fillsSettled();
  h.clock.advance(1);
  h.cache.doubtBefore(h.clock.ms);
  assert.equal(h.cache.hotHit('/a.jpg'), null);
  const doubted = await h.cache.get(lookup('/a.jpg'));
  assert.equal(doubted.cacheStatus.fwdStatus, 304, 'revalidated');
  await read(doubted);
  await h.cache.fillsSettled();
  h.cache.doubtBefore(null);
  assert.ok(h.cache.hotHit('/b.jpg'), 'trusted again once lifted');

  h.clock.advance(1);
  h.cache.markStaleBefore(h.clock.ms);
  h.cache.doubtBefore(h.clock.ms - 5000);
  h.cache.doubtBefore(null);
  assert.equal(h.cache.hotHit('/b.jpg'), null, 'the lasting mark stays');
});

test('invalidate with the replacing versions: a copy of that very version stays, any other goes, and a prefix drops all', async (t) => {
  const { origin, client } = await httpOrigin(t);
  for (const [path, etag] of [['/r/new.jpg', '"v2"'], ['/r/old.jpg', '"v1"'], ['/r/weak.jpg', 'W/"v2"'], ['/q/new.jpg', '"v2"']]) {
    origin.set(path!, { body: Buffer.alloc(100, 1), headers: { 'content-type': 'image/jpeg', 'cache-control': 'max-age=600', etag: etag! } });
  }
  const h = await harness(t, client, { memoryBytes: 1 << 20 });
  for (const path of ['/r/new.jpg', '/r/old.jpg', '/r/weak.jpg', '/q/new.jpg']) await read(await h.cache.get(lookup(path)));
  await h.cache.fillsSettled();
  const replacedBy = new Map([['/r/new.jpg', '"v2"'], ['/r/old.jpg', '"v2"'], ['/r/weak.jpg', 'W/"v2"'], ['/q/new.jpg', '"v2"']]);
  const dropped = h.cache.invalidate(['/r/new.jpg', '/r/old.jpg', '/r/weak.jpg', '/q/new.jpg'], ['/q/'], replacedBy);
  assert.equal(dropped, 3);
  assert.deepEqual(['/r/new.jpg', '/r/old.jpg', '/r/weak.jpg', '/q/new.jpg'].filter((key) => h.index.get(key)), ['/r/new.jpg']);
  assert.ok(h.cache.hotHit('/r/new.jpg'), 'still a hit');
});

test('invalidate with the replacing versions: a fill bringing that version is still stored, one bringing another is not', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  for (const [path, etag] of [['/f/new.jpg', '"v2"'], ['/f/old.jpg', '"v1"']]) {
    origin.set(path!, { body: Buffer.alloc(5000, 1), gate, gateAfter: 100, headers: { 'content-type': 'image/jpeg', 'cache-control': 'max-age=600', etag: etag! } });
  }
  const h = await harness(t, client);
  const answers = await Promise.all(['/f/new.jpg', '/f/old.jpg'].map((path) => h.cache.get(lookup(path))));
  assert.equal(h.cache.invalidate(['/f/new.jpg', '/f/old.jpg'], [], new Map([['/f/new.jpg', '"v2"'], ['/f/old.jpg', '"v2"']])), 1);
  gate.open();
  await Promise.all(answers.map(read));
  await h.cache.fillsSettled();
  assert.deepEqual(['/f/new.jpg', '/f/old.jpg'].filter((key) => h.index.get(key)), ['/f/new.jpg']);
});

test('invalidate with the replacing version before a fill\'s head: a head with that ETag is stored after all, another is not, nor after a purge', async (t) => {
  const { origin, client } = await httpOrigin(t);
  for (const path of ['/h/new.jpg', '/h/old.jpg', '/h/purged.jpg']) {
    origin.set(path, { body: Buffer.alloc(3000, 1), latencyMs: 300, headers: { 'content-type': 'image/jpeg', 'cache-control': 'max-age=600', etag: path === '/h/old.jpg' ? '"v1"' : '"v2"' } });
  }
  const h = await harness(t, client);
  // The heads are held back at the origin: each fill is under way, its version unknown.
  const answers = ['/h/new.jpg', '/h/old.jpg', '/h/purged.jpg'].map((path) => h.cache.get(lookup(path)));
  while (['/h/new.jpg', '/h/old.jpg', '/h/purged.jpg'].some((path) => origin.count(path) === 0)) await new Promise((resolve) => setTimeout(resolve, 5));
  const v2 = new Map([['/h/new.jpg', '"v2"'], ['/h/old.jpg', '"v2"'], ['/h/purged.jpg', '"v2"']]);
  assert.equal(h.cache.invalidate(['/h/new.jpg', '/h/old.jpg', '/h/purged.jpg'], [], v2), 3);
  h.cache.invalidate(['/h/purged.jpg'], []);
  // Asked again meanwhile: the fetch that brings the new version is joined, the others are not.
  const again = ['/h/new.jpg', '/h/old.jpg'].map((path) => h.cache.get(lookup(path)));
  for (const answer of await Promise.all(answers)) await read(answer);
  const [newAgain, oldAgain] = await Promise.all(again);
  assert.ok(newAgain!.cacheStatus.collapsed || newAgain!.cacheStatus.hit, 'joined the fetch of the new version');
  assert.equal((await read(newAgain!)).bytes.length, 3000);
  await read(oldAgain!);
  assert.equal(origin.count('/h/new.jpg'), 1);
  assert.equal(origin.count('/h/old.jpg'), 2);
  await h.cache.fillsSettled();
  assert.deepEqual(['/h/new.jpg', '/h/old.jpg', '/h/purged.jpg'].filter((key) => h.index.get(key)), ['/h/new.jpg', '/h/old.jpg']);
});

test('an object received at the very time of markStaleBefore is trusted; one received before is not', async (t) => {
  const { h } = await holding(t, '/at.jpg', 10);
  h.cache.markStaleBefore(h.clock.ms);
  assert.ok(h.cache.hotHit('/at.jpg'), 'received at the mark, not before it');
  h.cache.markStaleBefore(h.clock.ms + 1);
  assert.equal(h.cache.hotHit('/at.jpg'), null);
});

test('markStaleBefore lets go of a fill under way: a later request fetches anew', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  origin.set('/running.jpg', { body: Buffer.alloc(1000, 1), gate, gateAfter: 10 });
  const h = await harness(t, client);
  const first = await h.cache.get(lookup('/running.jpg'));
  const reading = read(first);
  h.cache.markStaleBefore(h.clock.ms);
  const second = await h.cache.get(lookup('/running.jpg'));
  assert.equal(second.cacheStatus.collapsed, false);
  gate.open();
  await reading;
  await read(second);
  await h.cache.fillsSettled();
  assert.equal(origin.count('/running.jpg'), 2);
});

test('before a fill\'s head, the latest change that named a version counts, and a purge between counts for good', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const paths = ['/l/changed.jpg', '/l/purged.jpg'];
  for (const path of paths) {
    origin.set(path, { body: Buffer.alloc(3000, 1), latencyMs: 300, headers: { 'content-type': 'image/jpeg', 'cache-control': 'max-age=600', etag: '"v3"' } });
  }
  const h = await harness(t, client);
  // The heads are held back at the origin: each fill is under way, its version unknown.
  const answers = paths.map((path) => h.cache.get(lookup(path)));
  while (paths.some((path) => origin.count(path) === 0)) await new Promise((resolve) => setTimeout(resolve, 5));
  h.cache.invalidate(paths, [], new Map(paths.map((path) => [path, '"v2"'])));
  h.cache.invalidate(['/l/purged.jpg'], []);
  h.cache.invalidate(paths, [], new Map(paths.map((path) => [path, '"v3"'])));
  for (const answer of await Promise.all(answers)) await read(answer);
  await h.cache.fillsSettled();
  assert.deepEqual(paths.filter((key) => h.index.get(key)), ['/l/changed.jpg'], 'the head brings v3: stored unless purged meanwhile');
});

test('a request waits only for a let-go fetch of its own key, never another key\'s', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/w/held.jpg', { hang: true });
  origin.set('/w/other.jpg', { body: Buffer.alloc(10, 1) });
  const h = await harness(t, client);
  const held = h.cache.get(lookup('/w/held.jpg'));
  held.catch(() => {});
  while (origin.count('/w/held.jpg') === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  h.cache.invalidate(['/w/held.jpg'], [], new Map([['/w/held.jpg', '"v2"']]));
  const other = await within(h.cache.get(lookup('/w/other.jpg')));
  assert.notEqual(other, 'timed out');
  assert.equal((await read(other as Answer)).bytes.length, 10);
  h.cache.abortFills();
  await assert.rejects(held);
});

test('a let-go fetch whose head is not the named version is not taken back; a later fetch let go for that version is the one waited for', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  t.after(() => gate.open());
  const image = { 'content-type': 'image/jpeg', 'cache-control': 'max-age=600' };
  origin.set('/m/k.jpg', (): OriginSpec =>
    origin.count('/m/k.jpg') === 1
      ? { body: Buffer.alloc(3000, 1), gate, gateAfter: 10, headers: { ...image, etag: '"v1"' } }
      : { body: Buffer.alloc(3000, 2), latencyMs: 300, headers: { ...image, etag: '"v2"' } },
  );
  const h = await harness(t, client);
  const v2 = new Map([['/m/k.jpg', '"v2"']]);
  const first = h.cache.get(lookup('/m/k.jpg'));
  while (origin.count('/m/k.jpg') === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(h.cache.invalidate(['/m/k.jpg'], [], v2), 1);
  // Its head says v1, its body is held at the gate: it stays let go.
  const old = await first;
  const reading = read(old);
  assert.equal(h.cache.invalidate(['/m/k.jpg'], []), 0, 'not counted again');
  const second = h.cache.get(lookup('/m/k.jpg'));
  while (origin.count('/m/k.jpg') < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  h.cache.invalidate(['/m/k.jpg'], [], v2);
  const third = await h.cache.get(lookup('/m/k.jpg'));
  assert.ok(third.cacheStatus.collapsed || third.cacheStatus.hit, 'joined the fetch that brings v2');
  gate.open();
  await Promise.all([reading, read(await second), read(third)]);
  await h.cache.fillsSettled();
  assert.equal(origin.count('/m/k.jpg'), 2);
  assert.ok(h.index.get('/m/k.jpg'));
});
