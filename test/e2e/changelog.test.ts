// Edges following the origin's change log: writes at the origin reach edges
// within the contract's two seconds; a restarted edge resumes where it was;
// an edge that lost track revalidates what it holds instead of trusting it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestImgedgeOrigin, samplePng, type TestImgedgeOrigin } from '../helpers/imgedge-origin.js';
import { startTestEdge, tempDir, until, metricValue, type TestEdge } from '../helpers/edge.js';
import { get, sha256 } from '../helpers/http.js';
import { TestOrigin } from '../helpers/origin.js';
import { POSITION_FILE } from '../../src/changelog/position.js';
import { logHoldingProxy } from '../helpers/log-proxy.js';

const QUICK = { minBackoffMs: 20, maxBackoffMs: 200 };

async function edgeFor(origin: { url: string }, options: { cacheDir?: string; args?: string[] } = {}): Promise<TestEdge> {
  const edge = await startTestEdge(origin.url, { ...options, changelogTiming: QUICK });
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_state', { state: 'following' })) === 1, 'the edge to follow the log');
  return edge;
}

/** Asks until the edge serves these bytes; returns how long it took after the origin's answer. */
async function servesWithin(edge: TestEdge, target: string, expected: Buffer | null, ms: number): Promise<number> {
  const started = performance.now();
  await until(async () => {
    const res = await get(edge.url, target);
    return expected === null ? res.status === 404 : res.status === 200 && sha256(res.body) === sha256(expected);
  }, `${target} to change at the edge to ${expected ? sha256(expected).slice(0, 8) : '404'}`, ms);
  return performance.now() - started;
}

async function cacheStatus(edge: TestEdge, target: string): Promise<string> {
  return String((await get(edge.url, target)).headers['cache-status']);
}

test('an upload, an overwrite and a delete at the origin reach the edge within 2 s, though the edge holds the image for an hour', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const edge = await edgeFor(origin);
  t.after(() => edge.close());

  // Remembered as absent first: the upload must end the negative entry too.
  assert.equal((await get(edge.url, '/p/a.png')).status, 404);
  const v1 = await samplePng(1);
  assert.equal((await origin.put('/p/a.png', v1)).status, 201);
  await servesWithin(edge, '/p/a.png', v1, 2000);
  assert.match(await cacheStatus(edge, '/p/a.png'), /^imgedge; hit/);
  assert.match(await cacheStatus(edge, '/p/a.png?v=1'), /fwd=miss/);

  // A resized variant of the first version, held by the edge.
  const variant1 = (await get(edge.url, '/p/a.png?w=16')).body;
  assert.match(await cacheStatus(edge, '/p/a.png?w=16'), /^imgedge; hit/);
  const v2 = await samplePng(2);
  assert.equal((await origin.put('/p/a.png', v2)).status, 204);
  await servesWithin(edge, '/p/a.png', v2, 2000);
  const variant2 = await get(edge.url, '/p/a.png?w=16');
  assert.equal(variant2.status, 200);
  assert.notEqual(sha256(variant2.body), sha256(variant1), 'the variant went with its source');
  // Every query string of the path went with it.
  assert.equal(sha256((await get(edge.url, '/p/a.png?v=1')).body), sha256(v2));

  assert.equal((await origin.del('/p/a.png')).status, 204);
  await servesWithin(edge, '/p/a.png', null, 2000);
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 3, 'position 3 saved', 2000);
  assert.equal(await metricValue(edge.edge, 'imgedge_changelog_entries_applied_total'), 3);
  assert.equal(await metricValue(edge.edge, 'imgedge_changelog_lag_entries'), 0);
  assert.equal(await metricValue(edge.edge, 'imgedge_changelog_lag_seconds'), 0);
});

