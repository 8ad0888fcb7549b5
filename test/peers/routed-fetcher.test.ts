// The asker's side against real sockets: an owner that never acknowledges
// (a stopped process still accepts connections) and one that refuses them
// each cost one short timeout at most, then the origin answers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { TestOrigin } from '../helpers/origin.js';
import { bytes } from '../helpers/http.js';
import { OriginClient } from '../../src/origin-client.js';
import { NotCached, OriginTimeout } from '../../src/errors.js';
import { Membership } from '../../src/peers/membership.js';
import { PeerClient, PEER_HEADER, COPY_HEADER } from '../../src/peers/peer-client.js';
import { RoutedFetcher, type PeerFetchResult } from '../../src/peers/routed-fetcher.js';
import { ownerOf } from '../../src/peers/ring.js';

const SELF = 'http://127.0.0.1:1';
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A test origin, a client for it and a peer client, closed after the file's tests. */
async function originAndPeers(peerTimeoutMs = 5000) {
  const origin = await TestOrigin.start();
  const originClient = new OriginClient({ origin: new URL(origin.url), timeoutMs: 5000, maxConnections: 4, userAgent: 'test' });
  const peers = new PeerClient({ self: SELF, ackTimeoutMs: 200, timeoutMs: peerTimeoutMs, userAgent: 'test', logPosition: () => null });
  cleanups.push(async () => {
    await peers.close();
    await originClient.close();
    await origin.stop();
  });
  return { origin, originClient, peers };
}

async function setup(peer: string) {
  const { origin, originClient, peers } = await originAndPeers();
  const membership = new Membership({ self: SELF, downMs: 60_000 }, [peer]);
  const results: PeerFetchResult[] = [];
  const fetcher = new RoutedFetcher(originClient, peers, membership, { peerFetched: (result) => results.push(result) });
  /** A target the peer owns. */
  const owned = (label: string) => {
    for (let i = 0; ; i++) if (ownerOf(`/${label}-${i}.jpg`, membership.members) === peer) return `/${label}-${i}.jpg`;
  };
  return { origin, fetcher, membership, results, owned };
}

async function silentPeer(): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => sockets.add(socket.on('error', () => {})));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

test('an owner that never acknowledges costs one short timeout, then is set aside', async () => {
  const peer = await silentPeer();
  const { origin, fetcher, membership, results, owned } = await setup(peer);
  const target = owned('silent');
  origin.set(target, { body: bytes(1000, target) });
  const started = performance.now();
  const first = await fetcher.fetch(target, { via: '1.1 test' });
  const firstMs = performance.now() - started;
  assert.equal(first.status, 200);
  await first.body.resume().once('end', () => {});
  assert.ok(firstMs >= 190, `${firstMs} ms: waited for the acknowledgement`);
  assert.deepEqual(results, ['unreachable']);
  assert.equal(membership.down, 1);
  // Set aside: the next of its keys goes to the origin without a wait.
  const again = performance.now();
  const second = await fetcher.fetch(owned('silent-2'), {});
  assert.ok(performance.now() - again < 190);
  second.body.resume();
  assert.deepEqual(results, ['unreachable']);
  assert.equal(origin.requests[0]!.headers[PEER_HEADER], undefined);
});

test('an owner that refuses connections is passed over at once', async () => {
  const peer = await silentPeer();
  await cleanups.pop()!(); // closed again: its port now refuses
  const { origin, fetcher, results, owned } = await setup(peer);
  const target = owned('refused');
  origin.set(target, { body: 'x' });
  const response = await fetcher.fetch(target, {});
  assert.equal(response.status, 200);
  response.body.resume();
  assert.deepEqual(results, ['unreachable']);
});

test('a request a peer sent goes to the origin, its mark removed', async () => {
  const peer = await silentPeer();
  const { origin, fetcher, results, owned } = await setup(peer);
  const target = owned('from-peer');
  origin.set(target, { body: 'y' });
  const response = await fetcher.fetch(target, { [PEER_HEADER]: 'http://127.0.0.1:2' });
  assert.equal(response.status, 200);
  response.body.resume();
  assert.deepEqual(results, []);
  assert.equal(origin.requests.length, 1);
  assert.equal(origin.requests[0]!.headers[PEER_HEADER], undefined);
});

/** A replica that answers every request with `body`, keeping the headers it was sent. */
async function holdingPeer(body: string): Promise<{ url: string; asked: http.IncomingHttpHeaders[] }> {
  const asked: http.IncomingHttpHeaders[] = [];
  const holder = http.createServer((req, res) => {
    asked.push(req.headers);
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(body.length) }).end(body);
  });
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => holder.close(() => resolve())));
  return { url: `http://127.0.0.1:${(holder.address() as net.AddressInfo).port}`, asked };
}

