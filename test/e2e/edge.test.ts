// The public port from outside: pull-through, headers, HEAD, methods, paths,
// eviction. A real origin and a real edge on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestOrigin } from '../helpers/origin.js';
import { get, request, bytes, sha256 } from '../helpers/http.js';
import { startTestEdge, tempDir, until, metricValue, type TestEdge } from '../helpers/edge.js';
import { keyHash } from '../../src/cache/key.js';

let origin: TestOrigin;
let edge: TestEdge;

before(async () => {
  origin = await TestOrigin.start();
  edge = await startTestEdge(origin.url);
});

after(async () => {
  await edge.close();
  await origin.stop();
});

test('a miss is fetched, stored and served; the hit has the same bytes and headers, Age and Cache-Status', async () => {
  const body = bytes(300_000, 'pull');
  origin.set('/pull/a.jpg', { body, extraHeaders: { 'x-origin-header': 'kept' } });
  const miss = await get(edge.url, '/pull/a.jpg');
  assert.equal(miss.status, 200);
  assert.equal(sha256(miss.body), sha256(body));
  assert.equal(miss.headers['cache-status'], 'imgedge; fwd=miss; stored; ttl=3600');
  assert.equal(miss.headers['content-length'], String(body.length));
  assert.equal(miss.headers['x-origin-header'], 'kept');

  await until(async () => (await metricValue(edge.edge, 'imgedge_cache_objects')) >= 1, 'the object to be stored');
  const hit = await get(edge.url, '/pull/a.jpg');
  assert.equal(sha256(hit.body), sha256(body));
  assert.match(String(hit.headers['cache-status']), /^imgedge; hit; ttl=\d+$/);
  assert.match(String(hit.headers.age), /^\d+$/);
  for (const name of ['content-type', 'content-length', 'etag', 'last-modified', 'cache-control', 'x-origin-header']) {
    assert.equal(hit.headers[name], miss.headers[name], name);
  }
  assert.equal(origin.count('/pull/a.jpg'), 1);
});

/** Deletes the stored file of `key` behind the edge's back, so that only a copy in memory can still serve it. */
function deleteStoredFile(key: string): void {
  const hash = keyHash(key);
  const dir = path.join(edge.cacheDir, 'objects', hash.slice(0, 2));
  const files = fs.readdirSync(dir).filter((name) => name.startsWith(hash));
  assert.equal(files.length, 1, `one stored file for ${key}`);
  fs.rmSync(path.join(dir, files[0]!));
}

test('a small object is held in memory from its commit: the first hit after it reads no disk', async () => {
  const small = bytes(20_000, 'held');
  const large = bytes(1536 * 1024, 'not held');
  origin.set('/held/small.jpg', { body: small });
  origin.set('/held/large.jpg', { body: large });
  const stored = await metricValue(edge.edge, 'imgedge_cache_objects');
  await get(edge.url, '/held/small.jpg');
  await get(edge.url, '/held/large.jpg');
  await until(async () => (await metricValue(edge.edge, 'imgedge_cache_objects')) >= stored + 2, 'both to be stored');
  deleteStoredFile('/held/small.jpg');
  deleteStoredFile('/held/large.jpg');
  const hit = await get(edge.url, '/held/small.jpg');
  assert.equal(sha256(hit.body), sha256(small));
  assert.match(String(hit.headers['cache-status']), /hit/);
  assert.equal(origin.count('/held/small.jpg'), 1);
  // Larger than a memory copy may be (1 MiB with the default --memory-cache-bytes): read from disk, found gone, fetched again.
  assert.equal(sha256((await get(edge.url, '/held/large.jpg')).body), sha256(large));
  assert.equal(origin.count('/held/large.jpg'), 2);
});

