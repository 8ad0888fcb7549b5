// The cache's fills: what a miss fetches, stores and shares with the
// requests that join it, by size (announced, unknown, over the limit), and
// what a fill that breaks or is aborted leaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { Cache } from '../../src/cache/cache.js';
import { Gate } from '../helpers/origin.js';
import { storage, harness, heldBody, httpOrigin, lookup, read, PlainFetcher } from '../helpers/cache.js';

test('a fetcher that is not HTTP and delivers fewer bytes than its Content-Length: the body is cut, nothing stored', async (t) => {
  const fetcher = new PlainFetcher(() => ({
    status: 200,
    headers: { 'content-type': 'image/jpeg', 'content-length': '1000', 'cache-control': 'public, max-age=600' },
    body: Readable.from([Buffer.alloc(300, 1), Buffer.alloc(200, 2)]),
  }));
  const h = await harness(t, fetcher);
  for (let attempt = 1; attempt <= 2; attempt++) {
    const answer = await h.cache.get(lookup('/short.jpg'));
    assert.equal(answer.status, 200);
    assert.equal(answer.size, 1000, 'the head promises 1000 bytes');
    const { bytes, cut } = await read(answer);
    assert.ok(cut, `attempt ${attempt}: the body is cut short, not ended as if whole`);
    assert.ok(bytes.length < 1000);
    await h.cache.fillsSettled();
    assert.equal(h.index.count, 0, 'nothing stored');
    assert.equal(fetcher.calls, attempt, 'the next request fetches again');
  }
  assert.deepEqual(h.results, ['broken', 'broken']);
});

test('a body of unknown length from a fetcher that is not HTTP is stored whole', async (t) => {
  const body = Buffer.alloc(700, 7);
  const fetcher = new PlainFetcher(() => ({
    status: 200,
    headers: { 'content-type': 'image/jpeg', 'cache-control': 'public, max-age=600' },
    body: Readable.from([body.subarray(0, 300), body.subarray(300)]),
  }));
  const h = await harness(t, fetcher);
  const first = await read(await h.cache.get(lookup('/unknown.jpg')));
  assert.equal(first.cut, null);
  assert.deepEqual(first.bytes, body);
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 1);
  const again = await h.cache.get(lookup('/unknown.jpg'));
  assert.equal(again.cacheStatus.hit, true);
  assert.equal(again.size, 700);
  assert.deepEqual((await read(again)).bytes, body);
  assert.equal(fetcher.calls, 1);
  assert.deepEqual(h.results, ['ok']);
});

test('a body of unknown length over the object limit is served whole and not kept', async (t) => {
  const body = Buffer.alloc(3000, 3);
  const fetcher = new PlainFetcher(() => ({
    status: 200,
    headers: { 'content-type': 'image/jpeg', 'cache-control': 'public, max-age=600' },
    body: Readable.from([body.subarray(0, 1000), body.subarray(1000, 2000), body.subarray(2000)]),
  }));
  const h = await harness(t, fetcher, { maxObjectBytes: 2000 });
  const got = await read(await h.cache.get(lookup('/big-unknown.jpg')));
  assert.equal(got.cut, null);
  assert.deepEqual(got.bytes, body);
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 0, 'not kept');
  await read(await h.cache.get(lookup('/big-unknown.jpg')));
  assert.equal(fetcher.calls, 2);
});

test('an object of announced length at the limit is stored; one byte over is passed through and not stored', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/at.jpg', { body: Buffer.alloc(2000, 1) });
  origin.set('/over.jpg', { body: Buffer.alloc(2001, 1) });
  const h = await harness(t, client, { maxObjectBytes: 2000 });
  const at = await h.cache.get(lookup('/at.jpg'));
  assert.equal((await read(at)).bytes.length, 2000);
  const over = await h.cache.get(lookup('/over.jpg'));
  assert.equal(over.cacheStatus.passed, true);
  assert.equal(over.cacheStatus.detail, 'too-large');
  assert.equal((await read(over)).bytes.length, 2001);
  await h.cache.fillsSettled();
  assert.deepEqual([h.index.get('/at.jpg') !== undefined, h.index.get('/over.jpg') !== undefined], [true, false]);
});

test('requests for one key while its fill runs join it; one origin fetch, every one gets the whole body', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  const body = Buffer.alloc(50_000, 4);
  origin.set('/joined.jpg', { body, gate, gateAfter: 1000 });
  let coalesced = 0;
  const { store, index } = await storage(t);
  const cache = new Cache(store, index, client, { rules: { defaultTtlSec: 0, negativeTtlSec: 0, staleIfErrorSec: 0 }, maxObjectBytes: 1 << 20 }, {
    coalesced: () => coalesced++,
  });
  const first = await cache.get(lookup('/joined.jpg'));
  assert.equal(cache.fillsInProgress, 1);
  const others = await Promise.all([cache.get(lookup('/joined.jpg')), cache.get(lookup('/joined.jpg'))]);
  assert.deepEqual(others.map((a) => a.cacheStatus.collapsed), [true, true]);
  assert.equal(first.cacheStatus.collapsed, false);
  const reads = [first, ...others].map(read);
  gate.open();
  for (const got of await Promise.all(reads)) assert.deepEqual(got.bytes, body);
  assert.equal(origin.count('/joined.jpg'), 1);
  assert.equal(coalesced, 2);
  await cache.fillsSettled();
  assert.equal(cache.fillsInProgress, 0);
  // Joined after the last byte: counted as a hit.
  const later = await cache.get(lookup('/joined.jpg'));
  assert.equal(later.cacheStatus.hit, true);
});

