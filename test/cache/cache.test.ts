// The cache on its own: a real store and index in a temp dir, and an origin
// that is a real HTTP server on 127.0.0.1 reached through the edge's own
// client, or (where the test is about a fetcher that is not HTTP) a fetcher
// of the test's own. Each test looks at what a request gets and at what the
// index holds afterwards, without the HTTP layer of the edge in between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Store } from '../../src/cache/store.js';
import { CacheIndex, type IndexEvents } from '../../src/cache/index.js';
import { Cache, type Answer, type CacheEvents, type Lookup, type OriginResult } from '../../src/cache/cache.js';
import { BodyWriter } from '../../src/cache/body-writer.js';
import { OriginClient, type OriginFetcher, type OriginResponse } from '../../src/origin-client.js';
import type { HeaderMap } from '../../src/http/headers.js';
import { TestOrigin, Gate, type OriginSpec } from '../helpers/origin.js';

type T = { after(fn: () => unknown): void };

/** A store and index in a temp dir, closed and removed after the test (in that order). */
async function storage(t: T, maxBytes = 1 << 30, events: IndexEvents = {}): Promise<{ store: Store; index: CacheIndex }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-cache-'));
  const store = await Store.open(dir);
  const index = await CacheIndex.load(store, maxBytes, events);
  t.after(async () => {
    await index.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { store, index };
}

/** A clock the test moves by hand. */
class Clock {
  constructor(public ms = Date.parse('2026-06-01T00:00:00Z')) {}
  readonly now = () => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

interface Harness {
  cache: Cache;
  index: CacheIndex;
  store: Store;
  clock: Clock;
  results: OriginResult[];
  served: string[];
}

async function harness(
  t: T,
  fetcher: OriginFetcher,
  options: { maxObjectBytes?: number; memoryBytes?: number; staleIfErrorSec?: number; defaultTtlSec?: number } = {},
): Promise<Harness> {
  const { store, index } = await storage(t);
  const clock = new Clock();
  const results: OriginResult[] = [];
  const served: string[] = [];
  const events: CacheEvents = {
    originFinished: (result) => results.push(result),
    staleServed: (reason) => served.push(reason),
  };
  const cache = new Cache(
    store,
    index,
    fetcher,
    {
      rules: { defaultTtlSec: options.defaultTtlSec ?? 0, negativeTtlSec: 0, staleIfErrorSec: options.staleIfErrorSec ?? 0 },
      maxObjectBytes: options.maxObjectBytes ?? 1 << 20,
      memoryBytes: options.memoryBytes ?? 0,
      now: clock.now,
    },
    events,
  );
  return { cache, index, store, clock, results, served };
}

/** An HTTP origin on 127.0.0.1, reached through the edge's origin client. */
async function httpOrigin(t: T): Promise<{ origin: TestOrigin; client: OriginClient }> {
  const origin = await TestOrigin.start();
  const client = new OriginClient({ origin: new URL(origin.url), timeoutMs: 10_000, maxConnections: 8, userAgent: 'test' });
  t.after(async () => {
    await client.close();
    await origin.stop();
  });
  return { origin, client };
}

function lookup(key: string, request: HeaderMap = {}): Lookup {
  return { key, target: key, headers: {}, request };
}

/** Everything a client would get of an answer's body, and the reason it was cut short, if it was. */
async function read(answer: Answer): Promise<{ bytes: Buffer; cut: Error | null }> {
  const body = answer.body();
  if (Buffer.isBuffer(body)) return { bytes: body, cut: null };
  const chunks: Buffer[] = [];
  if (body instanceof BodyWriter) {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    });
    const cut = await body.writeTo(sink);
    return { bytes: Buffer.concat(chunks), cut };
  }
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
    return { bytes: Buffer.concat(chunks), cut: null };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), cut: error as Error };
  }
}

/** A fetcher that is not HTTP: it answers what the test says, body and all, counting calls. */
class PlainFetcher implements OriginFetcher {
  calls = 0;
  constructor(private readonly answer: () => OriginResponse) {}
  async fetch(): Promise<OriginResponse> {
    this.calls++;
    return this.answer();
  }
}

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

