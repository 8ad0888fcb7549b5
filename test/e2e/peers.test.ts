// Three replicas of an IDC, real edge processes on loopback, acting as one
// cache: one origin fetch per object whichever replicas are asked, bytes
// streamed through the owner as they arrive, a purge sent once, a dead replica
// costing no failed request, and a loop of edges refused at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TestOrigin, Gate } from '../helpers/origin.js';
import { get, request, bytes, sha256 } from '../helpers/http.js';
import { spawnEdge, tempDir, until } from '../helpers/edge.js';
import { startReplicas, scrape, portFreeOn, type ReplicaGroup } from '../helpers/replicas.js';
import { ownerOf } from '../../src/peers/ring.js';

let origin: TestOrigin;
let group: ReplicaGroup;

before(async () => {
  origin = await TestOrigin.start();
  // A generous acknowledgement timeout: a loaded machine must not pass for a dead peer.
  group = await startReplicas(3, origin.url, ['--peer-timeout-ms', '3000']);
});

after(async () => {
  await group?.close();
  await origin?.stop();
});

/** The index of the replica that owns `target`, and of one that does not. */
function roles(target: string): { owner: number; other: number } {
  const owner = group.urls.indexOf(ownerOf(target, group.urls)!);
  return { owner, other: (owner + 1) % group.urls.length };
}

/** Until no replica has a fetch under way: each has committed what it fetched. */
async function fillsDone(): Promise<void> {
  await until(async () => (await sumOver('imgedge_origin_fetches_in_flight')) === 0, 'every fill to commit', 10_000);
}

async function sumOver(name: string, labels: Record<string, string> = {}): Promise<number> {
  const values = await Promise.all(group.replicas.map((r) => scrape(r.adminUrl, name, labels)));
  return values.reduce((a, b) => a + b, 0);
}

test('300 concurrent cold requests spread over three replicas cause one origin fetch and identical bodies', async () => {
  const body = bytes(1024 * 1024, 'peer-stampede');
  const gate = new Gate();
  origin.set('/stampede.jpg', { body, gate, gateAfter: 64 * 1024 });
  const requests = Array.from({ length: 300 }, (_, i) => get(group.urls[i % 3]!, '/stampede.jpg'));
  // One fill per replica; every other request joins one, the peers' two included.
  await until(async () => (await sumOver('imgedge_coalesced_waiters_total')) >= 299, 'every request to join a fill', 20_000);
  gate.open();
  const results = await Promise.all(requests);
  assert.equal(origin.count('/stampede.jpg'), 1);
  const expected = sha256(body);
  for (const res of results) {
    assert.equal(res.status, 200);
    assert.ok(res.complete, res.error);
    assert.equal(sha256(res.body), expected);
  }
  assert.equal(await sumOver('imgedge_peer_fetches_total', { result: 'ok' }), 2);
});

test('a waiter at a replica that does not own the object gets its first bytes while the origin is still sending', async () => {
  const target = '/streamed.jpg';
  const { other } = roles(target);
  const body = bytes(512 * 1024, 'streamed');
  const gate = new Gate();
  origin.set(target, { body, gate, gateAfter: 64 * 1024 });
  let received = 0;
  const waiter = get(group.urls[other]!, target, { onData: (_chunk, total) => (received = total) });
  await until(() => received > 0, 'the first body bytes at the non-owner', 20_000);
  gate.open();
  const res = await waiter;
  assert.ok(res.complete, res.error);
  assert.equal(sha256(res.body), sha256(body));
  assert.equal(origin.count(target), 1);
});

test('an owner waiting on a slow origin is not taken for a dead peer', async () => {
  const target = '/slow-origin.jpg';
  const { other } = roles(target);
  const body = bytes(10 * 1024, 'slow');
  // Longer than --peer-timeout-ms (3000): the owner's acknowledgement keeps the asker waiting.
  origin.set(target, { body, latencyMs: 4000 });
  const before = await scrape(group.replicas[other]!.adminUrl, 'imgedge_peer_fetches_total', { result: 'unreachable' });
  const res = await get(group.urls[other]!, target);
  assert.equal(res.status, 200);
  assert.equal(sha256(res.body), sha256(body));
  assert.equal(origin.count(target), 1);
  assert.equal(await scrape(group.replicas[other]!.adminUrl, 'imgedge_peer_fetches_total', { result: 'unreachable' }), before);
});

