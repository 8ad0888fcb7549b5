// What the README promises and no other test checked: the headers a fill
// sends the origin, Authorization, Surrogate-Control, a failing cache dir,
// --max-object-bytes, --max-origin-fetches, --drain-timeout-ms, a client's
// no-cache, Expires against the origin's own clock, If-Modified-Since
// revalidation, and a real image through the edge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Gate, TestOrigin } from '../helpers/origin.js';
import { get, bytes, sha256 } from '../helpers/http.js';
import { spawnEdge, startTestEdge, tempDir, until, metricValue, TestClock, type TestEdge } from '../helpers/edge.js';

let origin: TestOrigin;
const edges: TestEdge[] = [];

before(async () => {
  origin = await TestOrigin.start();
});

after(async () => {
  for (const edge of edges) await edge.close();
  await origin.stop();
});

async function edgeWith(args: string[] = [], options: { now?: () => number } = {}): Promise<TestEdge> {
  const edge = await startTestEdge(origin.url, { args, ...options });
  edges.push(edge);
  return edge;
}

const cs = (res: { headers: Record<string, unknown> }) => String(res.headers['cache-status']);
const fetchesEnded = (edge: TestEdge) =>
  until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, 'the origin fetches to end');

test('a fill sends the origin the end-to-end headers of the request that started it, none of one client\'s, and Via', async () => {
  const edge = await edgeWith();
  origin.set('/fwd/a.jpg', { body: 'forwarded' });
  const seen = new Promise<Record<string, unknown>>((resolve) => {
    origin.onRequest = (req) => {
      if (req.url === '/fwd/a.jpg') resolve(req.headers);
    };
  });
  const res = await get(edge.url, '/fwd/a.jpg', {
    headers: {
      'user-agent': 'claims-test/1', accept: 'image/avif,image/webp', 'accept-language': 'fr', 'x-custom': 'kept',
      via: '1.1 browser-proxy',
      cookie: 'session=secret', 'accept-encoding': 'gzip, br', range: 'bytes=0-3', 'if-range': '"x"',
      'if-none-match': '"x"', 'if-modified-since': 'Wed, 01 Jan 2025 00:00:00 GMT', 'if-match': '"y"',
      'if-unmodified-since': 'Wed, 01 Jan 2025 00:00:00 GMT', connection: 'keep-alive, x-hop', 'x-hop': 'hop-by-hop',
      te: 'trailers', 'proxy-authorization': 'Basic c2VjcmV0', 'keep-alive': 'timeout=5',
    },
  });
  origin.onRequest = null;
  assert.ok(res.status === 200 || res.status === 206, String(res.status));
  const headers = await seen;
  assert.equal(headers['user-agent'], 'claims-test/1');
  assert.equal(headers.accept, 'image/avif,image/webp');
  assert.equal(headers['accept-language'], 'fr');
  assert.equal(headers['x-custom'], 'kept');
  assert.match(String(headers.via), /^1\.1 browser-proxy, 1\.1 imgedge-[0-9a-f]{12}$/, 'the edge appends itself to Via, under its pseudonym');
  for (const name of [
    'cookie', 'authorization', 'accept-encoding', 'range', 'if-range', 'if-none-match', 'if-modified-since', 'if-match',
    'if-unmodified-since', 'x-hop', 'te', 'proxy-authorization', 'keep-alive',
  ]) {
    assert.equal(headers[name], undefined, `${name} is not forwarded`);
  }
  // Without a Via from the client, the edge's is the only one.
  origin.set('/fwd/b.jpg', { body: 'b' });
  const plain = new Promise<Record<string, unknown>>((resolve) => {
    origin.onRequest = (req) => req.url === '/fwd/b.jpg' && resolve(req.headers);
  });
  await get(edge.url, '/fwd/b.jpg');
  origin.onRequest = null;
  assert.match(String((await plain).via), /^1\.1 imgedge-[0-9a-f]{12}$/);
});

