// What the cache does with an answer from the replica that owns the key
// (fromPeer): a small one of known length, stored there and not varying, is
// borrowed (held in memory here, never on disk) and served by get() as a hit
// while fresh; any other is streamed through and not kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { OriginResponse } from '../../src/origin-client.js';
import type { HeaderMap } from '../../src/http/headers.js';
import { harness, heldBody, lookup, read, PlainFetcher } from '../helpers/cache.js';

/** The owner's answer: a known length, fresh for 600 s unless the headers given say otherwise. */
function fromOwner(body: Buffer, headers: HeaderMap = {}, fromPeer = true): OriginResponse {
  return {
    status: 200,
    headers: { 'content-type': 'image/jpeg', 'content-length': String(body.length), 'cache-control': 'max-age=600', ...headers },
    body: Readable.from([body]),
    fromPeer,
  };
}

test('a copy borrowed from the owner is held in memory, not on disk, and served by get() as a hit with its age and lifetime until stale', async (t) => {
  const body = Buffer.alloc(100, 7);
  const fetcher = new PlainFetcher(() => fromOwner(body));
  const h = await harness(t, fetcher, { memoryBytes: 1 << 20 });
  const miss = await h.cache.get(lookup('/peer.jpg'));
  assert.equal(miss.cacheStatus.fwd, 'miss');
  assert.deepEqual((await read(miss)).bytes, body);
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 0, 'nothing stored here');
  assert.deepEqual(fs.readdirSync(h.store.tmpDir), [], 'nor written to a temp file');
  h.clock.advance(100);
  const hit = await h.cache.get(lookup('/peer.jpg'));
  assert.deepEqual(hit.cacheStatus, { hit: true, ttl: 500 });
  assert.equal(hit.age, 100);
  assert.ok(Buffer.isBuffer(hit.body()), 'served from memory');
  assert.deepEqual((await read(hit)).bytes, body);
  assert.equal(h.cache.hotHit('/peer.jpg')?.ttl, 500);
  assert.equal(fetcher.calls, 1);
  h.clock.advance(500);
  assert.equal(h.cache.hotHit('/peer.jpg'), null, 'not once stale');
  const again = await h.cache.get(lookup('/peer.jpg'));
  assert.equal(again.cacheStatus.fwd, 'miss', 'a stale copy is asked for again');
  await read(again);
  await h.cache.fillsSettled();
  assert.equal(fetcher.calls, 2);
  assert.deepEqual(h.results, ['ok', 'ok']);
});

test('borrowed copies go with a purge of their path (every query) or a prefix, counted; one purged while it arrives is read on but not kept', async (t) => {
  const answers: OriginResponse[] = [];
  const fetcher = new PlainFetcher(() => answers.shift()!);
  const h = await harness(t, fetcher, { memoryBytes: 1 << 20 });
  const keys = ['/b/one.jpg', '/b/one.jpg?w=1', '/c/three.jpg', '/d/kept.jpg'];
  for (const key of keys) {
    answers.push(fromOwner(Buffer.from(key)));
    await read(await h.cache.get(lookup(key)));
    await h.cache.fillsSettled();
  }
  assert.ok(keys.every((key) => h.cache.hotHit(key)));
  assert.equal(h.cache.invalidate(['/b/one.jpg'], ['/c/']), 3);
  assert.deepEqual(keys.filter((key) => h.cache.hotHit(key)), ['/d/kept.jpg']);

  const arriving = heldBody(Buffer.alloc(10, 1));
  answers.push({ ...fromOwner(Buffer.alloc(20)), body: arriving });
  const late = await h.cache.get(lookup('/b/late.jpg'));
  const reading = read(late);
  assert.equal(h.cache.invalidate(['/b/late.jpg'], []), 1, 'the fill');
  arriving.push(Buffer.alloc(10, 2));
  arriving.push(null);
  assert.equal((await reading).bytes.length, 20, 'its reader asked before the purge and reads on');
  await h.cache.fillsSettled();
  assert.equal(h.cache.hotHit('/b/late.jpg'), null, 'not kept');
});

