// Replicas read the change log each at its own pace. One that has applied an
// overwrite's entry asks the key's owner, which may not have yet: the owner
// reads its log as far as the asker has before it answers from its cache, and
// when it cannot within a second, fetches for the asker alone. Either way the
// asker never gets, nor keeps in memory, the bytes the write replaced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestImgedgeOrigin, samplePng } from '../helpers/imgedge-origin.js';
import { get, sha256 } from '../helpers/http.js';
import { until } from '../helpers/edge.js';
import { logHoldingProxy } from '../helpers/log-proxy.js';
import { startReplicas, scrape } from '../helpers/replicas.js';
import { ownerOf } from '../../src/peers/ring.js';

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

  // The owner reads as far while the asker waits: its answer is from its cache, after the entry.
  await origin.put(target, versions[2]!);
  await until(async () => (await position(other)) === 3, 'the other replica to read the next overwrite');
  const waiting = get(group.urls[1]!, target);
  setTimeout(() => proxy.release(), 200);
  assert.equal(sha256((await waiting).body), sha256(versions[2]!));
  await until(async () => (await position(owner)) === 3, 'the owner to catch up');
  assert.equal(sha256((await get(group.urls[0]!, target)).body), sha256(versions[2]!));
});