test('a request with Authorization goes to the origin with it; its answer is neither stored nor shared', async () => {
  const edge = await edgeWith();
  const body = bytes(20_000, 'auth');
  const gate = new Gate();
  origin.set('/auth/a.jpg', { body, gate, gateAfter: 1000 });
  const auth = { authorization: 'Bearer user-1' };
  // Two at once: neither waits on the other's fetch.
  const both = Promise.all([get(edge.url, '/auth/a.jpg', { headers: auth }), get(edge.url, '/auth/a.jpg', { headers: auth })]);
  await until(() => origin.count('/auth/a.jpg') === 2, 'each authorised request to reach the origin');
  gate.open();
  for (const res of await both) {
    assert.equal(res.status, 200);
    assert.equal(sha256(res.body), sha256(body));
    assert.doesNotMatch(cs(res), /stored|hit/);
  }
  assert.ok(origin.requests.filter((r) => r.url === '/auth/a.jpg').every((r) => r.headers.authorization === 'Bearer user-1'));
  await fetchesEnded(edge);
  assert.equal(await metricValue(edge.edge, 'imgedge_cache_objects'), 0, 'nothing stored');
  origin.set('/auth/a.jpg', { body });
  // An anonymous request is not answered with what the authorised one got.
  const anonymous = await get(edge.url, '/auth/a.jpg');
  assert.match(cs(anonymous), /fwd=miss/);
  assert.equal(origin.count('/auth/a.jpg'), 3);
  // And once the object is stored, an authorised request still goes to the origin.
  await fetchesEnded(edge);
  assert.match(cs(await get(edge.url, '/auth/a.jpg')), /^imgedge; hit/);
  await get(edge.url, '/auth/a.jpg', { headers: auth });
  assert.equal(origin.count('/auth/a.jpg'), 4);
  assert.ok((await metricValue(edge.edge, 'imgedge_requests_total', { cache_status: 'pass' })) >= 3);
});

test('Surrogate-Control sets the lifetime and is not passed on to clients', async () => {
  const edge = await edgeWith();
  origin.set('/sc/a.jpg', { body: 'sc', extraHeaders: { 'surrogate-control': 'max-age=60', 'cache-control': 'public, max-age=3600' } });
  const miss = await get(edge.url, '/sc/a.jpg');
  assert.match(cs(miss), /stored; ttl=60$/);
  assert.equal(miss.headers['surrogate-control'], undefined);
  assert.equal(miss.headers['cache-control'], 'public, max-age=3600', 'Cache-Control is left for the browsers');
  await fetchesEnded(edge);
  const hit = await get(edge.url, '/sc/a.jpg');
  assert.match(cs(hit), /^imgedge; hit; ttl=(59|60)$/);
  assert.equal(hit.headers['surrogate-control'], undefined);
  origin.set('/sc/no-store.jpg', { body: 'x', extraHeaders: { 'surrogate-control': 'no-store;imgedge' } });
  await get(edge.url, '/sc/no-store.jpg');
  await fetchesEnded(edge);
  assert.doesNotMatch(cs(await get(edge.url, '/sc/no-store.jpg')), /hit/);
  assert.equal(origin.count('/sc/no-store.jpg'), 2);
});

/** An edge whose cache dir fails under its next fill: the fills' temp dir gone, as on a failed or unmounted volume. */
async function failingDisk(): Promise<TestEdge> {
  const edge = await edgeWith();
  origin.set('/disk/kept.jpg', { body: 'kept' });
  origin.set('/disk/new.jpg', { body: bytes(10_000, 'disk') });
  await get(edge.url, '/disk/kept.jpg');
  await fetchesEnded(edge);
  fs.rmSync(path.join(edge.cacheDir, 'tmp'), { recursive: true, force: true });
  return edge;
}

test('a cache dir that fails: counted in imgedge_storage_errors_total, nothing stored, no wrong answer; stored objects still serve', async () => {
  const edge = await failingDisk();
  for (let attempt = 1; attempt <= 2; attempt++) {
    const res = await get(edge.url, '/disk/new.jpg');
    // The head (and the bytes that came with it) may be out before the temp file fails to open: then the
    // client has the whole body from memory. Either way, never a short body presented as complete.
    if (res.status === 200) {
      assert.ok(res.complete);
      assert.equal(sha256(res.body), sha256(bytes(10_000, 'disk')));
    } else assert.equal(res.status, 503);
    assert.doesNotMatch(cs(res), /hit/);
    await until(async () => (await metricValue(edge.edge, 'imgedge_storage_errors_total')) === attempt, 'the storage error to be counted');
    assert.equal(await metricValue(edge.edge, 'imgedge_origin_fetches_total', { result: 'storage_error' }), attempt);
  }
  assert.equal(origin.count('/disk/new.jpg'), 2, 'nothing was stored: each request fetched');
  assert.equal((await get(edge.url, '/disk/kept.jpg')).body.toString(), 'kept');
});