test('a restarted edge resumes at its saved position: what changed meanwhile is refetched, the rest stays a hit', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const images = await Promise.all([1, 2, 3, 4].map((i) => samplePng(i)));
  for (const [i, body] of images.entries()) await origin.put(`/r/${i}.png`, body);
  const cacheDir = path.join(tempDir('resume'), 'cache');
  const first = await edgeFor(origin, { cacheDir });
  for (let i = 0; i < images.length; i++) assert.equal((await get(first.url, `/r/${i}.png`)).status, 200);
  // Stored (a fill commits just after its last byte went out) before the edge stops.
  await until(async () => (await metricValue(first.edge, 'imgedge_cache_objects')) === images.length, 'the objects stored');
  await first.close();
  const saved = JSON.parse(fs.readFileSync(path.join(cacheDir, POSITION_FILE), 'utf8')) as { seq: number; log: string };
  assert.equal(saved.seq, 4);

  const changed = await samplePng(99);
  await origin.put('/r/0.png', changed);
  await origin.del('/r/1.png');
  const second = await edgeFor(origin, { cacheDir });
  t.after(() => second.close());
  await until(async () => (await metricValue(second.edge, 'imgedge_changelog_position')) === 6, 'the edge to catch up');
  assert.equal(sha256((await get(second.url, '/r/0.png')).body), sha256(changed));
  assert.equal((await get(second.url, '/r/1.png')).status, 404);
  for (const i of [2, 3]) {
    const res = await get(second.url, `/r/${i}.png`);
    assert.match(String(res.headers['cache-status']), /^imgedge; hit/, 'unchanged: served without asking the origin');
    assert.equal(sha256(res.body), sha256(images[i]!));
  }
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_gaps_total'), 0);
});

test('a restarted edge serves nothing a write replaced while it was down, even before it has read the log: until then what it holds is revalidated', async (t) => {
  const origin = await startTestImgedgeOrigin();
  const proxy = await logHoldingProxy(origin.url);
  // Hooks run in the order given: the proxy's long polls end before the origin waits for them.
  t.after(() => proxy.close());
  t.after(() => origin.close());
  const images = await Promise.all([1, 2, 3].map((i) => samplePng(40 + i)));
  for (const [i, body] of images.entries()) await origin.put(`/d/${i}.png`, body);
  const cacheDir = path.join(tempDir('doubt'), 'cache');
  const first = await edgeFor(proxy, { cacheDir });
  for (let i = 0; i < images.length; i++) assert.equal((await get(first.url, `/d/${i}.png`)).status, 200);
  await until(async () => (await metricValue(first.edge, 'imgedge_cache_objects')) === images.length, 'the objects stored');
  await first.close();

  const changed = await samplePng(77);
  await origin.put('/d/0.png', changed);
  proxy.hold();
  const second = await startTestEdge(proxy.url, { cacheDir, changelogTiming: QUICK });
  t.after(() => second.close());
  const replaced = await get(second.url, '/d/0.png');
  assert.equal(sha256(replaced.body), sha256(changed), 'the overwrite is served before the entry that names it is read');
  const unchanged = await get(second.url, '/d/1.png');
  assert.equal(sha256(unchanged.body), sha256(images[1]!));
  assert.match(String(unchanged.headers['cache-status']), /fwd=stale/, 'revalidated while the log is not read');
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_position'), 3, 'the log has not been read');

  proxy.release();
  await until(async () => (await metricValue(second.edge, 'imgedge_changelog_position')) === 4, 'the edge to catch up');
  const later = await get(second.url, '/d/2.png');
  assert.match(String(later.headers['cache-status']), /^imgedge; hit/, 'once caught up, what is held is a hit again');
  assert.equal(sha256(later.body), sha256(images[2]!));
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_gaps_total'), 0);
});

