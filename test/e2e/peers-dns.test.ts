// Membership from DNS, end to end: two edges in this process find each other
// through --peers-dns, resolved by an injected resolver (no real DNS), and
// follow it as the name's addresses change.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestOrigin } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { tempDir, until, metricValue } from '../helpers/edge.js';
import { portFreeOn } from '../helpers/replicas.js';
import { parseEdgeConfig } from '../../src/config.js';
import { startEdge, type RunningEdge } from '../../src/edge/server.js';
import { ownerOf } from '../../src/peers/ring.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

test('replicas found through --peers-dns share one origin fetch, and a replica gone from DNS is no longer asked', async () => {
  const origin = await TestOrigin.start();
  cleanups.push(() => origin.stop());
  const dir = tempDir('peers-dns');
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const hosts = ['127.0.0.1', '127.0.0.2'];
  const port = await portFreeOn(hosts);
  let addresses = [...hosts];
  const asked: string[] = [];
  const resolve = async (name: string) => {
    asked.push(name);
    return addresses;
  };
  const edges: RunningEdge[] = [];
  for (const [i, host] of hosts.entries()) {
    const config = parseEdgeConfig([
      '--origin', origin.url, '--listen', `${host}:${port}`, '--admin-listen', `${host}:0`, '--cache-dir', path.join(dir, `c${i}`),
      '--log-level', 'silent', '--peers-dns', 'imgedge-peers.test.svc', '--peers-dns-refresh-ms', '50',
    ], {});
    const edge = await startEdge(config, { resolve });
    edges.push(edge);
    cleanups.push(() => edge.close());
  }
  assert.equal(asked[0], 'imgedge-peers.test.svc');
  const urls = hosts.map((h) => `http://${h}:${port}`);
  /** A target the second replica owns while both are listed. */
  const ownedBySecond = (label: string) => {
    for (let i = 0; ; i++) if (ownerOf(`/${label}-${i}.jpg`, urls) === urls[1]) return `/${label}-${i}.jpg`;
  };
  assert.equal(await metricValue(edges[0]!, 'imgedge_peers'), 2);

  const shared = ownedBySecond('dns');
  origin.set(shared, { body: bytes(20_000, shared) });
  const first = await get(urls[0]!, shared);
  assert.equal(sha256(first.body), sha256(bytes(20_000, shared)));
  assert.equal((await get(urls[1]!, shared)).status, 200);
  assert.equal(origin.count(shared), 1);
  assert.equal(await metricValue(edges[0]!, 'imgedge_peer_fetches_total', { result: 'ok' }), 1);

  // The second replica leaves the Service: the first fetches its keys itself.
  addresses = [hosts[0]!];
  await until(async () => (await metricValue(edges[0]!, 'imgedge_peers')) === 1, 'the first replica to see the new set');
  const alone = ownedBySecond('alone');
  origin.set(alone, { body: 'z' });
  assert.equal((await get(urls[0]!, alone)).status, 200);
  assert.equal(await metricValue(edges[0]!, 'imgedge_peer_fetches_total'), 1);
  assert.equal(origin.count(alone), 1);
});
