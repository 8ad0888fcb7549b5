// Each origin fetch the cache makes is reported with its result and its
// time by the cache's clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Cache, type OriginResult } from '../../src/cache/cache.js';
import { OriginClient } from '../../src/origin-client.js';
import { TestOrigin, Gate } from '../helpers/origin.js';
import { storage, Clock, httpOrigin, lookup, read } from '../helpers/cache.js';

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

test('a connection cut before any answer is asked again once, on another connection; cut twice, the origin is unavailable', async (t) => {
  const { origin, client } = await httpOrigin(t);
  let cuts = 1;
  origin.set('/cut-once.jpg', () => (cuts-- > 0 ? { reset: true } : { body: 'whole' }));
  origin.set('/cut-always.jpg', { reset: true });
  const { store, index } = await storage(t);
  const results: string[] = [];
  const cache = new Cache(store, index, client, { rules: { defaultTtlSec: 0, negativeTtlSec: 0, staleIfErrorSec: 0 }, maxObjectBytes: 1 << 20 }, {
    originFinished: (result) => results.push(result),
  });
  const answer = await cache.get(lookup('/cut-once.jpg'));
  assert.equal((await read(answer)).bytes.toString(), 'whole');
  assert.equal(origin.count('/cut-once.jpg'), 2);
  await assert.rejects(cache.get(lookup('/cut-always.jpg')), { name: 'OriginUnavailable', status: 502 });
  assert.equal(origin.count('/cut-always.jpg'), 2, 'asked twice, no more');
  await cache.fillsSettled();
  for (const deadline = Date.now() + 5000; results.length < 2 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 5));
  // Each is reported just after its fill settles, so not always in the order asked.
  assert.deepEqual(results.sort(), ['ok', 'unavailable']);
});