test('an edge that fetched the new version before the entry reached it keeps that copy; an older one goes', async (t) => {
  const origin = await startTestImgedgeOrigin();
  const proxy = await logHoldingProxy(origin.url);
  // Hooks run in the order given: the proxy's long polls end before the origin waits for them.
  t.after(() => proxy.close());
  t.after(() => origin.close());
  const versions = await Promise.all([1, 2, 3].map((i) => samplePng(90 + i)));
  await origin.put('/e/a.png', versions[0]!);
  const edge = await edgeFor(proxy);
  t.after(() => edge.close());
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 1, 'the edge to read the upload');

  proxy.hold();
  await origin.put('/e/a.png', versions[1]!);
  const early = await get(edge.url, '/e/a.png');
  assert.match(String(early.headers['cache-status']), /fwd=miss/);
  assert.equal(sha256(early.body), sha256(versions[1]!), 'fetched after the write, before its entry arrived');
  await until(async () => (await metricValue(edge.edge, 'imgedge_cache_objects')) === 1, 'the copy stored');
  proxy.release();
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 2, 'the entry to arrive');
  const kept = await get(edge.url, '/e/a.png');
  assert.match(String(kept.headers['cache-status']), /^imgedge; hit/, 'the entry names the version held: it stays');
  assert.equal(sha256(kept.body), sha256(versions[1]!));

  proxy.hold();
  await origin.put('/e/a.png', versions[2]!);
  assert.equal(sha256((await get(edge.url, '/e/a.png')).body), sha256(versions[1]!), 'the entry has not arrived');
  proxy.release();
  await servesWithin(edge, '/e/a.png', versions[2]!, 2000);

  // Put again, then deleted: what the edge fetched in between is not the path's last word.
  proxy.hold();
  await origin.put('/e/b.png', versions[0]!);
  assert.equal((await get(edge.url, '/e/b.png')).status, 200);
  await origin.del('/e/b.png');
  proxy.release();
  await servesWithin(edge, '/e/b.png', null, 2000);
});

async function holdTwo(origin: TestImgedgeOrigin, edge: TestEdge): Promise<Buffer[]> {
  const images = [await samplePng(10), await samplePng(11)];
  await origin.put('/g/0.png', images[0]!);
  await origin.put('/g/1.png', images[1]!);
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === origin.origin.store.log.last, 'the edge to see the uploads');
  for (const i of [0, 1]) assert.equal((await get(edge.url, `/g/${i}.png`)).status, 200);
  await until(async () => (await metricValue(edge.edge, 'imgedge_cache_objects')) === 2, 'the objects stored');
  return images;
}

test('an edge whose position was trimmed away revalidates everything it holds, and drops nothing', async (t) => {
  const origin = await startTestImgedgeOrigin({ args: ['--changelog-max-bytes', '64KiB'] });
  t.after(() => origin.close());
  const cacheDir = path.join(tempDir('trimmed'), 'cache');
  const first = await edgeFor(origin, { cacheDir });
  const images = await holdTwo(origin, first);
  await first.close();

  // While the edge is away: one real change, then enough others for the log to drop its start.
  const changed = await samplePng(12);
  await origin.put('/g/1.png', changed);
  const log = origin.origin.store.log;
  for (let i = 0; i < 1500; i++) await log.append({ op: 'purge', path: `/elsewhere/${'x'.repeat(60)}/${i}` });
  await log.trim();
  assert.ok(log.first > 4, `the log starts at ${log.first}`);

  const second = await edgeFor(origin, { cacheDir });
  t.after(() => second.close());
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_gaps_total', { reason: 'trimmed' }), 1);
  const unchanged = await get(second.url, '/g/0.png');
  assert.match(String(unchanged.headers['cache-status']), /fwd=stale; fwd-status=304/, 'revalidated, not refetched');
  assert.equal(sha256(unchanged.body), sha256(images[0]!));
  // Fresh again once the revalidated copy is stored.
  await until(async () => /^imgedge; hit/.test(await cacheStatus(second, '/g/0.png')), 'a hit after the revalidation', 2000);
  const fresh = await get(second.url, '/g/1.png');
  assert.equal(sha256(fresh.body), sha256(changed), 'the change it missed is not served stale');
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_position'), log.last);
});

