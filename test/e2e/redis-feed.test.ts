// Edges following a Redis stream (contract: "Change feed on Redis"), against
// real redis-server processes: a foreign writer's entry, prefixes, an edge on
// a replica, a restart that resumes, a trimmed or reset stream, and Redis
// killed and back. The origin is a plain HTTP server that keeps no log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestEdge, tempDir, until, metricValue, type TestEdge } from '../helpers/edge.js';
import { get, sha256 } from '../helpers/http.js';
import { Gate, TestOrigin } from '../helpers/origin.js';
import { NO_REDIS, startRedis, type TestRedis } from '../helpers/redis.js';
import { samplePng } from '../helpers/imgedge-origin.js';
import { POSITION_FILE } from '../../src/changelog/position.js';

const QUICK = { minBackoffMs: 20, maxBackoffMs: 200, waitSec: 5 };
const STREAM = 'imgedge:changes';

async function edgeOn(origin: TestOrigin, redisUrl: string, options: { cacheDir?: string } = {}): Promise<TestEdge> {
  const edge = await startTestEdge(origin.url, { ...options, args: ['--changelog', redisUrl], changelogTiming: QUICK });
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_state', { state: 'following' })) === 1, 'the edge to follow the stream');
  return edge;
}

async function serves(edge: TestEdge, target: string, body: Buffer, ms = 2000): Promise<void> {
  await until(async () => {
    const res = await get(edge.url, target);
    return res.status === 200 && sha256(res.body) === sha256(body);
  }, `${target} to serve ${sha256(body).slice(0, 8)}`, ms);
}

async function cacheStatus(edge: TestEdge, target: string): Promise<string> {
  return String((await get(edge.url, target)).headers['cache-status']);
}

/** The origin serves `images` under these paths; the edge fetches and stores each. */
async function hold(origin: TestOrigin, edge: TestEdge, images: Record<string, Buffer>): Promise<void> {
  for (const [target, body] of Object.entries(images)) origin.set(target, { body, headers: { 'content-type': 'image/png', etag: `"${sha256(body).slice(0, 16)}"`, 'cache-control': 'public, max-age=3600' } });
  for (const target of Object.keys(images)) assert.equal((await get(edge.url, target)).status, 200);
  await until(async () => (await metricValue(edge.edge, 'imgedge_cache_objects')) >= Object.keys(images).length, 'the objects stored');
  for (const target of Object.keys(images)) assert.match(await cacheStatus(edge, target), /^imgedge; hit/);
}

function change(origin: TestOrigin, target: string, body: Buffer): void {
  origin.set(target, { body, headers: { 'content-type': 'image/png', etag: `"${sha256(body).slice(0, 16)}"`, 'cache-control': 'public, max-age=3600' } });
}

async function setup(t: import('node:test').TestContext): Promise<{ origin: TestOrigin; redis: TestRedis }> {
  const origin = await TestOrigin.start();
  t.after(() => origin.stop());
  const redis = await startRedis();
  t.after(() => redis.close());
  return { origin, redis };
}

test('a foreign writer\'s XADD drops the path, whatever its query string, within 2 s; a prefix drops what is under it', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const edge = await edgeOn(origin, redis.url);
  t.after(() => edge.close());
  const [a, b, c] = await Promise.all([1, 2, 3].map((i) => samplePng(i)));
  await hold(origin, edge, { '/photos/cat.jpg': a!, '/photos/cat.jpg?v=2': a!, '/photos/sub/dog.jpg': b!, '/other/x.jpg': c! });

  const a2 = await samplePng(4);
  change(origin, '/photos/cat.jpg', a2);
  change(origin, '/photos/cat.jpg?v=2', a2);
  // Exactly what another upload service would send.
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/photos/cat.jpg');
  await serves(edge, '/photos/cat.jpg', a2);
  await serves(edge, '/photos/cat.jpg?v=2', a2);
  assert.match(await cacheStatus(edge, '/photos/sub/dog.jpg'), /^imgedge; hit/);

  const b2 = await samplePng(5);
  change(origin, '/photos/sub/dog.jpg', b2);
  change(origin, '/photos/cat.jpg', a!);
  await redis.client.xadd(STREAM, '*', 'op', 'purge', 'prefix', '/photos/');
  await serves(edge, '/photos/sub/dog.jpg', b2);
  await serves(edge, '/photos/cat.jpg', a!);
  assert.match(await cacheStatus(edge, '/other/x.jpg'), /^imgedge; hit/, 'outside the prefix: untouched');

  // An entry it cannot use is counted and passed over, not a reason to stop.
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'note', 'no path here');
  change(origin, '/other/x.jpg', b2);
  await redis.client.xadd(STREAM, '*', 'op', 'delete', 'path', '/other/%78.jpg');
  await serves(edge, '/other/x.jpg', b2);
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 4, 'position 4');
  assert.equal(await metricValue(edge.edge, 'imgedge_changelog_entries_applied_total'), 4);
  assert.equal(await metricValue(edge.edge, 'imgedge_changelog_lag_entries'), 0);
  assert.equal(await metricValue(edge.edge, 'imgedge_changelog_gaps_total'), 0);
});

