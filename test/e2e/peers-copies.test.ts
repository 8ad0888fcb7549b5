// With --peer-copies 2 each object a replica fetches is kept by a second
// one: the replica that takes its keys when it is gone, which takes the copy
// from the first one's storage. So a replica killed costs its peers no fetch
// across the IDCs for what it held. Real edge processes on loopback
// addresses; a client's copy mark does nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { TestOrigin } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { spawnEdge, until, type EdgeProcess } from '../helpers/edge.js';
import { keyOwnedThenTaken, planReplicas, scrape } from '../helpers/replicas.js';

const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];

let origin: TestOrigin;
let dir: string;
let urls: string[];
const edges: EdgeProcess[] = [];

before(async () => {
  origin = await TestOrigin.start();
  const plan = await planReplicas(HOSTS, 'copies');
  ({ dir, urls } = plan);
  for (const i of HOSTS.keys()) edges.push(await spawnEdge(plan.argsOf(i, origin.url, ['--peer-timeout-ms', '3000', '--peer-copies', '2'])));
});

after(async () => {
  for (const edge of edges) edge.kill('SIGKILL');
  await Promise.all(edges.map((edge) => edge.exited));
  await origin?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function onlyIfCached(url: string, target: string): Promise<number> {
  return (await get(url, target, { headers: { 'cache-control': 'only-if-cached' } })).status;
}

test('an object fetched by its owner is kept by its stand-in too, and a killed owner costs no second origin fetch', { timeout: 60_000 }, async () => {
  const target = keyOwnedThenTaken(urls, urls[0]!, urls[1]!, 'kept');
  const body = bytes(96 * 1024, target);
  origin.set(target, { body });
  // Asked at the owner (so no other replica borrows it in memory): it fetches, and asks the second to keep a copy.
  assert.equal(sha256((await get(urls[0]!, target)).body), sha256(body));
  assert.equal(origin.count(target), 1);
  // Its answer to the owner comes as it begins to take the copy: stored a moment later.
  await until(async () => (await onlyIfCached(urls[1]!, target)) === 200, 'the stand-in to hold it');
  // Kept, it is not copied on: one copy asked, by the owner alone.
  for (const edge of edges) assert.equal(await scrape(edge.adminUrl, 'imgedge_peer_copies_total', { result: 'ok' }), edge === edges[0] ? 1 : 0);

  // Asked first at the stand-in, which then holds the owner's answer in memory
  // only: the copy asked of it is stored on disk all the same.
  const borrowed = keyOwnedThenTaken(urls, urls[0]!, urls[1]!, 'borrowed');
  origin.set(borrowed, { body: bytes(32 * 1024, borrowed) });
  const storedBefore = await scrape(edges[1]!.adminUrl, 'imgedge_cache_objects');
  assert.equal((await get(urls[1]!, borrowed)).status, 200);
  await until(async () => (await scrape(edges[1]!.adminUrl, 'imgedge_cache_objects')) === storedBefore + 1, 'the copy on the stand-in\'s disk');

  edges[0]!.kill('SIGKILL');
  await edges[0]!.exited;
  const after = await get(urls[2]!, target);
  assert.equal(after.status, 200);
  assert.equal(sha256(after.body), sha256(body));
  assert.equal(origin.count(target), 1, 'the origin was not asked again');
  assert.equal((await get(urls[2]!, borrowed)).status, 200);
  assert.equal(origin.count(borrowed), 1);
});

test('a copy mark from a client fetches nothing from where it points: the request is served as any other', { timeout: 30_000 }, async () => {
  const hits: string[] = [];
  const elsewhere = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': '5' }).end('other');
  });
  await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
  try {
    const target = '/marked-by-a-client.jpg';
    origin.set(target, { body: bytes(2048, target) });
    const res = await get(urls[1]!, target, {
      headers: { 'imgedge-peer': `http://127.0.0.1:${(elsewhere.address() as net.AddressInfo).port}`, 'imgedge-copy': '1' },
    });
    assert.equal(res.status, 200);
    assert.equal(sha256(res.body), sha256(bytes(2048, target)));
    assert.deepEqual(hits, []);
    assert.equal(origin.requests.at(-1)!.headers['imgedge-copy'], undefined);
  } finally {
    await new Promise((resolve) => elsewhere.close(resolve));
  }
});
