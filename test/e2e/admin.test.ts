// The admin port: health, readiness, metrics that move, purge with its token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestOrigin } from '../helpers/origin.js';
import { get, request, bytes } from '../helpers/http.js';
import { startTestEdge, until, type TestEdge } from '../helpers/edge.js';

const TOKEN = 'admin-secret-token';
let origin: TestOrigin;
let edge: TestEdge;

before(async () => {
  origin = await TestOrigin.start();
  edge = await startTestEdge(origin.url, { args: ['--admin-token', TOKEN] });
});

after(async () => {
  await edge.close();
  await origin.stop();
});

/** Prometheus text → sample name{labels} → value. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

async function scrape(): Promise<Map<string, number>> {
  const res = await get(edge.adminUrl, '/metrics');
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /text\/plain/);
  return parseMetrics(res.body.toString());
}

function sample(samples: Map<string, number>, name: string): number {
  return samples.get(name) ?? 0;
}

test('/healthz and /readyz answer 200; the public port has neither, nor /metrics', async () => {
  assert.equal((await get(edge.adminUrl, '/healthz')).status, 200);
  assert.equal((await get(edge.adminUrl, '/readyz')).status, 200);
  origin.set('/metrics', { status: 404, body: 'origin 404', headers: { 'content-type': 'text/plain' } });
  const pub = await get(edge.url, '/metrics');
  assert.doesNotMatch(pub.body.toString(), /imgedge_/);
});

test('metrics appear and move as requests are made', async () => {
  const before = await scrape();
  for (const name of [
    'imgedge_cache_bytes', 'imgedge_cache_objects', 'imgedge_origin_fetches_in_flight',
    'imgedge_process_cpu_seconds_total', 'imgedge_nodejs_heap_size_used_bytes',
  ]) {
    assert.ok(before.has(name), `${name} is exported`);
  }
  for (const name of before.keys()) assert.match(name, /^imgedge_/);

  origin.set('/m/a.jpg', { body: bytes(10_000, 'metrics') });
  await get(edge.url, '/m/a.jpg');
  await until(async () => sample(await scrape(), 'imgedge_cache_objects') >= 1, 'the object to be counted');
  await get(edge.url, '/m/a.jpg');
  await get(edge.url, '/m/a.jpg');
  const hits = 'imgedge_requests_total{cache_status="hit",status_class="2xx"}';
  const misses = 'imgedge_requests_total{cache_status="miss",status_class="2xx"}';
  // A request is counted when its response closes, a moment after the client has it all.
  const after = await until(async () => {
    const now = await scrape();
    const counted = sample(now, hits) - sample(before, hits) >= 2 && sample(now, misses) - sample(before, misses) >= 1;
    const fetched = sample(now, 'imgedge_origin_fetches_total{result="ok"}') - sample(before, 'imgedge_origin_fetches_total{result="ok"}') >= 1;
    return counted && fetched ? now : null;
  }, 'the requests and the origin fetch to be counted');
  assert.equal(sample(after, hits) - sample(before, hits), 2);
  assert.equal(sample(after, misses) - sample(before, misses), 1);
  const hitBytes = sample(after, 'imgedge_response_bytes_total{cache_status="hit"}') - sample(before, 'imgedge_response_bytes_total{cache_status="hit"}');
  assert.ok(hitBytes > 20_000 && hitBytes < 22_000, `${hitBytes} bytes on the wire for two 10,000-byte hits`);
  assert.equal(sample(after, 'imgedge_origin_fetches_total{result="ok"}') - sample(before, 'imgedge_origin_fetches_total{result="ok"}'), 1);
  assert.equal(
    sample(after, 'imgedge_origin_fetch_duration_seconds_count{result="ok"}') - sample(before, 'imgedge_origin_fetch_duration_seconds_count{result="ok"}'),
    1,
  );
  assert.ok(sample(after, 'imgedge_cache_bytes') >= 10_000);
  assert.equal(sample(after, 'imgedge_cache_max_bytes'), 10 * 1024 ** 3);
  for (const name of after.keys()) assert.doesNotMatch(name, /\/m\/a\.jpg/, 'no path in any label');
});

test('purge: 401 without the right token; paths, their queries and prefixes go; one audit line', async () => {
  for (const p of ['/p/a.jpg', '/p/a.jpg?v=2', '/p/b.jpg', '/q/c.jpg']) origin.set(p.split('?')[0]!, { body: `body of ${p}` });
  for (const p of ['/p/a.jpg', '/p/a.jpg?v=2', '/p/b.jpg', '/q/c.jpg']) await get(edge.url, p);
  await until(async () => sample(await scrape(), 'imgedge_cache_objects') >= 4, 'four objects stored');

  const body = JSON.stringify({ paths: ['/p/a.jpg'] });
  const json = { 'content-type': 'application/json' };
  assert.equal((await request(edge.adminUrl, '/purge', { method: 'POST', body, headers: json })).status, 401);
  assert.equal((await request(edge.adminUrl, '/purge', { method: 'POST', body, headers: { ...json, authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await request(edge.adminUrl, '/purge', { method: 'POST', body, headers: { ...json, authorization: `Basic ${TOKEN}` } })).status, 401);

  const auth = { ...json, authorization: `Bearer ${TOKEN}` };
  const byPath = await request(edge.adminUrl, '/purge', { method: 'POST', body, headers: auth });
  assert.equal(byPath.status, 200);
  assert.deepEqual(JSON.parse(byPath.body.toString()), { purged: 2 });
  for (const p of ['/p/a.jpg', '/p/a.jpg?v=2']) assert.match(String((await get(edge.url, p)).headers['cache-status']), /fwd=miss/, p);
  assert.match(String((await get(edge.url, '/p/b.jpg')).headers['cache-status']), /^imgedge; hit/);

  const byPrefix = await request(edge.adminUrl, '/purge', { method: 'POST', body: JSON.stringify({ prefixes: ['/p/'] }), headers: auth });
  assert.equal(byPrefix.status, 200);
  assert.ok(JSON.parse(byPrefix.body.toString()).purged >= 1);
  assert.match(String((await get(edge.url, '/p/b.jpg')).headers['cache-status']), /fwd=miss/);
  assert.match(String((await get(edge.url, '/q/c.jpg')).headers['cache-status']), /^imgedge; hit/);

  const bad = await request(edge.adminUrl, '/purge', { method: 'POST', body: JSON.stringify({ paths: 'nope' }), headers: auth });
  assert.equal(bad.status, 400);
  const metrics = await scrape();
  assert.ok(sample(metrics, 'imgedge_purges_total{kind="path"}') >= 1);
  assert.ok(sample(metrics, 'imgedge_purges_total{kind="prefix"}') >= 1);
});

test('purge is refused when no token is configured', async () => {
  const open = await startTestEdge(origin.url);
  try {
    const res = await request(open.adminUrl, '/purge', {
      method: 'POST',
      body: JSON.stringify({ paths: ['/x.jpg'] }),
      headers: { 'content-type': 'application/json', authorization: 'Bearer anything' },
    });
    assert.equal(res.status, 403);
  } finally {
    await open.close();
  }
});