test('--max-object-bytes: a larger object streams through whole and is not stored, with or without Content-Length', async () => {
  const edge = await edgeWith(['--max-object-bytes', '100KiB']);
  const body = bytes(300_000, 'too-large');
  origin.set('/large/known.jpg', { body });
  origin.set('/large/chunked.jpg', { body, chunked: true });
  for (const p of ['/large/known.jpg', '/large/chunked.jpg']) {
    for (let i = 0; i < 2; i++) {
      const res = await get(edge.url, p);
      assert.equal(res.status, 200);
      assert.ok(res.complete);
      assert.equal(sha256(res.body), sha256(body), p);
      // Without a Content-Length the head goes out before the size is known: its Cache-Status cannot tell yet.
      assert.doesNotMatch(cs(res), p === '/large/known.jpg' ? /stored|hit/ : /hit/, p);
      await fetchesEnded(edge);
    }
    assert.equal(origin.count(p), 2, `${p} fetched each time`);
  }
  assert.equal(await metricValue(edge.edge, 'imgedge_cache_objects'), 0);
  await until(() => fs.readdirSync(path.join(edge.cacheDir, 'tmp')).length === 0, 'the temp files to be deleted');
  // Smaller objects are stored as usual.
  origin.set('/large/small.jpg', { body: bytes(50_000, 'small') });
  await get(edge.url, '/large/small.jpg');
  await fetchesEnded(edge);
  assert.match(cs(await get(edge.url, '/large/small.jpg')), /^imgedge; hit/);
});

test('--max-origin-fetches: further fetches wait for a connection, then all complete', async () => {
  const edge = await edgeWith(['--max-origin-fetches', '2']);
  const gate = new Gate();
  const paths = ['/queue/0.jpg', '/queue/1.jpg', '/queue/2.jpg', '/queue/3.jpg'];
  for (const p of paths) origin.set(p, { body: bytes(5000, p), gate });
  const requestsBefore = origin.requests.length;
  const answers = Promise.all(paths.map((p) => get(edge.url, p)));
  await until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 4, 'four fetches under way');
  await until(() => origin.requests.length - requestsBefore === 2, 'two fetches to reach the origin');
  // The other two are waiting in the edge, not at the origin: give them every chance to get there.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(origin.requests.length - requestsBefore, 2, 'no more than two fetches at the origin at once');
  gate.open();
  const done = await answers;
  done.forEach((res, i) => assert.equal(sha256(res.body), sha256(bytes(5000, paths[i]!))));
  assert.equal(origin.requests.length - requestsBefore, 4);
  assert.equal(await metricValue(edge.edge, 'imgedge_origin_fetches_max'), 2);
});

test('a client\'s Cache-Control: no-cache or Pragma does not force an origin fetch', async () => {
  const edge = await edgeWith();
  origin.set('/nc/a.jpg', { body: 'stored once' });
  await get(edge.url, '/nc/a.jpg');
  await fetchesEnded(edge);
  for (const headers of [{ 'cache-control': 'no-cache' }, { 'cache-control': 'max-age=0' }, { pragma: 'no-cache' }, { 'cache-control': 'no-store' }] as Record<string, string>[]) {
    const res = await get(edge.url, '/nc/a.jpg', { headers });
    assert.match(cs(res), /^imgedge; hit/, JSON.stringify(headers));
    assert.equal(res.body.toString(), 'stored once');
  }
  assert.equal(origin.count('/nc/a.jpg'), 1);
});

test('Expires is measured from the origin\'s Date, also when its clock is an hour off', async () => {
  const clock = new TestClock();
  const edge = await edgeWith([], { now: clock.now });
  for (const [label, skewMs] of [['behind', -3_600_000], ['ahead', 3_600_000]] as const) {
    const p = `/skew/${label}.jpg`;
    origin.set(p, () => {
      const date = clock.now() + skewMs;
      return { body: label, headers: { 'content-type': 'image/jpeg', date: new Date(date).toUTCString(), expires: new Date(date + 600_000).toUTCString() } };
    });
    const miss = await get(edge.url, p);
    assert.match(cs(miss), /stored; ttl=600$/, `origin clock ${label}`);
    await fetchesEnded(edge);
    clock.advance(590);
    assert.match(cs(await get(edge.url, p)), /^imgedge; hit/, `fresh 590 s later, origin clock ${label}`);
    clock.advance(20);
    assert.match(cs(await get(edge.url, p)), /fwd=miss|fwd=stale/, `stale 610 s later, origin clock ${label}`);
    await fetchesEnded(edge);
  }
});

