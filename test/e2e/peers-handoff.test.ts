// A replica that was away (restarted, or not yet started) finds what its
// peers fetched in its place in their storage, not at the origin: its fetches
// look first into the stand-in's (the member that owns the key without it),
// with only-if-cached, which that replica answers from storage or with a 504
// that is no error of its own. Real edge processes on loopback addresses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { TestOrigin } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { spawnEdge, until, type EdgeProcess } from '../helpers/edge.js';
import { keyOwnedThenTaken, planReplicas, scrape } from '../helpers/replicas.js';
import { ownerOf } from '../../src/peers/ring.js';

const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];

let origin: TestOrigin;
let dir: string;
let urls: string[];
let start: (i: number) => Promise<EdgeProcess>;
const running: EdgeProcess[] = [];

before(async () => {
  origin = await TestOrigin.start();
  const plan = await planReplicas(HOSTS, 'handoff');
  ({ dir, urls } = plan);
  start = async (i) => {
    const edge = await spawnEdge(plan.argsOf(i, origin.url, ['--peer-timeout-ms', '3000']));
    running.push(edge);
    return edge;
  };
});

after(async () => {
  for (const edge of running) edge.kill('SIGKILL');
  await Promise.all(running.map((edge) => edge.exited));
  await origin?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a replica that joins late gets what a peer fetched in its place from that peer, not from the origin', { timeout: 60_000 }, async () => {
  const [first, second] = [await start(0), await start(1)];
  const target = keyOwnedThenTaken(urls, urls[2]!, urls[0]!, 'handed');
  const body = bytes(64 * 1024, target);
  origin.set(target, { body });
  // Its owner is not up: the first replica fetches it itself, and keeps it.
  const early = await get(first.url, target);
  assert.equal(early.status, 200);
  assert.equal(origin.count(target), 1);

  const third = await start(2);
  const late = await get(third.url, target);
  assert.equal(late.status, 200);
  assert.equal(sha256(late.body), sha256(body));
  assert.equal(origin.count(target), 1, 'the origin was not asked again');
  assert.equal(await scrape(third.adminUrl, 'imgedge_peer_handoffs_total', { result: 'hit' }), 1);
  // Stored by the third as the owner: its next answer is its own hit.
  const again = await get(third.url, target);
  assert.match(String(again.headers['cache-status']), /hit/);
  assert.equal(origin.count(target), 1);

  // A key no one holds: the look finds nothing, the origin is asked once, and the 504 is no error at the stand-in.
  const cold = keyOwnedThenTaken(urls, urls[2]!, urls[0]!, 'cold');
  origin.set(cold, { body: bytes(4096, cold) });
  assert.equal((await get(second.url, cold)).status, 200);
  assert.equal(origin.count(cold), 1);
  assert.equal(await scrape(third.adminUrl, 'imgedge_peer_handoffs_total', { result: 'miss' }), 1);
  assert.equal(await scrape(first.adminUrl, 'imgedge_peer_requests_total', { status_class: '5xx', cache_status: 'not_cached' }), 1);
  assert.equal(await scrape(first.adminUrl, 'imgedge_requests_total', { status_class: '5xx' }), 0, 'a replica\'s look is not a client\'s request');
  assert.equal(await scrape(first.adminUrl, 'imgedge_requests_total', { cache_status: 'error' }), 0);
});

test('only-if-cached from a client: a stored object is served, anything else is a 504 and the origin is not asked', { timeout: 30_000 }, async () => {
  const edge = running[0]!;
  let target = '/only-if-cached.jpg';
  for (let i = 0; ownerOf(target, urls) !== urls[0]; i++) target = `/only-if-cached-${i}.jpg`;
  origin.set(target, { body: bytes(2048, target) });
  const miss = await get(edge.url, target, { headers: { 'cache-control': 'only-if-cached' } });
  assert.equal(miss.status, 504);
  assert.match(String(miss.headers['cache-status']), /detail=NOT_CACHED/);
  assert.doesNotMatch(String(miss.headers['cache-status']), /fwd=/);
  assert.equal(origin.count(target), 0);
  assert.equal((await get(edge.url, target)).status, 200);
  await until(async () => (await scrape(edge.adminUrl, 'imgedge_origin_fetches_in_flight')) === 0, 'the fill to commit');
  const hit = await get(edge.url, target, { headers: { 'cache-control': 'only-if-cached' } });
  assert.equal(hit.status, 200);
  assert.equal(origin.count(target), 1);
});