test('an edge ahead of a log that was reset revalidates everything it holds', async (t) => {
  const root = path.join(tempDir('reset'), 'root');
  let origin = await startTestImgedgeOrigin({ root });
  const edge = await edgeFor(origin);
  t.after(() => edge.close());
  const images = await holdTwo(origin, edge);
  const url = new URL(origin.url);
  await origin.close();

  // The log is lost (a restore from a backup without it); the files stay, one of them changed.
  fs.rmSync(path.join(root, '.imgedge', 'changes'), { recursive: true });
  const changed = await samplePng(13);
  fs.writeFileSync(path.join(root, 'g', '1.png'), changed);
  origin = await startTestImgedgeOrigin({ root, args: ['--listen', `127.0.0.1:${url.port}`] });
  t.after(() => origin.close());
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_gaps_total', { reason: 'reset' })) === 1, 'the edge to see the reset', 5000);
  const unchanged = await get(edge.url, '/g/0.png');
  assert.match(String(unchanged.headers['cache-status']), /fwd=stale; fwd-status=304/);
  assert.equal(sha256(unchanged.body), sha256(images[0]!));
  assert.equal(sha256((await get(edge.url, '/g/1.png')).body), sha256(changed));
});

test('while the log is unreachable the edge serves at full speed and reports its lag; it follows again when the origin returns', async (t) => {
  const root = path.join(tempDir('down'), 'root');
  let origin = await startTestImgedgeOrigin({ root });
  const edge = await edgeFor(origin);
  t.after(() => edge.close());
  await holdTwo(origin, edge);
  const url = new URL(origin.url);
  await origin.close();
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_state', { state: 'retrying' })) === 1, 'the follower to notice');
  const started = performance.now();
  assert.match(await cacheStatus(edge, '/g/0.png'), /^imgedge; hit/);
  assert.ok(performance.now() - started < 1000);
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_lag_seconds')) > 0.2, 'the lag to show');

  origin = await startTestImgedgeOrigin({ root, args: ['--listen', `127.0.0.1:${url.port}`] });
  t.after(() => origin.close());
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_state', { state: 'following' })) === 1, 'the follower to return', 5000);
  const v = await samplePng(20);
  await origin.put('/g/0.png', v);
  await servesWithin(edge, '/g/0.png', v, 2000);
  assert.equal(await metricValue(edge.edge, 'imgedge_changelog_gaps_total'), 0);
});

test('tiering: a child edge follows its parent edge, which relays each entry once it has applied it', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const parent = await edgeFor(origin);
  t.after(() => parent.close());
  const child = await edgeFor({ url: parent.url });
  t.after(() => child.close());
  const v1 = await samplePng(30);
  await origin.put('/t/a.png', v1);
  await servesWithin(child, '/t/a.png', v1, 2000);
  const v2 = await samplePng(31);
  await origin.put('/t/a.png', v2);
  await servesWithin(child, '/t/a.png', v2, 2000);
  await origin.del('/t/a.png');
  await servesWithin(child, '/t/a.png', null, 2000);
  // The position is saved after the purge it counts.
  await until(async () => (await metricValue(child.edge, 'imgedge_changelog_position')) === 3, 'the child at position 3', 2000);
});