test('the query is part of the object and reaches the origin', async () => {
  origin.set('/q.jpg', (req) => ({ body: `query ${new URL(req.url!, 'http://x').search}` }));
  assert.equal((await get(edge.url, '/q.jpg?v=1')).body.toString(), 'query ?v=1');
  assert.equal((await get(edge.url, '/q.jpg?v=2')).body.toString(), 'query ?v=2');
  assert.equal(origin.count('/q.jpg?v=1'), 1);
  assert.equal(origin.count('/q.jpg?v=2'), 1);
});

test('HEAD carries the GET headers and no body; a cold HEAD fills the cache', async () => {
  const body = bytes(4321, 'head');
  origin.set('/head.jpg', { body });
  const head = await request(edge.url, '/head.jpg', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], '4321');
  assert.equal(head.headers['content-type'], 'image/jpeg');
  await until(async () => (await get(edge.url, '/head.jpg')).headers['cache-status']?.toString().startsWith('imgedge; hit'), 'the HEAD to have stored the object');
  assert.equal(origin.requests.filter((r) => r.url === '/head.jpg').every((r) => r.method === 'GET'), true);
  const hitHead = await request(edge.url, '/head.jpg', { method: 'HEAD' });
  assert.equal(hitHead.headers['content-length'], '4321');
  assert.equal(hitHead.body.length, 0);
});

test('methods other than GET and HEAD are 405 with Allow, bodies unread, origin untouched', async () => {
  const before = origin.requests.length;
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const res = await request(edge.url, '/head.jpg', {
      method,
      body: 'x'.repeat(1000),
      headers: { 'content-type': 'application/json', 'content-length': '1000' },
    });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.allow, 'GET, HEAD');
    assert.match(String(res.headers['cache-status']), /^imgedge/);
  }
  assert.equal(origin.requests.length, before);
});

test('paths that escape the root, hold a NUL or are too long are 400 and never reach the origin', async () => {
  const before = origin.requests.length;
  const attempts = [
    '/../etc/passwd', '/a/../../etc/passwd', '/%2e%2e/etc/passwd', '/a/%2E%2E/%2e%2e/etc/passwd',
    '/.%2e/etc/passwd', '/a/..%2f..%2fetc/passwd', '/a/..%5c..%5cetc', '/a%00.jpg', '/a.jpg%00',
    `/${'a'.repeat(2100)}.jpg`, '/%zz.jpg', '/a.jpg?x=%00',
  ];
  for (const attempt of attempts) {
    const res = await get(edge.url, attempt);
    assert.equal(res.status, 400, attempt);
  }
  assert.equal(origin.requests.length, before);
});

test('paths are normalised before use: one object for the equivalent spellings', async () => {
  origin.set('/norm/b.jpg', { body: 'normalised' });
  for (const spelling of ['/norm/b.jpg', '/norm/./b.jpg', '/norm//b.jpg', '/x/../norm/b.jpg', '/norm/%62.jpg']) {
    const res = await get(edge.url, spelling);
    assert.equal(res.body.toString(), 'normalised', spelling);
  }
  assert.equal(origin.count('/norm/b.jpg'), 1);
});

test('origin 404 passes through and is remembered; other statuses are not stored', async () => {
  const missing = await get(edge.url, '/nothing-here.jpg');
  assert.equal(missing.status, 404);
  await until(async () => (await get(edge.url, '/nothing-here.jpg')).headers['cache-status']?.toString().startsWith('imgedge; hit'), 'the 404 to be remembered');
  assert.equal(origin.count('/nothing-here.jpg'), 1);
  origin.set('/forbidden.jpg', { status: 403, body: 'no', headers: { 'content-type': 'text/plain' } });
  assert.equal((await get(edge.url, '/forbidden.jpg')).status, 403);
  assert.equal((await get(edge.url, '/forbidden.jpg')).status, 403);
  assert.equal(origin.count('/forbidden.jpg'), 2);
});