test('what a miss and a pass say of themselves: no age, ranges only with a known size, the origin\'s 5xx, passed', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/sized.jpg', { body: Buffer.alloc(100, 1) });
  origin.set('/chunked.jpg', { body: Buffer.alloc(100, 2), chunked: true });
  origin.set('/error.jpg', { status: 500, body: 'broken', headers: { 'content-type': 'text/plain' } });
  origin.set('/nostore.jpg', { body: 'x', extraHeaders: { 'cache-control': 'no-store' } });
  const h = await harness(t, client);
  const sized = await h.cache.get(lookup('/sized.jpg'));
  assert.equal(sized.age, undefined, 'a miss has no age');
  assert.equal(sized.rangeable, true);
  await read(sized);
  const chunked = await h.cache.get(lookup('/chunked.jpg'));
  assert.equal(chunked.size, undefined);
  assert.equal(chunked.rangeable, false, 'a body of unknown length is not sliced while it arrives');
  await read(chunked);
  const error = await h.cache.get(lookup('/error.jpg'));
  assert.equal(error.status, 500);
  assert.equal(error.cacheStatus.fwdStatus, 500);
  await read(error);
  const nostore = await h.cache.get(lookup('/nostore.jpg'));
  assert.equal(nostore.cacheStatus.passed, true);
  assert.equal(nostore.cacheStatus.collapsed, false);
  await read(nostore);
  const passed = await h.cache.pass(lookup('/sized.jpg'));
  assert.deepEqual(passed.cacheStatus, { fwd: 'bypass', passed: true });
  await read(passed);
  await h.cache.fillsSettled();
});

test('abortFills cuts the readers of a fill under way', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  t.after(() => gate.open());
  origin.set('/cut.jpg', { body: Buffer.alloc(1000, 1), gate, gateAfter: 10 });
  const h = await harness(t, client);
  const answer = await h.cache.get(lookup('/cut.jpg'));
  const reading = read(answer);
  h.cache.abortFills();
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([reading, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 5000)))]);
  clearTimeout(timer);
  assert.ok(result?.cut, 'the body is cut short at once');
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 0);
});

test('a fill that fails leaves no temp file, and says how many bytes of how many came', async (t) => {
  const fetcher = new PlainFetcher(() => ({
    status: 200,
    headers: { 'content-type': 'image/jpeg', 'content-length': '1000', 'cache-control': 'public, max-age=600' },
    body: Readable.from([Buffer.alloc(300, 1)]),
  }));
  const h = await harness(t, fetcher);
  const { cut } = await read(await h.cache.get(lookup('/short.jpg')));
  assert.equal(cut?.message, 'origin body broken: 300 of 1000 bytes');
  await h.cache.fillsSettled();
  assert.deepEqual(fs.readdirSync(h.store.tmpDir), []);
});

test('a fill runs past its response\'s freshness: a request after that fetches anew; an unstored answer is never joined after its head', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  origin.set('/aged.jpg', { body: Buffer.alloc(1000, 1), gate, gateAfter: 10, extraHeaders: { age: '50', 'cache-control': 'max-age=60' } });
  const h = await harness(t, client);
  const first = await h.cache.get(lookup('/aged.jpg'));
  const reading = read(first);
  h.clock.advance(5);
  const joined = await h.cache.get(lookup('/aged.jpg'));
  assert.equal(joined.cacheStatus.collapsed, true, 'fresh for 10 s more when it came');
  const joinedReading = read(joined);
  h.clock.advance(10);
  const late = await h.cache.get(lookup('/aged.jpg'));
  assert.equal(late.cacheStatus.collapsed, false, 'past its freshness: not joined');
  gate.open();
  await Promise.all([reading, joinedReading, read(late)]);
  await h.cache.fillsSettled();

  // A peer's answer too large to keep in memory is streamed through, not stored: no one joins it.
  const bodies: Readable[] = [];
  const fetcher = new PlainFetcher(() => {
    const body = new Readable({ read() {} });
    bodies.push(body);
    body.push(Buffer.alloc(10, 1));
    return { status: 200, headers: { 'content-type': 'image/jpeg', 'content-length': '20', 'cache-control': 'max-age=600' }, body, fromPeer: true };
  });
  const peer = await harness(t, fetcher);
  const own = await peer.cache.get(lookup('/peer.jpg'));
  const ownReading = read(own);
  const other = await peer.cache.get(lookup('/peer.jpg'));
  assert.equal(other.cacheStatus.collapsed, false);
  for (const body of bodies) {
    body.push(Buffer.alloc(10, 2));
    body.push(null);
  }
  await Promise.all([ownReading, read(other)]);
  assert.equal(fetcher.calls, 2);
});

test('a request joining a fill after its last byte and before its commit is answered as a hit, as old as the response is by then', async (t) => {
  const body = Buffer.alloc(20, 5);
  // Every byte comes with the head; the end of the body waits for the test.
  const arriving = heldBody(body);
  t.after(() => arriving.destroy());
  const fetcher = new PlainFetcher(() => ({
    status: 200,
    headers: { 'content-type': 'image/jpeg', 'content-length': '20', 'cache-control': 'max-age=600', age: '50' },
    body: arriving,
  }));
  const h = await harness(t, fetcher);
  const first = await h.cache.get(lookup('/whole.jpg'));
  assert.equal(first.cacheStatus.fwd, 'miss');
  h.clock.advance(10);
  const late = await h.cache.get(lookup('/whole.jpg'));
  assert.deepEqual(late.cacheStatus, { hit: true, ttl: 540 });
  assert.equal(late.age, 60, 'the Age it came with and the 10 s since');
  assert.equal(h.index.count, 0, 'not committed yet');
  arriving.push(null);
  for (const answer of [first, late]) assert.deepEqual((await read(answer)).bytes, body);
  await h.cache.fillsSettled();
  assert.equal(fetcher.calls, 1);
  assert.equal(h.index.count, 1);
});
