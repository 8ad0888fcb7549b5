// One origin fetch per key, and every waiter streams: the edge's core promise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestOrigin, Gate } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { startTestEdge, until, metricValue, type TestEdge } from '../helpers/edge.js';

let origin: TestOrigin;
let edge: TestEdge;

before(async () => {
  origin = await TestOrigin.start();
  edge = await startTestEdge(origin.url);
});

after(async () => {
  await edge.close();
  await origin.stop();
});

test('200 concurrent cold requests cause one origin fetch and get identical, whole bodies', async () => {
  const body = bytes(1024 * 1024, 'stampede');
  const gate = new Gate();
  origin.set('/stampede.jpg', { body, gate, gateAfter: 64 * 1024 });
  const requests = Array.from({ length: 200 }, () => get(edge.url, '/stampede.jpg'));
  await until(async () => (await metricValue(edge.edge, 'imgedge_coalesced_waiters_total')) >= 199, 'all 200 to join the fill');
  gate.open();
  const results = await Promise.all(requests);
  assert.equal(origin.count('/stampede.jpg'), 1);
  const expected = sha256(body);
  for (const res of results) {
    assert.equal(res.status, 200);
    assert.ok(res.complete, res.error);
    assert.equal(res.body.length, body.length);
    assert.equal(sha256(res.body), expected);
  }
  const statuses = new Set(results.map((r) => r.headers['cache-status']));
  assert.ok([...statuses].some((s) => /fwd=miss; stored/.test(String(s))));
  assert.ok([...statuses].some((s) => /collapsed/.test(String(s))));
});

test('a waiter joining mid-download gets the whole body from byte 0', async () => {
  const body = bytes(512 * 1024, 'late');
  const gate = new Gate();
  origin.set('/late.jpg', { body, gate, gateAfter: 200 * 1024 });
  let firstHas = 0;
  const first = get(edge.url, '/late.jpg', { onData: (_c, received) => (firstHas = received) });
  await until(() => firstHas >= 200 * 1024, 'the first client to receive the bytes sent so far');
  let lateHead = false;
  const late = get(edge.url, '/late.jpg', { onHead: () => (lateHead = true) });
  await until(() => lateHead, 'the late joiner to get its head');
  gate.open();
  const [a, b] = await Promise.all([first, late]);
  assert.equal(origin.count('/late.jpg'), 1);
  for (const res of [a, b]) {
    assert.ok(res.complete);
    assert.equal(sha256(res.body), sha256(body));
  }
  assert.match(String(b.headers['cache-status']), /collapsed/);
});

test("a waiter's first byte arrives with the origin's first byte, not after the whole download", async () => {
  const body = bytes(256 * 1024, 'ttfb');
  const gate = new Gate();
  origin.set('/ttfb.jpg', { body, gate, gateAfter: 1024 });
  let leaderBytes = 0;
  let followerBytes = 0;
  const leader = get(edge.url, '/ttfb.jpg', { onData: (_c, n) => (leaderBytes = n) });
  await until(() => leaderBytes > 0, 'the leader to receive a first byte while the origin holds the rest');
  const follower = get(edge.url, '/ttfb.jpg', { onData: (_c, n) => (followerBytes = n) });
  await until(() => followerBytes > 0, 'the follower to receive a first byte while the origin holds the rest');
  assert.equal(leaderBytes, 1024);
  assert.equal(followerBytes, 1024);
  gate.open();
  const results = await Promise.all([leader, follower]);
  for (const res of results) assert.equal(sha256(res.body), sha256(body));
});

test('a body that breaks mid-way aborts every waiter and stores nothing', async () => {
  const body = bytes(1024 * 1024, 'broken');
  origin.set('/broken.jpg', { body, breakAfter: 100 * 1024 });
  const results = await Promise.all(Array.from({ length: 20 }, () => get(edge.url, '/broken.jpg')));
  for (const res of results) {
    // Either an error status (the failure came before the head went out) or
    // an aborted 200: never a short 200 that looks complete.
    if (res.status === 200) {
      assert.ok(!res.complete, 'a short body must not look complete');
      assert.ok(res.body.length < body.length);
    } else {
      assert.equal(res.status, 502);
    }
  }
  const fetched = origin.count('/broken.jpg');
  origin.set('/broken.jpg', { body });
  const again = await get(edge.url, '/broken.jpg');
  assert.equal(again.status, 200);
  assert.equal(sha256(again.body), sha256(body));
  assert.equal(origin.count('/broken.jpg'), fetched + 1, 'the broken body was not stored');
  assert.match(String(again.headers['cache-status']), /fwd=miss/);
});

test('a client that disconnects mid-download does not stop the fill for the others', async () => {
  const body = bytes(2 * 1024 * 1024, 'quitter');
  const gate = new Gate();
  origin.set('/quitter.jpg', { body, gate, gateAfter: 128 * 1024 });
  let stayerHead = false;
  const quitter = get(edge.url, '/quitter.jpg', { abortAfterBytes: 64 * 1024 });
  const stayer = get(edge.url, '/quitter.jpg', { onHead: () => (stayerHead = true) });
  const gone = await quitter;
  assert.ok(!gone.complete);
  await until(async () => (await metricValue(edge.edge, 'imgedge_incomplete_responses_total')) >= 1, 'the cut response to be counted');
  await until(() => stayerHead, 'the second client to be served');
  gate.open();
  const kept = await stayer;
  assert.ok(kept.complete);
  assert.equal(sha256(kept.body), sha256(body));
  const hit = await get(edge.url, '/quitter.jpg');
  assert.equal(sha256(hit.body), sha256(body));
  assert.equal(origin.count('/quitter.jpg'), 1, 'the fill went on to the end and was stored');
});

test('concurrent requests for a response that may not be shared each get their own', async () => {
  let served = 0;
  origin.set('/private.jpg', () => ({
    body: `for client ${++served}`,
    headers: { 'content-type': 'image/jpeg', 'cache-control': 'private, max-age=60' },
    latencyMs: 50,
  }));
  const results = await Promise.all(Array.from({ length: 5 }, () => get(edge.url, '/private.jpg')));
  const bodies = new Set(results.map((r) => r.body.toString()));
  assert.equal(bodies.size, 5, 'no client received another client\'s private response');
  assert.equal(origin.count('/private.jpg'), 5);
  const again = await get(edge.url, '/private.jpg');
  assert.equal(again.body.toString(), 'for client 6');
});