test('markStaleBefore: what was held is revalidated at its next use, not dropped', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/held.jpg', { body: Buffer.alloc(100, 1) });
  const h = await harness(t, client, { memoryBytes: 1 << 20 });
  await read(await h.cache.get(lookup('/held.jpg')));
  await h.cache.fillsSettled();
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

test('a response that varies is stored per variant, and each request gets its own', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/v.jpg', (req) => ({
    body: `for ${req.headers['accept-language']}`,
    headers: { 'content-type': 'image/jpeg', vary: 'Accept-Language', 'cache-control': 'max-age=600' },
  }));
  const h = await harness(t, client);
  const en = (await read(await h.cache.get({ ...lookup('/v.jpg', { 'accept-language': 'en' }), headers: { 'accept-language': 'en' } }))).bytes;
  await h.cache.fillsSettled();
  const fr = await h.cache.get({ ...lookup('/v.jpg', { 'accept-language': 'fr' }), headers: { 'accept-language': 'fr' } });
  assert.equal(fr.cacheStatus.fwd, 'miss');
  assert.equal((await read(fr)).bytes.toString(), 'for fr');
  await h.cache.fillsSettled();
  assert.equal(en.toString(), 'for en');
  const enAgain = await h.cache.get(lookup('/v.jpg', { 'accept-language': 'en' }));
  assert.equal(enAgain.cacheStatus.hit, true);
  assert.equal((await read(enAgain)).bytes.toString(), 'for en');
  assert.equal(origin.count('/v.jpg'), 2);
  assert.equal(h.index.count, 2);
});

test('an answer that may not be shared is passed through, fetched again by the next request', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/private.jpg', { body: 'mine', extraHeaders: { 'cache-control': 'private, max-age=600' } });
  const h = await harness(t, client);
  const first = await h.cache.get(lookup('/private.jpg'));
  assert.equal(first.cacheStatus.passed, true);
  assert.equal(first.rangeable, false);
  assert.equal((await read(first)).bytes.toString(), 'mine');
  const second = await h.cache.get(lookup('/private.jpg'));
  assert.equal((await read(second)).bytes.toString(), 'mine');
  await h.cache.fillsSettled();
  assert.equal(origin.count('/private.jpg'), 2);
  assert.equal(h.index.count, 0);
  const passed = await h.cache.pass(lookup('/private.jpg'));
  assert.equal(passed.cacheStatus.fwd, 'bypass');
  await read(passed);
  assert.deepEqual(h.results, ['ok', 'ok', 'ok']);
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

test('an object received at the very time of markStaleBefore is trusted; one received before is not', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/at.jpg', { body: Buffer.alloc(10, 1) });
  const h = await harness(t, client, { memoryBytes: 1 << 20 });
  await read(await h.cache.get(lookup('/at.jpg')));
  await h.cache.fillsSettled();
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

test('a variant is found under every header-name list the key has varied on, not only the first', async (t) => {
  const { origin, client } = await httpOrigin(t);
  let varyOn = 'x-a';
  origin.set('/vv.jpg', (req) => ({
    body: `a=${req.headers['x-a']} b=${req.headers['x-b']}`,
    headers: { 'content-type': 'image/jpeg', vary: varyOn, 'cache-control': 'max-age=600' },
  }));
  const h = await harness(t, client);
  const ask = (request: HeaderMap) => ({ ...lookup('/vv.jpg', request), headers: request });
  await read(await h.cache.get(ask({ 'x-a': '1' })));
  await h.cache.fillsSettled();
  varyOn = 'x-b';
  await read(await h.cache.get(ask({ 'x-a': '2', 'x-b': '1' })));
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 2);
  const hit = await h.cache.get(ask({ 'x-a': '9', 'x-b': '1' }));
  assert.equal(hit.cacheStatus.hit, true, 'found under the second list of names');
  assert.equal((await read(hit)).bytes.toString(), 'a=2 b=1');
  assert.equal(origin.count('/vv.jpg'), 2);
});

test('a stale variant is revalidated under its own key: the other variants stay', async (t) => {
  const { origin, client } = await httpOrigin(t);
  origin.set('/sv.jpg', (req) => ({
    body: `for ${req.headers['accept-language']}`,
    headers: { 'content-type': 'image/jpeg', vary: 'Accept-Language', etag: `"${req.headers['accept-language']}"`, 'cache-control': 'max-age=10' },
    date: false,
  }));
  const h = await harness(t, client);
  const ask = (lang: string) => ({ ...lookup('/sv.jpg', { 'accept-language': lang }), headers: { 'accept-language': lang } });
  for (const lang of ['en', 'fr']) {
    await read(await h.cache.get(ask(lang)));
    await h.cache.fillsSettled();
  }
  h.clock.advance(20);
  const revalidated = await h.cache.get(ask('en'));
  assert.equal(revalidated.cacheStatus.fwdStatus, 304);
  assert.equal((await read(revalidated)).bytes.toString(), 'for en');
  await h.cache.fillsSettled();
  assert.equal(h.index.count, 2, 'both variants are still stored');
  const fr = await h.cache.get(ask('fr'));
  assert.equal(fr.cacheStatus.fwdStatus, 304, 'the other variant, stale too, is revalidated, not fetched whole');
  assert.equal((await read(fr)).bytes.toString(), 'for fr');
  await h.cache.fillsSettled();
  // Both stale at once: each revalidation is its variant's own, neither joins the other.
  h.clock.advance(20);
  const both = await Promise.all([h.cache.get(ask('en')), h.cache.get(ask('fr'))]);
  assert.deepEqual(await Promise.all(both.map(async (answer) => (await read(answer)).bytes.toString())), ['for en', 'for fr']);
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

/** Resolves with the promise's value, or with 'timed out' after 5 s (a test fails rather than hangs). */
async function within<T>(promise: Promise<T>): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([promise, new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), 5000)))]);
  clearTimeout(timer);
  return result;
}