test('an origin without a change log costs the edge an occasional probe and nothing else; --changelog off asks nothing', async (t) => {
  const origin = await TestOrigin.start();
  t.after(() => origin.stop());
  let probes = 0;
  const counting = { url: origin.url };
  const { default: http } = await import('node:http');
  const proxy = http.createServer((req, res) => {
    if (req.url?.startsWith('/.imgedge/')) probes++;
    const upstream = http.request(`${origin.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { proxy.closeAllConnections(); proxy.close(() => resolve()); }));
  counting.url = `http://127.0.0.1:${(proxy.address() as import('node:net').AddressInfo).port}`;
  const edge = await startTestEdge(counting.url, { changelogTiming: QUICK });
  t.after(() => edge.close());
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_state', { state: 'no_log' })) === 1, 'the edge to find no log');
  origin.set('/a.jpg', { body: 'x' });
  for (let i = 0; i < 20; i++) assert.equal((await get(edge.url, '/a.jpg')).status, 200);
  assert.equal(probes, 1);
  assert.equal((await get(edge.url, '/.imgedge/changes?from=1')).status, 404, 'nothing to relay');

  const off = await startTestEdge(counting.url, { args: ['--changelog', 'off'] });
  t.after(() => off.close());
  assert.equal((await get(off.url, '/a.jpg')).status, 200);
  assert.equal(probes, 1);
  assert.equal(await metricValue(off.edge, 'imgedge_changelog_state', { state: 'off' }), 1);
});

test('an edge following a busy log saves its position about once a second, and the last one when it stops', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const cacheDir = path.join(tempDir('busy'), 'cache');
  const edge = await edgeFor(origin, { cacheDir });
  const file = path.join(cacheDir, POSITION_FILE);
  // Each save replaces the file (temp + rename): a new inode per save.
  const inodes = new Set<number>();
  const watch = setInterval(() => {
    try {
      inodes.add(fs.statSync(file).ino);
    } catch {
      // Not written yet.
    }
  }, 10);
  t.after(() => clearInterval(watch));
  const body = await samplePng(7);
  const writes = 40;
  const started = performance.now();
  for (let i = 0; i < writes; i++) {
    await origin.put(`/busy/${i}.png`, body);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === writes, 'every entry applied');
  const seconds = (performance.now() - started) / 1000;
  await edge.close();
  clearInterval(watch);
  inodes.add(fs.statSync(file).ino);
  assert.ok(inodes.size <= Math.ceil(seconds) + 2, `${inodes.size} saves in ${seconds.toFixed(1)} s of entries`);
  assert.equal((JSON.parse(fs.readFileSync(file, 'utf8')) as { seq: number }).seq, writes);
});

test('an edge whose saved position is ahead of the log (a log restored from an older copy) revalidates everything it holds', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const cacheDir = path.join(tempDir('ahead'), 'cache');
  const first = await edgeFor(origin, { cacheDir });
  await holdTwo(origin, first);
  await first.close();
  const file = path.join(cacheDir, POSITION_FILE);
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { seq: number };
  fs.writeFileSync(file, JSON.stringify({ ...saved, seq: saved.seq + 100 }));
  const second = await edgeFor(origin, { cacheDir });
  t.after(() => second.close());
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_gaps_total', { reason: 'ahead' }), 1);
  assert.match(await cacheStatus(second, '/g/0.png'), /fwd=stale; fwd-status=304/);
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_position'), origin.origin.store.log.last);
});

test('an edge whose --origin has a path prefix applies the changes under it, in its own paths', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const edge = await edgeFor({ url: `${origin.url}/shop` });
  t.after(() => edge.close());
  const v1 = await samplePng(40);
  await origin.put('/shop/a.png', v1);
  await servesWithin(edge, '/a.png', v1, 2000);
  const v2 = await samplePng(41);
  await origin.put('/shop/a.png', v2);
  await origin.put('/elsewhere/a.png', v1);
  await servesWithin(edge, '/a.png', v2, 2000);
});

test('tiering under a path prefix: the parent relays changes in its own paths, leaving out the rest', async (t) => {
  const origin = await startTestImgedgeOrigin();
  t.after(() => origin.close());
  const parent = await edgeFor({ url: `${origin.url}/shop` });
  t.after(() => parent.close());
  const child = await edgeFor({ url: parent.url });
  t.after(() => child.close());
  // One tier more: the child relays a log whose numbers skip.
  const grandchild = await edgeFor({ url: child.url });
  t.after(() => grandchild.close());
  const v1 = await samplePng(50);
  await origin.put('/shop/a.png', v1);
  await servesWithin(grandchild, '/a.png', v1, 2000);
  for (let i = 0; i < 5; i++) await origin.put(`/elsewhere/${i}.png`, v1);
  const v2 = await samplePng(51);
  await origin.put('/shop/a.png', v2);
  await servesWithin(grandchild, '/a.png', v2, 2000);
  await servesWithin(child, '/a.png', v2, 2000);
  const v3 = await samplePng(52);
  await origin.put('/shop/a.png', v3);
  await servesWithin(grandchild, '/a.png', v3, 2000);
  await until(async () => (await metricValue(child.edge, 'imgedge_changelog_position')) === origin.origin.store.log.last, 'the child at the end', 2000);
  assert.equal(await metricValue(child.edge, 'imgedge_changelog_entries_applied_total'), 3, 'only the changes under /shop reached the child');
});