test('origin failures: refused is 502, a timeout is 504, a 5xx passes through with its own status and body', async () => {
  const dead = await TestOrigin.start();
  await dead.stop();
  const refused = await startTestEdge(dead.url);
  const slow = await startTestEdge(origin.url, { args: ['--origin-timeout-ms', '200'] });
  try {
    assert.equal((await get(refused.url, '/x.jpg')).status, 502);
    origin.set('/hang.jpg', { hang: true });
    assert.equal((await get(slow.url, '/hang.jpg')).status, 504);
    origin.set('/stall.jpg', { body: bytes(100_000, 'stall'), stallAfter: 1000 });
    const stalled = await get(slow.url, '/stall.jpg');
    assert.ok(!(stalled.status === 200 && stalled.complete), 'a stalled body is never presented as complete');
    origin.set('/boom.jpg', { status: 503, body: 'down', headers: { 'content-type': 'text/plain' } });
    const boom = await get(edge.url, '/boom.jpg');
    assert.equal(boom.status, 503);
    assert.equal(boom.body.toString(), 'down');
    assert.equal(boom.headers['content-type'], 'text/plain');
    assert.match(String(boom.headers['cache-status']), /fwd=miss; fwd-status=503/);
    assert.equal((await get(edge.url, '/boom.jpg')).status, 503);
    assert.equal(origin.count('/boom.jpg'), 2, 'a 5xx without explicit freshness is not stored');
    origin.set('/weird.jpg', { status: 999, body: 'what', headers: { 'cache-control': 'max-age=60' } });
    assert.equal((await get(edge.url, '/weird.jpg')).status, 502, 'a status outside 100-599 is no answer to pass on');
    assert.equal((await get(edge.url, '/weird.jpg', { method: 'HEAD' })).status, 502);
  } finally {
    await refused.close();
    await slow.close();
  }
});

test('--cache-max-bytes holds: least recently used objects go first, and their files with them', async () => {
  const small = await startTestEdge(origin.url, { args: ['--cache-max-bytes', '5MiB'] });
  try {
    const mib = 1024 * 1024;
    for (let i = 0; i < 8; i++) origin.set(`/evict/${i}.jpg`, { body: bytes(mib, `evict${i}`) });
    for (let i = 0; i < 4; i++) await get(small.url, `/evict/${i}.jpg`);
    await until(async () => (await metricValue(small.edge, 'imgedge_cache_objects')) === 4, 'four objects stored');
    await get(small.url, '/evict/0.jpg'); // 0 is now the most recently used
    for (let i = 4; i < 8; i++) {
      await get(small.url, `/evict/${i}.jpg`);
      await until(async () => (await metricValue(small.edge, 'imgedge_origin_fetches_in_flight')) === 0, 'the fill to end');
    }
    const bytesStored = await metricValue(small.edge, 'imgedge_cache_bytes');
    assert.ok(bytesStored <= 5 * mib, `${bytesStored} bytes stored`);
    assert.ok((await metricValue(small.edge, 'imgedge_evictions_total')) >= 4);
    const filesOnDisk = () =>
      fs.readdirSync(path.join(small.cacheDir, 'objects'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
    const objects = await metricValue(small.edge, 'imgedge_cache_objects');
    await until(() => filesOnDisk() === objects, 'the evicted files to be deleted');
    const before = origin.count('/evict/1.jpg');
    await get(small.url, '/evict/1.jpg');
    assert.equal(origin.count('/evict/1.jpg'), before + 1, 'the least recently used was evicted');
    const hot = await get(small.url, '/evict/7.jpg');
    assert.match(String(hot.headers['cache-status']), /^imgedge; hit/);
  } finally {
    await small.close();
  }
});

test('nothing outside the cache dir is written', async () => {
  const dir = tempDir('contained');
  const cacheDir = path.join(dir, 'cache');
  const contained = await startTestEdge(origin.url, { cacheDir });
  try {
    origin.set('/contained/x.jpg', { body: 'x' });
    await get(contained.url, '/contained/x.jpg');
    await get(contained.url, '/contained/../../../x.jpg');
  } finally {
    await contained.close();
  }
  assert.deepEqual(fs.readdirSync(dir), ['cache']);
});