/** Three members (this one, an unreachable owner, another replica) and a key of the owner's whose next in line is `next`. */
async function setupWithOwnerGone(next: 'self' | 'other') {
  const owner = await silentPeer();
  const other = await holdingPeer('held');
  const { origin, originClient, peers } = await originAndPeers();
  const membership = new Membership({ self: SELF, downMs: 60_000 }, [owner, other.url]);
  const events: string[] = [];
  const fetcher = new RoutedFetcher(originClient, peers, membership, {
    peerFetched: (result) => events.push(`owner ${result}`),
    handedOver: (result) => events.push(`stand-in ${result}`),
  });
  const nextInLine = next === 'self' ? SELF : other.url;
  let target = '/taken-0.jpg';
  for (let i = 1; ownerOf(target, membership.members) !== owner || ownerOf(target, [SELF, other.url]) !== nextInLine; i++) target = `/taken-${i}.jpg`;
  origin.set(target, { body: 'origin' });
  return { origin, fetcher, events, asked: other.asked, target };
}

async function text(response: { body: AsyncIterable<unknown> }): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

test('with the owner unreachable, its key goes to the member next in line, as at every replica that noticed: one fetcher still', async () => {
  const { origin, fetcher, events, asked, target } = await setupWithOwnerGone('other');
  const response = await fetcher.fetch(target, {});
  assert.equal(response.status, 200);
  assert.equal(response.fromPeer, true);
  assert.equal(await text(response), 'held');
  assert.deepEqual(events, ['owner unreachable', 'owner ok']);
  // Asked as its owner now (it fetches, or joins its fill), not looked into.
  assert.equal(asked[0]!['cache-control'], undefined);
  assert.equal(asked[0]![PEER_HEADER], SELF);
  assert.equal(origin.count(target), 0);
});

test('with the owner unreachable and this replica next in line, the replica that takes the key when this one is left out is looked into first: a copy it holds spares the origin', async () => {
  const { origin, fetcher, events, asked, target } = await setupWithOwnerGone('self');
  const response = await fetcher.fetch(target, {});
  assert.equal(response.status, 200);
  assert.equal(await text(response), 'held');
  assert.deepEqual(events, ['owner unreachable', 'stand-in hit']);
  assert.equal(asked[0]!['cache-control'], 'only-if-cached');
  assert.equal(origin.count(target), 0);
});

test('an owner that acknowledged and then does not answer in time is waiting on the origin: a timeout, and it is not set aside', async () => {
  const sockets = new Set<net.Socket>();
  // Acknowledges every request with a 102, then says nothing more: its origin is slow.
  const server = net.createServer((socket) => {
    sockets.add(socket.on('error', () => {}));
    socket.once('data', () => socket.write('HTTP/1.1 102 Processing\r\n\r\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const peer = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const { origin, originClient, peers } = await originAndPeers(400);
  const membership = new Membership({ self: SELF, downMs: 60_000 }, [peer]);
  const results: PeerFetchResult[] = [];
  const fetcher = new RoutedFetcher(originClient, peers, membership, { peerFetched: (result) => results.push(result) });
  let target = '/slow-0.jpg';
  for (let i = 1; ownerOf(target, membership.members) !== peer; i++) target = `/slow-${i}.jpg`;
  origin.set(target, { body: 'origin' });
  await assert.rejects(fetcher.fetch(target, {}), (error: Error) => error instanceof OriginTimeout);
  assert.equal(membership.down, 0);
  assert.deepEqual(results, []);
  // Nor did this replica go to the origin beside it: the owner's fetch is the IDC's one.
  assert.equal(origin.count(target), 0);
});

test('asked by a member to keep a copy, a replica takes it from that member\'s storage only: never from the origin', async () => {
  const holder = await holdingPeer('held');
  const { origin, originClient, peers } = await originAndPeers();
  const fetcher = new RoutedFetcher(originClient, peers, new Membership({ self: SELF, downMs: 60_000 }, [holder.url]));
  origin.set('/copied.jpg', { body: 'origin' });
  const copy = await fetcher.fetch('/copied.jpg', { [PEER_HEADER]: holder.url, [COPY_HEADER]: '1' });
  assert.equal(copy.copied, true);
  assert.equal(await text(copy), 'held');
  assert.equal(holder.asked[0]!['cache-control'], 'only-if-cached');
  assert.equal(holder.asked[0]![COPY_HEADER], undefined);

  const empty = http.createServer((_req, res) => res.writeHead(504).end());
  await new Promise<void>((resolve) => empty.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => empty.close(() => resolve())));
  const emptyUrl = `http://127.0.0.1:${(empty.address() as net.AddressInfo).port}`;
  const fromEmpty = new RoutedFetcher(originClient, peers, new Membership({ self: SELF, downMs: 60_000 }, [emptyUrl]));
  await assert.rejects(fromEmpty.fetch('/copied.jpg', { [PEER_HEADER]: emptyUrl, [COPY_HEADER]: '1' }), (error: Error) => error instanceof NotCached);
  assert.equal(origin.count('/copied.jpg'), 0);
});