test('an edge reading from a replica sees what was added at the primary', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const replica = await startRedis({ replicaOf: redis });
  t.after(() => replica.close());
  const edge = await edgeOn(origin, `${replica.url}/0?stream=${encodeURIComponent(STREAM)}`);
  t.after(() => edge.close());
  const [a, a2] = await Promise.all([10, 11].map((i) => samplePng(i)));
  await hold(origin, edge, { '/r/a.png': a! });
  change(origin, '/r/a.png', a2!);
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/r/a.png', 'etag', '"x"');
  await serves(edge, '/r/a.png', a2!);
});

test('a position is saved only once the purges it counts are on disk: an entry naming a fill under way waits for that fill to end', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const cacheDir = path.join(tempDir('purges-durable'), 'cache');
  const edge = await edgeOn(origin, redis.url, { cacheDir });
  t.after(() => edge.close());
  const file = path.join(cacheDir, POSITION_FILE);
  const savedSeq = () => (fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { seq: number }).seq : null);
  await until(async () => savedSeq() === 0, 'the starting position saved');
  const body = await samplePng(30);
  const gate = new Gate();
  origin.set('/slow/a.png', { body, gate, gateAfter: 100, headers: { 'content-type': 'image/png', etag: '"slow-a"', 'cache-control': 'public, max-age=3600' } });
  const fetching = get(edge.url, '/slow/a.png');
  await until(async () => origin.count('/slow/a.png') === 1, 'the fill under way');
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/slow/a.png');
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 1, 'the entry applied');
  // Past the once-a-second limit: only the fill the entry named holds the save back.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(savedSeq(), 0, 'not saved while a fill the entry dropped may still commit');
  gate.open();
  assert.equal((await fetching).status, 200);
  await until(async () => savedSeq() === 1, 'saved once the fill ended');
  assert.match(await cacheStatus(edge, '/slow/a.png'), /fwd=miss/, 'the dropped fill was not kept');
});

test('a restarted edge resumes after the last ID it applied: the changed path is refetched, the rest stays a hit', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const cacheDir = path.join(tempDir('redis-resume'), 'cache');
  const images = await Promise.all([20, 21, 22].map((i) => samplePng(i)));
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/before/start.png');
  const first = await edgeOn(origin, redis.url, { cacheDir });
  await hold(origin, first, { '/s/0.png': images[0]!, '/s/1.png': images[1]! });
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/elsewhere.png');
  await until(async () => (await metricValue(first.edge, 'imgedge_changelog_position')) === 2, 'the first edge at entry 2');
  await first.close();
  const saved = JSON.parse(fs.readFileSync(path.join(cacheDir, POSITION_FILE), 'utf8')) as { seq: number; id: string; log: string };
  assert.equal(saved.seq, 2);
  assert.match(saved.id, /^\d+-\d+$/);

  change(origin, '/s/0.png', images[2]!);
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/s/0.png');
  const before = origin.requests.length;
  const second = await edgeOn(origin, redis.url, { cacheDir });
  t.after(async () => {
    await second.close();
    fs.rmSync(path.dirname(cacheDir), { recursive: true, force: true });
  });
  await until(async () => (await metricValue(second.edge, 'imgedge_changelog_position')) === 3, 'the second edge at entry 3');
  const unchanged = await get(second.url, '/s/1.png');
  assert.match(String(unchanged.headers['cache-status']), /^imgedge; hit/);
  assert.equal(sha256((await get(second.url, '/s/0.png')).body), sha256(images[2]!));
  assert.deepEqual(origin.requests.slice(before).map((r) => r.url), ['/s/0.png'], 'only the changed path went to the origin');
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_gaps_total'), 0);
});

test('an edge restarted while the origin fails serves nothing a write replaced while it was down, though its log answers late', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const cacheDir = path.join(tempDir('redis-doubt'), 'cache');
  const old = await samplePng(40);
  const first = await edgeOn(origin, redis.url, { cacheDir });
  await hold(origin, first, { '/d/x.png': old });
  await first.close();
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/d/x.png');
  origin.set('/d/x.png', { status: 503, body: 'down', headers: { 'content-type': 'text/plain' } });
  // Redis answers nobody for a while: the restarted edge serves before it has read the entry.
  await redis.client.call('CLIENT', 'PAUSE', '700');
  const second = await startTestEdge(origin.url, { cacheDir, args: ['--changelog', redis.url], changelogTiming: QUICK });
  t.after(() => second.close());
  const answer = await get(second.url, '/d/x.png');
  assert.notEqual(sha256(answer.body), sha256(old), 'the replaced bytes, served as stale-if-error');
  assert.equal(answer.status, 503);
});