test('a borrowed copy of the version that replaced its path stays; another version, a weak ETag or a copy under a purged prefix goes', async (t) => {
  const answers: OriginResponse[] = [];
  const fetcher = new PlainFetcher(() => answers.shift()!);
  const h = await harness(t, fetcher, { memoryBytes: 1 << 20 });
  const versions: Record<string, string> = { '/r/new.jpg': '"v2"', '/r/old.jpg': '"v1"', '/r/weak.jpg': 'W/"v2"', '/q/new.jpg': '"v2"' };
  const keys = Object.keys(versions);
  for (const key of keys) {
    answers.push(fromOwner(Buffer.from(key), { etag: versions[key]! }));
    await read(await h.cache.get(lookup(key)));
    await h.cache.fillsSettled();
  }
  const replacedBy = new Map([['/r/new.jpg', '"v2"'], ['/r/old.jpg', '"v2"'], ['/r/weak.jpg', 'W/"v2"'], ['/q/new.jpg', '"v2"']]);
  assert.equal(h.cache.invalidate(keys, ['/q/'], replacedBy), 3);
  assert.deepEqual(keys.filter((key) => h.cache.hotHit(key)), ['/r/new.jpg']);
});

test('an owner\'s answer shorter than its Content-Length is cut with how many bytes came, and not kept', async (t) => {
  const fetcher = new PlainFetcher(() => ({ ...fromOwner(Buffer.alloc(20)), body: Readable.from([Buffer.alloc(10, 1)]) }));
  const h = await harness(t, fetcher, { memoryBytes: 1 << 20 });
  const { cut } = await read(await h.cache.get(lookup('/short.jpg')));
  assert.equal(cut?.message, 'origin body broken: 10 of 20 bytes');
  await h.cache.fillsSettled();
  assert.equal(h.cache.hotHit('/short.jpg'), null);
  assert.deepEqual(h.results, ['broken']);
});

test('a copy this replica stored while it owned the key gives way to the one borrowed from the new owner', async (t) => {
  let owner = false;
  const fetcher = new PlainFetcher(() => fromOwner(Buffer.alloc(100, owner ? 2 : 1), { etag: '"x"' }, owner));
  const h = await harness(t, fetcher, { memoryBytes: 1 << 20 });
  await read(await h.cache.get(lookup('/moved.jpg')));
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 1);
  owner = true;
  h.clock.advance(700);
  await read(await h.cache.get(lookup('/moved.jpg')));
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 0, 'the stored copy is gone');
  const hit = await h.cache.get(lookup('/moved.jpg'));
  assert.equal(hit.cacheStatus.hit, true);
  assert.deepEqual((await read(hit)).bytes, Buffer.alloc(100, 2));
  assert.equal(fetcher.calls, 2);
});

test('an owner\'s answer that varies, has no length, is too large for memory, is not to be stored or comes where no memory is given (even an empty one) is streamed through, not kept', async (t) => {
  const body = Buffer.alloc(100, 3);
  const { 'content-length': _length, ...unsized } = fromOwner(body).headers;
  const cases: Record<string, [() => OriginResponse, number]> = {
    // Memory for objects up to 64 KiB.
    '/varies.jpg': [() => fromOwner(body, { vary: 'accept-language' }), 1 << 20],
    '/unsized.jpg': [() => ({ ...fromOwner(body), headers: unsized }), 1 << 20],
    '/large.jpg': [() => fromOwner(Buffer.alloc(70_000, 3)), 1 << 20],
    '/unstored.jpg': [() => fromOwner(body, { 'cache-control': 'max-age=0' }), 1 << 20],
    '/no-memory.jpg': [() => fromOwner(Buffer.alloc(0)), 0],
  };
  for (const [key, [answer, memoryBytes]] of Object.entries(cases)) {
    const fetcher = new PlainFetcher(answer);
    const h = await harness(t, fetcher, { memoryBytes });
    const first = await h.cache.get(lookup(key, { 'accept-language': 'en' }));
    assert.equal(first.cacheStatus.stored, false, key);
    await read(first);
    await h.cache.fillsSettled();
    assert.equal(h.cache.hotHit(key), null, key);
    assert.equal(h.index.count, 0, key);
    await read(await h.cache.get(lookup(key, { 'accept-language': 'en' })));
    assert.equal(fetcher.calls, 2, `${key}: asked again`);
  }
});