test('each origin fetch is reported with its result and its time by the cache\'s clock', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  origin.set('/slow.jpg', { body: Buffer.alloc(1000, 1), gate, gateAfter: 10 });
  origin.set('/500.jpg', { status: 500, body: 'no', headers: { 'content-type': 'text/plain' } });
  origin.set('/404.jpg', { status: 404, body: 'no', headers: { 'content-type': 'text/plain' } });
  origin.set('/400.jpg', { status: 400, body: 'no', headers: { 'content-type': 'text/plain' } });
  origin.set('/private.jpg', { body: 'mine', gate, gateAfter: 1, extraHeaders: { 'cache-control': 'private' } });
  const { store, index } = await storage(t);
  const clock = new Clock();
  const finished: [string, number][] = [];
  const cache = new Cache(store, index, client, { rules: { defaultTtlSec: 0, negativeTtlSec: 0, staleIfErrorSec: 0 }, maxObjectBytes: 1 << 20, now: clock.now }, {
    originFinished: (result, seconds) => finished.push([result, seconds]),
  });
  const slow = await cache.get(lookup('/slow.jpg'));
  const reading = read(slow);
  const passed = await cache.pass(lookup('/private.jpg'));
  const passing = read(passed);
  clock.advance(2);
  gate.open();
  await Promise.all([reading, passing]);
  await cache.fillsSettled();
  const reported = async (count: number) => {
    // Reported once the fetch's last step is done, just after the fill settles.
    for (const deadline = Date.now() + 5000; finished.length < count && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  for (const key of ['/500.jpg', '/404.jpg', '/400.jpg']) await read(await cache.get(lookup(key)));
  await reported(5);
  // Nothing listens where this client goes: the fetch itself fails.
  const closed = await TestOrigin.start();
  await closed.stop();
  const nowhere = new OriginClient({ origin: new URL(closed.url), timeoutMs: 10_000, maxConnections: 8, userAgent: 'test' });
  t.after(() => nowhere.close());
  const refused = new Cache(store, index, nowhere, { rules: { defaultTtlSec: 0, negativeTtlSec: 0, staleIfErrorSec: 0 }, maxObjectBytes: 1 << 20, now: clock.now }, {
    originFinished: (result, seconds) => finished.push([result, seconds]),
  });
  await assert.rejects(refused.pass(lookup('/gone.jpg')));
  await assert.rejects(refused.get(lookup('/gone.jpg')));
  await reported(7);
  assert.deepEqual(new Set(finished.slice(0, 2).map(String)), new Set(['ok,2']), 'the fill and the pass each took 2 s');
  // Each is reported just after its fill settles, so not always in the order asked.
  assert.deepEqual(finished.slice(2).map(String).sort(), ['client_error,0', 'client_error,0', 'server_error,0', 'unavailable,0', 'unavailable,0']);
});

test('a pass-through body that breaks is reported broken; a slow origin is reported as a timeout; a failing cache dir as a storage error', async (t) => {
  const origin = await TestOrigin.start();
  const client = new OriginClient({ origin: new URL(origin.url), timeoutMs: 300, maxConnections: 8, userAgent: 'test' });
  t.after(async () => {
    await client.close();
    await origin.stop();
  });
  origin.set('/breaks.jpg', { body: Buffer.alloc(100_000, 1), breakAfter: 1000, extraHeaders: { 'cache-control': 'private' } });
  origin.set('/hangs.jpg', { hang: true });
  origin.set('/fine.jpg', { body: Buffer.alloc(10, 1) });
  const results: OriginResult[] = [];
  const { store, index } = await storage(t);
  const clock = new Clock();
  let passTook = 0;
  const cache = new Cache(store, index, client, { rules: { defaultTtlSec: 0, negativeTtlSec: 0, staleIfErrorSec: 0 }, maxObjectBytes: 1 << 20, now: clock.now }, {
    originFinished: (result, seconds) => {
      results.push(result);
      if (result === 'timeout') passTook = seconds;
    },
  });
  const broken = await read(await cache.pass(lookup('/breaks.jpg')));
  assert.ok(broken.cut);
  const waiting = cache.pass(lookup('/hangs.jpg'));
  clock.advance(3);
  await assert.rejects(waiting);
  assert.equal(passTook, 3, 'a pass that failed took 3 s by the cache\'s clock');
  await assert.rejects(cache.get(lookup('/hangs.jpg')));
  fs.rmSync(store.tmpDir, { recursive: true });
  const unstored = await read(await cache.get(lookup('/fine.jpg')));
  assert.ok(unstored.cut, 'the temp file could not be made');
  await cache.fillsSettled();
  for (const deadline = Date.now() + 5000; results.length < 4 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(results, ['broken', 'timeout', 'timeout', 'storage_error']);
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

test('a response that turns out private, to a fill no request claims (a background revalidation), is let go of', async (t) => {
  const { origin, client } = await httpOrigin(t);
  let priv = false;
  origin.set('/turns.jpg', () => ({
    body: Buffer.alloc(100_000, 1),
    headers: { 'content-type': 'image/jpeg', etag: '"t"', 'cache-control': priv ? 'private' : 'max-age=10, stale-while-revalidate=60' },
    date: false,
    conditional: false,
  }));
  const h = await harness(t, client);
  await read(await h.cache.get(lookup('/turns.jpg')));
  await h.cache.fillsSettled();
  priv = true;
  h.clock.advance(20);
  await read(await h.cache.get(lookup('/turns.jpg')));
  assert.equal(await within(h.cache.fillsSettled()), undefined, 'the revalidation ends though no one read its answer');
});

test('a private answer to a fill reaches its claimant whole, however slowly it comes', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  const body = Buffer.alloc(1 << 20, 7);
  origin.set('/mine.jpg', { body, gate, gateAfter: 100, extraHeaders: { 'cache-control': 'private' } });
  const h = await harness(t, client);
  const answer = await h.cache.get(lookup('/mine.jpg'));
  assert.equal(answer.cacheStatus.passed, true);
  const reading = read(answer);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  gate.open();
  const got = await reading;
  assert.equal(got.cut, null);
  assert.equal(got.bytes.length, body.length);
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

test('a 304 for a stored file that turns out short: the answer is cut, the entry goes, no temp file is left', async (t) => {
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
  const { cut } = await read(await h.cache.get(lookup('/short.jpg')));
  assert.ok(cut);
  assert.equal(await within(h.cache.fillsSettled()), undefined);
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