test('a position trimmed away, or a stream deleted, makes the edge revalidate what it holds, dropping nothing', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const cacheDir = path.join(tempDir('redis-trim'), 'cache');
  const [a, b, b2] = await Promise.all([30, 31, 32].map((i) => samplePng(i)));
  const first = await edgeOn(origin, redis.url, { cacheDir });
  await hold(origin, first, { '/t/a.png': a!, '/t/b.png': b! });
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/elsewhere.png');
  await until(async () => (await metricValue(first.edge, 'imgedge_changelog_position')) === 1, 'the first edge at entry 1');
  await first.close();

  // While it is away: the change it must not miss, then enough others for MAXLEN to drop it.
  change(origin, '/t/b.png', b2!);
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/t/b.png');
  for (let i = 0; i < 20; i++) await redis.client.xadd(STREAM, 'MAXLEN', '5', '*', 'op', 'put', 'path', `/filler/${i}`);
  const second = await edgeOn(origin, redis.url, { cacheDir });
  t.after(async () => {
    await second.close();
    fs.rmSync(path.dirname(cacheDir), { recursive: true, force: true });
  });
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_gaps_total', { reason: 'trimmed' }), 1);
  const unchanged = await get(second.url, '/t/a.png');
  assert.match(String(unchanged.headers['cache-status']), /fwd=stale; fwd-status=304/, 'revalidated, not refetched');
  assert.equal(sha256((await get(second.url, '/t/b.png')).body), sha256(b2!), 'the change it missed is not served stale');
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_position'), 22);
  await until(async () => /^imgedge; hit/.test(await cacheStatus(second, '/t/a.png')), 'a hit after the revalidation');

  // The stream deleted under a following edge (a Redis restored without it).
  await redis.client.del(STREAM);
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/elsewhere.png');
  await until(async () => (await metricValue(second.edge, 'imgedge_changelog_gaps_total')) === 2, 'the edge to see the stream gone');
  assert.equal(await metricValue(second.edge, 'imgedge_changelog_gaps_total', { reason: 'ahead' }) + await metricValue(second.edge, 'imgedge_changelog_gaps_total', { reason: 'reset' }), 1);
  assert.match(await cacheStatus(second, '/t/a.png'), /fwd=stale; fwd-status=304/);
});

test('Redis killed: the edge keeps serving hits at full speed and reports its lag; back, it follows again from where it was', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const edge = await edgeOn(origin, redis.url);
  t.after(() => edge.close());
  const [a, a2] = await Promise.all([40, 41].map((i) => samplePng(i)));
  await hold(origin, edge, { '/k/a.png': a! });
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/elsewhere.png');
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 1, 'entry 1 applied');

  await redis.kill();
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_state', { state: 'retrying' })) === 1, 'the follower to notice');
  const started = performance.now();
  assert.match(await cacheStatus(edge, '/k/a.png'), /^imgedge; hit/);
  assert.ok(performance.now() - started < 1000);
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_lag_seconds')) > 0.2, 'the lag to show');

  await redis.restart();
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_state', { state: 'following' })) === 1, 'the follower to return', 5000);
  change(origin, '/k/a.png', a2!);
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/k/a.png');
  await serves(edge, '/k/a.png', a2!);
  // The position is saved just after the purge it counts.
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 2, 'entry 2 applied');
  assert.equal(await metricValue(edge.edge, 'imgedge_changelog_gaps_total'), 0, 'the append-only file kept the stream: nothing was lost');
});

test('an entry deleted (XDEL) before the edge read it is a gap; so is a stream restored with fewer entries than the edge read', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const cacheDir = path.join(tempDir('redis-xdel'), 'cache');
  t.after(() => fs.rmSync(path.dirname(cacheDir), { recursive: true, force: true }));
  /** An edge restarted on the cache dir sees this gap, and still serves what it holds after revalidating it. */
  const restartSees = async (reason: string) => {
    const edge = await edgeOn(origin, redis.url, { cacheDir });
    try {
      assert.equal(await metricValue(edge.edge, 'imgedge_changelog_gaps_total', { reason }), 1, reason);
      assert.match(await cacheStatus(edge, '/x/a.png'), /fwd=stale; fwd-status=304/);
    } finally {
      await edge.close();
    }
  };
  const a = await samplePng(50);
  const first = await edgeOn(origin, redis.url, { cacheDir });
  await hold(origin, first, { '/x/a.png': a });
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/first.png');
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/second.png');
  await until(async () => (await metricValue(first.edge, 'imgedge_changelog_position')) === 2, 'entries 1 and 2 applied');
  await first.close();

  // Added and deleted while the edge was away: it cannot know what that entry said.
  const gone = await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/x/a.png');
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/elsewhere.png');
  await redis.client.xdel(STREAM, gone!);
  await restartSees('trimmed');

  // Restored from an older copy: the stream has added fewer entries than the edge has read.
  await redis.client.del(STREAM);
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/elsewhere.png');
  await restartSees('ahead');
});

