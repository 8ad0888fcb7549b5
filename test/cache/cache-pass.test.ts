// Answers that may not be shared: passed through to the request that
// claims them, fetched again by the next, let go of when no one claims them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gate } from '../helpers/origin.js';
import { harness, httpOrigin, lookup, read, within } from '../helpers/cache.js';

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

test('a pass-through its client abandons is not reported as an origin error', async (t) => {
  const { origin, client } = await httpOrigin(t);
  const gate = new Gate();
  t.after(() => gate.open());
  origin.set('/left.jpg', { body: Buffer.alloc(100_000, 1), gate, gateAfter: 1000, extraHeaders: { 'cache-control': 'private' } });
  const h = await harness(t, client);
  const answer = await h.cache.pass(lookup('/left.jpg'));
  answer.discard();
  for (const deadline = Date.now() + 5000; h.results.length < 1 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(h.results, ['ok']);
});
