// Purge by prefix is a string prefix of the canonical path: it takes what
// starts with it, and nothing that merely contains it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { get, request } from '../helpers/http.js';
import { Gate, TestOrigin } from '../helpers/origin.js';
import { startTestEdge, until, metricValue, type TestEdge } from '../helpers/edge.js';

const TOKEN = 'purge-test-token';
let origin: TestOrigin;
let edge: TestEdge;

before(async () => {
  origin = await TestOrigin.start();
  edge = await startTestEdge(origin.url, { args: ['--admin-token', TOKEN] });
});

after(async () => {
  await edge.close();
  await origin.stop();
});

async function purge(body: unknown): Promise<number> {
  const res = await request(edge.adminUrl, '/purge', {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, res.body.toString());
  return (JSON.parse(res.body.toString()) as { purged: number }).purged;
}

async function store(paths: string[]): Promise<void> {
  for (const p of paths) {
    origin.set(p.split('?')[0]!, { body: `body of ${p}` });
    await get(edge.url, p);
  }
  // A hit can be a request that joined a fill after its last byte, before the commit: wait for the commits.
  await until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, 'the fills to end');
  await until(async () => {
    for (const p of paths) if (!/^imgedge; hit/.test(String((await get(edge.url, p)).headers['cache-status']))) return false;
    return true;
  }, 'every object to be stored');
}

async function isStored(p: string): Promise<boolean> {
  const before = origin.requests.length;
  const res = await get(edge.url, p);
  const hit = /^imgedge; hit/.test(String(res.headers['cache-status']));
  assert.equal(origin.requests.length, before + (hit ? 0 : 1));
  return hit;
}

test('a prefix takes the paths that start with it, with every query, and none that only contain it', async () => {
  const taken = ['/pa/b.jpg', '/pa/b.jpg?v=100', '/pa/c/d.jpg', '/pa2/e.jpg'];
  const kept = ['/x/pa/b.jpg', '/x/pa/b.jpg?v=100', '/p/a.jpg', '/x.jpg?/pa/', '/Pa/b.jpg'];
  await store([...taken, ...kept]);
  const objectsBefore = await metricValue(edge.edge, 'imgedge_cache_objects');
  assert.equal(await purge({ prefixes: ['/pa'] }), taken.length);
  assert.equal(await metricValue(edge.edge, 'imgedge_cache_objects'), objectsBefore - taken.length);
  for (const p of kept) assert.equal(await isStored(p), true, `${p} is kept`);
  for (const p of taken) assert.equal(await isStored(p), false, `${p} is purged`);
});

test('a path takes every query of that path and nothing else; counts are exact', async () => {
  const taken = ['/pp/a.jpg', '/pp/a.jpg?v=1', '/pp/a.jpg?v=2'];
  const kept = ['/pp/a.jpg2', '/pp/a.jpg/b.jpg', '/x/pp/a.jpg', '/pp/b.jpg'];
  await store([...taken, ...kept]);
  assert.equal(await purge({ paths: ['/pp/a.jpg'] }), taken.length);
  assert.equal(await purge({ paths: ['/pp/a.jpg'] }), 0, 'nothing is left to purge');
  for (const p of kept) assert.equal(await isStored(p), true, `${p} is kept`);
  for (const p of taken) assert.equal(await isStored(p), false, `${p} is purged`);
});

test('a path and a prefix in one purge: the total is the objects dropped, each once', async () => {
  const paths = ['/both/a.jpg', '/both/b.jpg', '/other/c.jpg'];
  await store(paths);
  assert.equal(await purge({ paths: ['/both/a.jpg'], prefixes: ['/both/'] }), 2);
  assert.equal(await isStored('/other/c.jpg'), true);
});

test('a purge while the object is being fetched: what that fetch brings is not served after the purge', async () => {
  const gate = new Gate();
  origin.set('/during/a.jpg', { body: 'old version', gate, gateAfter: 3 });
  const first = get(edge.url, '/during/a.jpg');
  await until(() => origin.count('/during/a.jpg') === 1, 'the fetch to start');
  await purge({ paths: ['/during/a.jpg'] });
  origin.set('/during/a.jpg', { body: 'new version' });
  gate.open();
  assert.equal((await first).body.toString(), 'old version', 'the request already answered keeps its answer');
  await until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, 'the fill to end');
  assert.equal((await get(edge.url, '/during/a.jpg')).body.toString(), 'new version', 'the purge reached the fetch under way');
});