test('tiering: a child edge in auto mode follows a parent that follows the stream, prefixes included', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const parent = await edgeOn(origin, redis.url);
  t.after(() => parent.close());
  const child = await startTestEdge(parent.url, { changelogTiming: QUICK });
  t.after(() => child.close());
  await until(async () => (await metricValue(child.edge, 'imgedge_changelog_state', { state: 'following' })) === 1, 'the child to follow its parent');
  const [a, a2, b, b2] = await Promise.all([60, 61, 62, 63].map((i) => samplePng(i)));
  await hold(origin, child, { '/t/a.png': a!, '/t/sub/b.png': b! });
  change(origin, '/t/a.png', a2!);
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/t/a.png');
  await serves(child, '/t/a.png', a2!);
  change(origin, '/t/sub/b.png', b2!);
  await redis.client.xadd(STREAM, '*', 'op', 'purge', 'prefix', '/t/sub/');
  await serves(child, '/t/sub/b.png', b2!);
  assert.equal(await metricValue(child.edge, 'imgedge_changelog_gaps_total'), 0);
});

test('an entry trimmed away while the edge waits for it is a gap, found on the check after the wake-up', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const edge = await edgeOn(origin, redis.url);
  t.after(() => edge.close());
  const a = await samplePng(70);
  await hold(origin, edge, { '/w/a.png': a });
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/elsewhere.png');
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 1, 'entry 1 applied');
  // Atomically: an entry, trimmed away at once, then another: the waiting edge is woken by the second only.
  await redis.client.multi()
    .xadd(STREAM, '*', 'op', 'put', 'path', '/w/a.png')
    .xtrim(STREAM, 'MAXLEN', 0)
    .xadd(STREAM, '*', 'op', 'put', 'path', '/elsewhere.png')
    .exec();
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_gaps_total', { reason: 'trimmed' })) === 1, 'the trimmed gap');
  assert.match(await cacheStatus(edge, '/w/a.png'), /fwd=stale; fwd-status=304/);
  assert.equal(await metricValue(edge.edge, 'imgedge_changelog_position'), 3);
});

test('a replica restarted empty: what its first sync brings is applied though no write follows it', { skip: NO_REDIS }, async (t) => {
  const { origin, redis } = await setup(t);
  const replica = await startRedis({ replicaOf: redis });
  t.after(() => replica.close());
  // The long poll of an edge as it ships, not the tests' quick one: Redis
  // wakes a blocked read when a write comes or a stream it held is replaced,
  // not when a sync loads a stream it did not hold.
  const edge = await startTestEdge(origin.url, {
    args: ['--changelog', `${replica.url}/0?stream=${encodeURIComponent(STREAM)}`],
    changelogTiming: { minBackoffMs: 20, maxBackoffMs: 200 },
  });
  t.after(() => edge.close());
  const [a, a2] = await Promise.all([60, 61].map((i) => samplePng(i)));
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/elsewhere.png');
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_position')) === 1, 'entry 1 applied');
  await hold(origin, edge, { '/f/a.png': a! });

  // Back without its data, the replica serves an empty database until its
  // full sync, whose snapshot the primary takes seconds later (Redis's
  // repl-diskless-sync-delay): a write meanwhile reaches it in that load.
  await replica.kill();
  fs.rmSync(replica.dir, { recursive: true, force: true });
  fs.mkdirSync(replica.dir);
  const back = replica.restart();
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_gaps_total', { reason: 'reset' })) === 1, 'the edge to find the stream gone');
  assert.match(await cacheStatus(edge, '/f/a.png'), /fwd=stale; fwd-status=304/, 'revalidated after the gap, and fresh again');
  change(origin, '/f/a.png', a2!);
  await redis.client.xadd(STREAM, '*', 'op', 'put', 'path', '/f/a.png');
  await back;
  // The edge's read blocks for a few seconds at most, so the entry is applied
  // well before the 25 s long poll would have ended.
  await serves(edge, '/f/a.png', a2!, 15_000);
});