test('revalidation with If-Modified-Since when the origin gives only Last-Modified: a 304 keeps the stored bytes', async () => {
  const clock = new TestClock();
  const edge = await edgeWith([], { now: clock.now });
  const body = bytes(9000, 'ims');
  origin.set('/ims/a.jpg', {
    body,
    headers: { 'content-type': 'image/jpeg', 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT', 'cache-control': 'max-age=10' },
  });
  await get(edge.url, '/ims/a.jpg');
  await fetchesEnded(edge);
  clock.advance(20);
  const revalidated = await get(edge.url, '/ims/a.jpg');
  assert.match(cs(revalidated), /fwd=stale; fwd-status=304/);
  assert.equal(sha256(revalidated.body), sha256(body));
  const asked = origin.requests.filter((r) => r.url === '/ims/a.jpg');
  assert.equal(asked.length, 2);
  assert.equal(asked[1]!.headers['if-modified-since'], 'Wed, 01 Jan 2025 00:00:00 GMT');
  assert.equal(asked[1]!.headers['if-none-match'], undefined);
});

test('a real JPEG goes through byte for byte and decodes to the same image', async () => {
  const edge = await edgeWith();
  const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 80, b: 20 } } }).jpeg().toBuffer();
  origin.set('/real/a.jpg', { body: jpeg });
  const miss = await get(edge.url, '/real/a.jpg');
  await fetchesEnded(edge);
  const hit = await get(edge.url, '/real/a.jpg');
  for (const res of [miss, hit]) {
    assert.deepEqual(res.body, jpeg);
    const meta = await sharp(res.body).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 64, 48]);
  }
});

test('--drain-timeout-ms: on SIGTERM an answer still going past the timeout is cut, never short and complete; exit 0', async () => {
  const dir = tempDir('drain-cut');
  const body = bytes(1024 * 1024, 'drain-cut');
  const gate = new Gate();
  origin.set('/drain-cut.jpg', { body, gate, gateAfter: 64 * 1024 });
  const edge = await spawnEdge([
    'edge', '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--cache-dir', path.join(dir, 'cache'), '--drain-timeout-ms', '300', '--log-level', 'info',
  ]);
  try {
    let received = 0;
    const slow = get(edge.url, '/drain-cut.jpg', { onData: (_c, n) => (received = n) });
    await until(() => received >= 64 * 1024, 'the first bytes');
    edge.kill('SIGTERM');
    const res = await slow;
    assert.equal(res.complete, false, 'the cut answer is not presented as complete');
    assert.ok(res.body.length < body.length);
    const { code } = await edge.exited;
    assert.equal(code, 0);
    assert.match(edge.output(), /drain timed out/);
  } finally {
    gate.open();
    edge.kill();
    await edge.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('start-up: the ready line reports the objects and bytes found on disk, and /readyz is 200 (the time is the benchmark\'s)', async () => {
  const dir = tempDir('startup');
  const args = ['edge', '--origin', origin.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--cache-dir', path.join(dir, 'cache'), '--log-level', 'info'];
  const readyLine = (output: string) =>
    JSON.parse(output.split('\n').find((line) => line.includes('"edge ready"'))!) as { objects: number; bytes: number; ms: number };
  try {
    for (let i = 0; i < 30; i++) origin.set(`/startup/${i}.jpg`, { body: bytes(1000 + 100 * i, `startup${i}`) });
    const first = await spawnEdge(args);
    try {
      assert.equal(readyLine(first.output()).objects, 0);
      for (let i = 0; i < 30; i++) assert.equal((await get(first.url, `/startup/${i}.jpg`)).status, 200);
      first.kill('SIGTERM');
      assert.equal((await first.exited).code, 0);
    } finally {
      first.kill();
    }
    const stored = fs.readdirSync(path.join(dir, 'cache', 'objects'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    const storedBytes = stored.reduce((sum, e) => sum + fs.statSync(path.join(e.parentPath, e.name)).size, 0);
    const second = await spawnEdge(args);
    try {
      const ready = readyLine(second.output());
      assert.equal(ready.objects, 30);
      assert.equal(ready.bytes, storedBytes, 'the bytes of the object files');
      assert.ok(Number.isFinite(ready.ms) && ready.ms >= 0);
      assert.equal((await get(second.adminUrl, '/readyz')).status, 200);
    } finally {
      second.kill();
      await second.exited;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