test('a purge sent to one replica reaches them all', async () => {
  const target = '/purged.jpg';
  const body = bytes(4096, 'purged');
  origin.set(target, { body });
  for (const url of group.urls) assert.equal((await get(url, target)).status, 200);
  assert.equal(origin.count(target), 1);
  // Every replica holds a copy now: each must drop it.
  for (const url of group.urls) assert.match(String((await get(url, target)).headers['cache-status']), /hit/);
  const res = await fetch(`${group.replicas[0]!.adminUrl}/purge`, {
    method: 'POST',
    headers: { authorization: 'Bearer peer-test-token', 'content-type': 'application/json' },
    body: JSON.stringify({ paths: [target] }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { purged: 1 });
  for (const replica of group.replicas) assert.equal(await scrape(replica.adminUrl, 'imgedge_purged_objects_total'), 1);
  // What replaced it at the origin is what every replica serves now: none kept its copy.
  const replaced = bytes(4096, 'purged, then replaced');
  origin.set(target, { body: replaced });
  for (const url of group.urls) assert.equal(sha256((await get(url, target)).body), sha256(replaced));
  assert.equal(origin.count(target), 2);
});

/** A marked request on a connection of its own, as Node's server answers it (a condition keeps it from the hit lane); the raw answer. */
async function rawPeerRequest(url: string, target: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(`GET ${target} HTTP/1.1\r\nHost: edge\r\nImgedge-Peer: http://127.0.0.9:1\r\nIf-None-Match: "other"\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}

test('a peer\'s request is acknowledged with 102 while the object is fetched, and answered at once when it is held in memory', async () => {
  const target = '/acknowledged.jpg';
  origin.set(target, { body: bytes(8192, 'acknowledged'), latencyMs: 200 });
  const cold = await rawPeerRequest(group.urls[0]!, target);
  assert.match(cold, /^HTTP\/1\.1 102 Processing\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  await fillsDone();
  const held = await rawPeerRequest(group.urls[0]!, target);
  assert.match(held, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(held, /cache-status: imgedge; hit/i);
  assert.equal(origin.count(target), 1);
});

test('a request passed to its owner counts once in the fleet\'s requests; the owner counts the replica\'s apart', async () => {
  const target = '/counted.jpg';
  const { owner, other } = roles(target);
  origin.set(target, { body: bytes(8 * 1024, 'counted') });
  const requests = await sumOver('imgedge_requests_total');
  const ownerPeerRequests = await scrape(group.replicas[owner]!.adminUrl, 'imgedge_peer_requests_total', { status_class: '2xx' });
  assert.equal((await get(group.urls[other]!, target)).status, 200);
  await until(async () => (await scrape(group.replicas[owner]!.adminUrl, 'imgedge_peer_requests_total', { status_class: '2xx' })) === ownerPeerRequests + 1, 'the owner to count the replica\'s request', 5000);
  assert.equal(await sumOver('imgedge_requests_total'), requests + 1, 'the client\'s request, once');
  assert.ok((await scrape(group.replicas[owner]!.adminUrl, 'imgedge_peer_response_bytes_total')) >= 8 * 1024);
});

test('a replica keeps what it gets through the owner in memory only: one copy on disk per IDC, then local hits', async () => {
  const target = '/borrowed.jpg';
  const body = bytes(20 * 1024, 'borrowed');
  origin.set(target, { body });
  await fillsDone();
  const onDisk = await sumOver('imgedge_cache_objects');
  const fetched = await sumOver('imgedge_peer_fetches_total', { result: 'ok' });
  for (const url of group.urls) assert.equal(sha256((await get(url, target)).body), sha256(body));
  assert.equal(await sumOver('imgedge_peer_fetches_total', { result: 'ok' }), fetched + 2);
  for (const url of group.urls) {
    const res = await get(url, target);
    assert.equal(sha256(res.body), sha256(body));
    assert.match(String(res.headers['cache-status']), /hit/);
  }
  assert.equal(await sumOver('imgedge_peer_fetches_total', { result: 'ok' }), fetched + 2);
  assert.equal(origin.count(target), 1);
  // The owner commits after its answer: once it has, that is the only copy on disk.
  await fillsDone();
  assert.equal(await sumOver('imgedge_cache_objects'), onDisk + 1);
});

test('an object too big for a replica\'s memory is streamed from its owner at each request there, and stored once', async () => {
  const target = '/borrowed-big.jpg';
  const { other } = roles(target);
  // Larger than what --memory-cache-bytes (64 MiB by default) holds per object (1 MiB).
  const body = bytes(1536 * 1024, 'borrowed-big');
  origin.set(target, { body });
  await fillsDone();
  const onDisk = await sumOver('imgedge_cache_objects');
  const fetched = await scrape(group.replicas[other]!.adminUrl, 'imgedge_peer_fetches_total', { result: 'ok' });
  for (let i = 0; i < 2; i++) assert.equal(sha256((await get(group.urls[other]!, target)).body), sha256(body));
  assert.equal(await scrape(group.replicas[other]!.adminUrl, 'imgedge_peer_fetches_total', { result: 'ok' }), fetched + 2);
  await fillsDone();
  assert.equal(await sumOver('imgedge_cache_objects'), onDisk + 1);
  assert.equal(origin.count(target), 1);
});

test('a forwarding loop between two edges is refused at once with 508, not a hang', async () => {
  const dir = tempDir('loop');
  // Each edge's origin is the other: ports chosen first, so each can name the other.
  const first = await portFreeOn(['127.0.0.1']);
  let second = first;
  while (second === first) second = await portFreeOn(['127.0.0.1']);
  const started = await Promise.allSettled([
    spawnEdge(['edge', '--origin', `http://127.0.0.1:${second}`, '--listen', `127.0.0.1:${first}`, '--admin-listen', '127.0.0.1:0', '--cache-dir', path.join(dir, 'a')]),
    spawnEdge(['edge', '--origin', `http://127.0.0.1:${first}`, '--listen', `127.0.0.1:${second}`, '--admin-listen', '127.0.0.1:0', '--cache-dir', path.join(dir, 'b')]),
  ]);
  const edges = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    assert.equal(edges.length, 2, String(started.find((s) => s.status === 'rejected')?.reason));
    const res = await request(edges[0]!.url, '/loop.jpg', { timeoutMs: 5000 });
    assert.equal(res.status, 508);
    assert.match(res.body.toString(), /LOOP_DETECTED/);
  } finally {
    for (const e of edges) e.kill();
    await Promise.all(edges.map((e) => e.exited));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('with one replica killed, every request still succeeds, and a purge says which peer it missed', async () => {
  const dead = group.replicas[2]!;
  dead.kill('SIGKILL');
  await dead.exited;
  // Both others find its owner gone at once: the key goes to the one next in line, and the other joins its fill.
  let orphan = '/orphan-0.jpg';
  for (let i = 1; ownerOf(orphan, group.urls) !== group.urls[2]; i++) orphan = `/orphan-${i}.jpg`;
  const gate = new Gate();
  origin.set(orphan, { body: bytes(64 * 1024, orphan), gate, gateAfter: 1024 });
  const orphans = [get(group.urls[0]!, orphan), get(group.urls[1]!, orphan)];
  await until(() => origin.count(orphan) > 0, 'the fetch of the key that lost its owner');
  // Time enough on loopback for the other request to have gone its way: to the origin too, or into that fill.
  await new Promise((resolve) => setTimeout(resolve, 500));
  gate.open();
  for (const res of await Promise.all(orphans)) assert.equal(sha256(res.body), sha256(bytes(64 * 1024, orphan)));
  assert.equal(origin.count(orphan), 1);
  assert.ok(group.replicas.slice(0, 2).some((r) => /peer set aside/.test(r.output())));
  const targets = Array.from({ length: 30 }, (_, i) => `/after-kill-${i}.jpg`);
  for (const target of targets) origin.set(target, { body: bytes(8192, target) });
  const results = await Promise.all(targets.map((target, i) => get(group.urls[i % 2]!, target)));
  for (const [i, res] of results.entries()) {
    assert.equal(res.status, 200, targets[i]);
    assert.equal(sha256(res.body), sha256(bytes(8192, targets[i]!)));
  }
  const ownedByDead = targets.filter((t) => ownerOf(t, group.urls) === group.urls[2]);
  assert.ok(ownedByDead.length > 0);
  const unreachable = await Promise.all(group.replicas.slice(0, 2).map((r) => scrape(r.adminUrl, 'imgedge_peer_fetches_total', { result: 'unreachable' })));
  assert.ok(unreachable[0]! + unreachable[1]! >= 1);
  const res = await fetch(`${group.replicas[0]!.adminUrl}/purge`, {
    method: 'POST',
    headers: { authorization: 'Bearer peer-test-token', 'content-type': 'application/json' },
    body: JSON.stringify({ prefixes: ['/after-kill-'] }),
  });
  assert.equal(res.status, 502);
  const text = await res.text();
  assert.match(text, /PURGE_INCOMPLETE/);
  assert.match(text, /127\.0\.0\.3/);
});
