// Replicas read the change log each at its own pace. One that has applied an
// overwrite's entry asks the key's owner, which may not have yet: the owner
// reads its log as far as the asker has before it answers from its cache, and
// when it cannot within a second, fetches for the asker alone. Either way the
// asker never gets, nor keeps in memory, the bytes the write replaced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestImgedgeOrigin, samplePng } from '../helpers/imgedge-origin.js';
import { get, sha256 } from '../helpers/http.js';
import { until } from '../helpers/edge.js';
import { logHoldingProxy } from '../helpers/log-proxy.js';
import { startReplicas, scrape } from '../helpers/replicas.js';
import { ownerOf } from '../../src/peers/ring.js';
import { CHANGES_PATH } from '../../src/changelog/wire.js';

test('an owner behind the asking replica in the change log reads as far first, or fetches for it alone: the asker never gets the replaced bytes', { timeout: 60_000 }, async (t) => {
  const origin = await startTestImgedgeOrigin();
  // The owner's log goes through a proxy that can hold it back; the other replica's does not.
  const proxy = await logHoldingProxy(origin.url);
  // Hooks run in the order given: the proxy's long polls end before the origin waits for them.
  t.after(() => proxy.close());
  t.after(() => origin.close());
  const group = await startReplicas(2, [proxy.url, origin.url], ['--peer-timeout-ms', '3000']);
  t.after(() => group.close());
  const [owner, other] = group.replicas;
  const target = Array.from({ length: 100 }, (_, i) => `/k/${i}.png`).find((p) => ownerOf(p, group.urls) === group.urls[0])!;
  const position = (r: typeof owner) => scrape(r!.adminUrl, 'imgedge_changelog_position');
  for (const r of group.replicas) await until(async () => (await scrape(r.adminUrl, 'imgedge_changelog_state', { state: 'following' })) === 1, 'both to follow the log');

  const versions = await Promise.all([1, 2, 3].map((i) => samplePng(60 + i)));
  await origin.put(target, versions[0]!);
  for (const r of group.replicas) await until(async () => (await position(r)) === 1, 'both to read the upload');
  assert.equal(sha256((await get(group.urls[0]!, target)).body), sha256(versions[0]!));
  await until(async () => (await scrape(owner!.adminUrl, 'imgedge_cache_objects')) === 1, 'the owner to store it');

  // The owner cannot read its log: it fetches for the asker alone, after a second.
  proxy.hold();
  await origin.put(target, versions[1]!);
  await until(async () => (await position(other)) === 2, 'the other replica to read the overwrite');
  const alone = await get(group.urls[1]!, target);
  assert.equal(sha256(alone.body), sha256(versions[1]!), 'not the bytes the owner still holds');
  assert.equal(await position(owner), 1, 'the owner had not read the overwrite');
  assert.equal(sha256((await get(group.urls[1]!, target)).body), sha256(versions[1]!), 'and not kept');
  // A look into the owner's storage for a replica that has read further is answered 504 at once, not waited on.
  const { log } = (await (await fetch(`${origin.url}${CHANGES_PATH}?from=1`)).json()) as { log: string };
  const began = performance.now();
  const look = await rawRequest(group.urls[0]!, target, [`Imgedge-Peer: ${group.urls[1]}`, `Imgedge-Log-Position: 2 ${log}`, 'Cache-Control: only-if-cached']);
  assert.match(look, /^HTTP\/1\.1 504 /, 'no 102 first, no stored bytes');
  assert.match(look, /detail=NOT_CACHED/);
  assert.ok(performance.now() - began < 900, 'within the second an ordinary peer request would wait');
  assert.equal(await position(owner), 1);

  // The owner reads as far while the asker waits: its answer is from its cache, after the entry.
  await origin.put(target, versions[2]!);
  await until(async () => (await position(other)) === 3, 'the other replica to read the next overwrite');
  const waiting = get(group.urls[1]!, target);
  setTimeout(() => proxy.release(), 200);
  assert.equal(sha256((await waiting).body), sha256(versions[2]!));
  await until(async () => (await position(owner)) === 3, 'the owner to catch up');
  assert.equal(sha256((await get(group.urls[0]!, target)).body), sha256(versions[2]!));
});

async function rawRequest(url: string, target: string, fields: readonly string[]): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(`GET ${target} HTTP/1.1\r\nHost: edge\r\n${fields.map((f) => `${f}\r\n`).join('')}Connection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}
