// `imgedge origin --changelog redis://`: each acknowledged write appends one
// entry to the stream, which edges follow; a write whose entry cannot be
// appended is answered 503, and its retry logs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEdge, until, metricValue } from '../helpers/edge.js';
import { get, sha256 } from '../helpers/http.js';
import { NO_REDIS, startRedis } from '../helpers/redis.js';
import { samplePng, startTestImgedgeOrigin } from '../helpers/imgedge-origin.js';
import { RedisAppender } from '../../src/changelog/redis-appender.js';
import { parseRedisUrl } from '../../src/changelog/redis-url.js';

const STREAM = 'imgedge:changes';

function fieldsOf(entry: [string, string[]]): Record<string, string> {
  const [, flat] = entry;
  return Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]!]] : [])));
}

test('each PUT and DELETE appends one entry (op, path, etag) before its answer; an edge on the stream follows', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const origin = await startTestImgedgeOrigin({ args: ['--changelog', redis.url] });
  t.after(() => origin.close());
  const edge = await startTestEdge(origin.url, { args: ['--changelog', redis.url], changelogTiming: { minBackoffMs: 20, maxBackoffMs: 200, waitSec: 5 } });
  t.after(() => edge.close());
  await until(async () => (await metricValue(edge.edge, 'imgedge_changelog_state', { state: 'following' })) === 1, 'the edge to follow');

  const [v1, v2] = await Promise.all([1, 2].map((i) => samplePng(i)));
  const created = await origin.put('/o/a.png', v1!);
  assert.equal(created.status, 201);
  // In the stream by the time the uploader hears back.
  const entries = (await redis.client.xrange(STREAM, '-', '+')) as [string, string[]][];
  assert.equal(entries.length, 1);
  assert.deepEqual(fieldsOf(entries[0]!), { op: 'put', path: '/o/a.png', etag: created.headers.get('etag')! });
  assert.equal(created.headers.get('x-imgedge-seq'), '1');
  assert.equal(sha256((await get(edge.url, '/o/a.png')).body), sha256(v1!));

  assert.equal((await origin.put('/o/a.png', v2!)).status, 204);
  await until(async () => sha256((await get(edge.url, '/o/a.png')).body) === sha256(v2!), 'the overwrite at the edge', 2000);
  assert.equal((await origin.del('/o/a.png')).status, 204);
  await until(async () => (await get(edge.url, '/o/a.png')).status === 404, 'the delete at the edge', 2000);
  const all = ((await redis.client.xrange(STREAM, '-', '+')) as [string, string[]][]).map(fieldsOf);
  assert.deepEqual(all.map((f) => [f.op, f.path]), [['put', '/o/a.png'], ['put', '/o/a.png'], ['delete', '/o/a.png']]);
  // The log is on Redis: the origin serves none of its own.
  assert.equal((await fetch(`${origin.url}/.imgedge/changes?from=1`)).status, 404);
});

test('with Redis down a write is answered 503 (Retry-After) and nothing is acknowledged; its retry is logged', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const origin = await startTestImgedgeOrigin({ args: ['--changelog', redis.url] });
  t.after(() => origin.close());
  const [v1, v2] = await Promise.all([3, 4].map((i) => samplePng(i)));
  assert.equal((await origin.put('/d/a.png', v1!)).status, 201);

  await redis.kill();
  const refused = await origin.put('/d/a.png', v2!);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '1');
  assert.equal((await origin.del('/d/a.png')).status, 503);

  await redis.restart();
  const retried = await origin.put('/d/a.png', v2!);
  assert.ok(retried.status === 201 || retried.status === 204, `retry answered ${retried.status}`);
  // The DELETE that got 503 took the file away; its retry finds none, answers 404, and logs it all the same.
  assert.equal((await origin.del('/d/gone.png')).status, 404);
  const fields = ((await redis.client.xrange(STREAM, '-', '+')) as [string, string[]][]).map(fieldsOf);
  assert.deepEqual(fields.map((f) => `${f.op} ${f.path}`), ['put /d/a.png', 'put /d/a.png', 'delete /d/gone.png']);
  assert.equal(fields[1]!.etag, retried.headers.get('etag'));
});

test('the stream is trimmed to about --changelog-max-entries, and sequences count every entry ever added', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const appender = new RedisAppender(parseRedisUrl(redis.url), 1000);
  t.after(() => appender.close());
  let last = 0;
  for (let i = 0; i < 3000; i++) last = (await appender.append({ op: 'put', path: `/m/${i}` })).seq;
  assert.equal(last, 3000);
  const length = await redis.client.xlen(STREAM);
  assert.ok(length >= 1000 && length < 1500, `${length} entries held`);
});
