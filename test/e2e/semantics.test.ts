// RFC 9111 / 9110 / 9211 behaviour: freshness, revalidation, stale, client
// conditionals, ranges, negative caching, Vary. One edge per test with a
// clock the test moves, and a real origin told what to answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestOrigin, Gate, etagOf } from '../helpers/origin.js';
import { get, request, bytes, sha256 } from '../helpers/http.js';
import { startTestEdge, until, metricValue, TestClock, type TestEdge } from '../helpers/edge.js';

let origin: TestOrigin;
const edges: TestEdge[] = [];

before(async () => {
  origin = await TestOrigin.start();
});

after(async () => {
  for (const edge of edges) await edge.close();
  await origin.stop();
});

async function edgeWith(clock: TestClock, args: string[] = []): Promise<TestEdge> {
  const edge = await startTestEdge(origin.url, { now: clock.now, args });
  edges.push(edge);
  return edge;
}

/** GETs an object and waits for its fill to end (the commit follows the last byte). */
async function stored(edge: TestEdge, path: string): Promise<void> {
  await get(edge.url, path);
  await until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, `${path} to be stored`);
  assert.match(String((await get(edge.url, path)).headers['cache-status']), /^imgedge; hit/);
}

const cs = (res: { headers: Record<string, unknown> }) => String(res.headers['cache-status']);

test('freshness: max-age, s-maxage over max-age, Expires, and --default-ttl when the origin says nothing', async () => {
  const clock = new TestClock();
  const edge = await edgeWith(clock, ['--default-ttl', '100']);
  origin.set('/f/max-age.jpg', { body: 'a', headers: { 'cache-control': 'max-age=50', etag: '"a"' } });
  origin.set('/f/s-maxage.jpg', { body: 'b', headers: { 'cache-control': 'max-age=10, s-maxage=200', etag: '"b"' } });
  origin.set('/f/expires.jpg', { body: 'c', headers: { expires: new Date(Date.now() + 300_000).toUTCString(), date: new Date().toUTCString(), etag: '"c"' } });
  origin.set('/f/silent.jpg', { body: 'd', headers: { 'content-type': 'image/jpeg' } });
  for (const p of ['/f/max-age.jpg', '/f/s-maxage.jpg', '/f/expires.jpg', '/f/silent.jpg']) await stored(edge, p);
  assert.match(cs(await get(edge.url, '/f/max-age.jpg')), /ttl=50/);
  assert.match(cs(await get(edge.url, '/f/s-maxage.jpg')), /ttl=200/);
  assert.match(cs(await get(edge.url, '/f/silent.jpg')), /ttl=100/);
  clock.advance(60);
  assert.match(cs(await get(edge.url, '/f/max-age.jpg')), /fwd=stale/);
  for (const p of ['/f/s-maxage.jpg', '/f/expires.jpg', '/f/silent.jpg']) assert.match(cs(await get(edge.url, p)), /^imgedge; hit/, p);
  clock.advance(50);
  assert.match(cs(await get(edge.url, '/f/silent.jpg')), /fwd=/);
});

test('no-store, private and Set-Cookie responses pass through and are not stored; no-cache is stored but revalidated', async () => {
  const clock = new TestClock();
  const edge = await edgeWith(clock);
  origin.set('/ns/no-store.jpg', { body: 'x', headers: { 'cache-control': 'no-store' } });
  origin.set('/ns/private.jpg', { body: 'x', headers: { 'cache-control': 'private, max-age=60' } });
  origin.set('/ns/cookie.jpg', { body: 'x', headers: { 'cache-control': 'max-age=60', 'set-cookie': 'a=1' } });
  origin.set('/ns/no-cache.jpg', { body: 'x', headers: { 'cache-control': 'no-cache', etag: '"nc"' } });
  for (const p of ['/ns/no-store.jpg', '/ns/private.jpg', '/ns/cookie.jpg']) {
    await get(edge.url, p);
    const second = await get(edge.url, p);
    assert.equal(origin.count(p), 2, p);
    assert.doesNotMatch(cs(second), /stored|hit/, p);
  }
  assert.equal((await get(edge.url, '/ns/cookie.jpg')).headers['set-cookie']?.[0], 'a=1', 'Set-Cookie reaches its own client');
  await get(edge.url, '/ns/no-cache.jpg');
  await until(async () => (await metricValue(edge.edge, 'imgedge_cache_objects')) >= 1, 'the no-cache object to be stored');
  const revalidated = await get(edge.url, '/ns/no-cache.jpg');
  assert.match(cs(revalidated), /fwd=stale; fwd-status=304/);
  assert.equal(origin.requests.filter((r) => r.url === '/ns/no-cache.jpg').at(-1)?.headers['if-none-match'], '"nc"');
});

test('--default-ttl 0 keeps nothing that has neither freshness nor a validator', async () => {
  const edge = await edgeWith(new TestClock(), ['--default-ttl', '0']);
  origin.set('/zero.jpg', { body: 'z', headers: { 'content-type': 'image/jpeg' } });
  await get(edge.url, '/zero.jpg');
  await get(edge.url, '/zero.jpg');
  assert.equal(origin.count('/zero.jpg'), 2);
});

test('revalidation: a 304 refreshes the headers without the bytes; a 200 replaces the object; both coalesced', async () => {
  const clock = new TestClock();
  const edge = await edgeWith(clock);
  const v1 = bytes(200_000, 'v1');
  origin.set('/rv.jpg', { body: v1, headers: { 'content-type': 'image/jpeg', etag: etagOf(v1), 'cache-control': 'max-age=60', 'x-version': '1' } });
  await stored(edge, '/rv.jpg');
  clock.advance(61);
  origin.set('/rv.jpg', {
    body: v1,
    latencyMs: 100,
    headers: { 'content-type': 'image/jpeg', etag: etagOf(v1), 'cache-control': 'max-age=120', 'x-version': '1b' },
  });
  const before = origin.count('/rv.jpg');
  const results = await Promise.all(Array.from({ length: 20 }, () => get(edge.url, '/rv.jpg')));
  assert.equal(origin.count('/rv.jpg'), before + 1, 'one revalidation for 20 requests');
  for (const res of results) {
    assert.equal(sha256(res.body), sha256(v1));
    // On a loaded machine a request may arrive once the refresh is stored: a hit on the refreshed copy.
    assert.match(cs(res), /fwd=stale; fwd-status=304|^imgedge; hit/);
    assert.equal(res.headers['x-version'], '1b', 'headers refreshed from the 304');
  }
  assert.ok(results.some((res) => /fwd=stale; fwd-status=304/.test(cs(res))), 'the requests waited on the revalidation');
  await until(async () => /^imgedge; hit; ttl=12\d/.test(cs(await get(edge.url, '/rv.jpg'))), 'the refreshed freshness to be stored');

  clock.advance(121);
  const v2 = bytes(150_000, 'v2');
  origin.set('/rv.jpg', { body: v2, headers: { 'content-type': 'image/jpeg', etag: etagOf(v2), 'cache-control': 'max-age=60' } });
  const replaced = await get(edge.url, '/rv.jpg');
  assert.equal(sha256(replaced.body), sha256(v2));
  assert.match(cs(replaced), /fwd=stale; stored/);
  await until(async () => sha256((await get(edge.url, '/rv.jpg')).body) === sha256(v2) && /hit/.test(cs(await get(edge.url, '/rv.jpg'))), 'v2 to be the stored object');
});

test('stale-while-revalidate serves stale at once and refreshes once in the background', async () => {
  const clock = new TestClock();
  const edge = await edgeWith(clock);
  origin.set('/swr.jpg', { body: 'old', headers: { etag: '"old"', 'cache-control': 'max-age=10, stale-while-revalidate=60' } });
  await stored(edge, '/swr.jpg');
  clock.advance(20);
  const gate = new Gate();
  origin.set('/swr.jpg', { body: 'new', gate, headers: { etag: '"new"', 'cache-control': 'max-age=10, stale-while-revalidate=60' } });
  const before = origin.count('/swr.jpg');
  const stale = await Promise.all(Array.from({ length: 5 }, () => get(edge.url, '/swr.jpg')));
  for (const res of stale) {
    assert.equal(res.body.toString(), 'old');
    assert.match(cs(res), /hit.*detail=stale-while-revalidate/);
  }
  gate.open();
  await until(async () => (await get(edge.url, '/swr.jpg')).body.toString() === 'new', 'the background refresh');
  assert.equal(origin.count('/swr.jpg'), before + 1);
});

test("stale-if-error: while the origin fails, a stored copy within the window is served; beyond it, the origin's 5xx", async () => {
  const clock = new TestClock();
  const edge = await edgeWith(clock, ['--stale-if-error', '100']);
  origin.set('/sie.jpg', { body: 'kept', headers: { etag: '"k"', 'cache-control': 'max-age=10' } });
  origin.set('/sie-header.jpg', { body: 'kept', headers: { etag: '"h"', 'cache-control': 'max-age=10, stale-if-error=1000' } });
  origin.set('/must.jpg', { body: 'kept', headers: { etag: '"m"', 'cache-control': 'max-age=10, must-revalidate' } });
  for (const p of ['/sie.jpg', '/sie-header.jpg', '/must.jpg']) await stored(edge, p);
  clock.advance(50);
  for (const p of ['/sie.jpg', '/sie-header.jpg', '/must.jpg']) origin.set(p, { status: 500, body: 'boom', headers: { 'content-type': 'text/plain' } });
  const served = await get(edge.url, '/sie.jpg');
  assert.equal(served.status, 200);
  assert.equal(served.body.toString(), 'kept');
  assert.match(cs(served), /fwd=stale; fwd-status=500; hit.*detail=stale-if-error/);
  const must = await get(edge.url, '/must.jpg');
  assert.equal(must.status, 500, 'must-revalidate forbids serving stale');
  assert.equal(must.body.toString(), 'boom');
  clock.advance(100);
  assert.equal((await get(edge.url, '/sie.jpg')).status, 500, 'beyond --stale-if-error');
  assert.equal((await get(edge.url, '/sie-header.jpg')).status, 200, "the origin's stale-if-error wins over the flag");
});

test('stale-if-error never serves a copy purged while its revalidation was under way', async () => {
  const clock = new TestClock();
  const edge = await edgeWith(clock, ['--admin-token', 'sie-token']);
  origin.set('/sie-purged.jpg', { body: 'old', headers: { etag: '"o"', 'cache-control': 'max-age=10' } });
  await stored(edge, '/sie-purged.jpg');
  clock.advance(50);
  origin.set('/sie-purged.jpg', { status: 500, body: 'boom', latencyMs: 300, headers: { 'content-type': 'text/plain' } });
  const asking = get(edge.url, '/sie-purged.jpg');
  await until(async () => origin.count('/sie-purged.jpg') === 2, 'the revalidation under way');
  const purged = await request(edge.adminUrl, '/purge', {
    method: 'POST', body: JSON.stringify({ paths: ['/sie-purged.jpg'] }),
    headers: { 'content-type': 'application/json', authorization: 'Bearer sie-token' },
  });
  // The stored copy and the revalidation under way.
  assert.deepEqual(JSON.parse(purged.body.toString()), { purged: 2 });
  const answer = await asking;
  assert.equal(answer.status, 500);
  assert.equal(answer.body.toString(), 'boom');
});

test('client conditionals: If-None-Match (weak, lists, *) and If-Modified-Since answer 304 with the right headers', async () => {
  const edge = await edgeWith(new TestClock());
  const body = bytes(5000, 'cond');
  const etag = etagOf(body);
  origin.set('/cond.jpg', { body, headers: { 'content-type': 'image/jpeg', etag, 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT', 'cache-control': 'max-age=600' } });
  await stored(edge, '/cond.jpg');
  for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const res = await get(edge.url, '/cond.jpg', { headers: { 'if-none-match': inm } });
    assert.equal(res.status, 304, inm);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers.etag, etag);
    assert.equal(res.headers['cache-control'], 'max-age=600');
    assert.match(cs(res), /^imgedge; hit/);
    assert.ok(res.headers.age !== undefined);
    assert.equal(res.headers['content-length'], undefined);
  }
  assert.equal((await get(edge.url, '/cond.jpg', { headers: { 'if-none-match': '"nope"' } })).status, 200);
  assert.equal((await get(edge.url, '/cond.jpg', { headers: { 'if-modified-since': 'Thu, 02 Jan 2025 00:00:00 GMT' } })).status, 304);
  assert.equal((await get(edge.url, '/cond.jpg', { headers: { 'if-modified-since': 'Tue, 31 Dec 2024 00:00:00 GMT' } })).status, 200);
  const both = await get(edge.url, '/cond.jpg', { headers: { 'if-none-match': '"nope"', 'if-modified-since': 'Thu, 02 Jan 2025 00:00:00 GMT' } });
  assert.equal(both.status, 200, 'If-None-Match wins over If-Modified-Since');
});

test('ranges on a stored object: suffix, open-ended, 416, If-Range, several ranges answered whole', async () => {
  const edge = await edgeWith(new TestClock());
  const body = bytes(100_000, 'range');
  const etag = etagOf(body);
  origin.set('/range.jpg', { body, headers: { 'content-type': 'image/jpeg', etag, 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT', 'cache-control': 'max-age=600' } });
  await stored(edge, '/range.jpg');
  const cases: Array<[string, number, number]> = [['bytes=0-99', 0, 99], ['bytes=99990-', 99990, 99999], ['bytes=-10', 99990, 99999], ['bytes=50000-200000', 50000, 99999]];
  for (const [range, start, end] of cases) {
    const res = await get(edge.url, '/range.jpg', { headers: { range } });
    assert.equal(res.status, 206, range);
    assert.equal(res.headers['content-range'], `bytes ${start}-${end}/100000`);
    assert.equal(res.headers['content-length'], String(end - start + 1));
    assert.ok(res.body.equals(body.subarray(start, end + 1)), range);
  }
  const unsatisfiable = await get(edge.url, '/range.jpg', { headers: { range: 'bytes=100000-' } });
  assert.equal(unsatisfiable.status, 416);
  assert.equal(unsatisfiable.headers['content-range'], 'bytes */100000');
  assert.equal((await get(edge.url, '/range.jpg', { headers: { range: 'bytes=0-1', 'if-range': etag } })).status, 206);
  assert.equal((await get(edge.url, '/range.jpg', { headers: { range: 'bytes=0-1', 'if-range': '"old"' } })).status, 200);
  assert.equal((await get(edge.url, '/range.jpg', { headers: { range: 'bytes=0-1', 'if-range': 'Wed, 01 Jan 2025 00:00:00 GMT' } })).status, 206);
  const multi = await get(edge.url, '/range.jpg', { headers: { range: 'bytes=0-1,5-6' } });
  assert.equal(multi.status, 200);
  assert.equal(multi.body.length, 100_000);
});

test('a range of an object still being filled waits for its bytes and is never wrong', async () => {
  const edge = await edgeWith(new TestClock());
  const body = bytes(1024 * 1024, 'fill-range');
  const gate = new Gate();
  origin.set('/fill-range.jpg', { body, gate, gateAfter: 100 * 1024 });
  let leaderBytes = 0;
  const leader = get(edge.url, '/fill-range.jpg', { onData: (_c, n) => (leaderBytes = n) });
  await until(() => leaderBytes >= 100 * 1024, 'the first bytes to arrive');
  const early = get(edge.url, '/fill-range.jpg', { headers: { range: 'bytes=1000-1999' } });
  const late = get(edge.url, '/fill-range.jpg', { headers: { range: 'bytes=900000-' } });
  const early206 = await early;
  assert.equal(early206.status, 206);
  assert.ok(early206.body.equals(body.subarray(1000, 2000)));
  gate.open();
  const late206 = await late;
  assert.equal(late206.status, 206);
  assert.ok(late206.body.equals(body.subarray(900000)));
  assert.equal(sha256((await leader).body), sha256(body));
  assert.equal(origin.count('/fill-range.jpg'), 1);
});

test('negative caching: 404 and 410 remembered for --negative-ttl; other 4xx and 5xx only with explicit freshness', async () => {
  const clock = new TestClock();
  const edge = await edgeWith(clock, ['--negative-ttl', '30']);
  origin.set('/gone.jpg', { status: 410, body: 'gone', headers: { 'content-type': 'text/plain' } });
  for (const p of ['/absent.jpg', '/gone.jpg']) {
    await get(edge.url, p);
    await until(async () => /^imgedge; hit/.test(cs(await get(edge.url, p))), `${p} to be remembered`);
  }
  assert.equal(origin.count('/absent.jpg'), 1);
  clock.advance(31);
  assert.equal((await get(edge.url, '/absent.jpg')).status, 404);
  assert.equal(origin.count('/absent.jpg'), 2, 'asked again after --negative-ttl');
  origin.set('/bad.jpg', { status: 400, body: 'bad', headers: { 'content-type': 'text/plain' } });
  await get(edge.url, '/bad.jpg');
  await get(edge.url, '/bad.jpg');
  assert.equal(origin.count('/bad.jpg'), 2, 'a 400 without freshness is not stored');
  origin.set('/moved.jpg', { status: 301, body: '', headers: { location: '/elsewhere.jpg', 'cache-control': 'max-age=600' } });
  await stored(edge, '/moved.jpg');
  assert.equal(origin.count('/moved.jpg'), 1, 'a 301 with max-age is stored');
  origin.set('/down.jpg', { status: 503, body: 'down', headers: { 'content-type': 'text/plain' } });
  assert.equal((await get(edge.url, '/down.jpg')).status, 503);
  assert.equal((await get(edge.url, '/down.jpg')).status, 503);
  assert.equal(origin.count('/down.jpg'), 2, 'a 5xx without explicit freshness is not stored');
  origin.set('/maintenance.jpg', { status: 503, body: 'later', headers: { 'content-type': 'text/plain', 'cache-control': 'max-age=600' } });
  await stored(edge, '/maintenance.jpg');
  const kept = await get(edge.url, '/maintenance.jpg');
  assert.equal(kept.status, 503);
  assert.equal(kept.body.toString(), 'later');
  assert.match(cs(kept), /^imgedge; hit/);
  assert.equal(origin.count('/maintenance.jpg'), 1, 'a 5xx with max-age is stored, as RFC 9111 §3 allows');
});

test('Vary: one stored response per combination of the varied headers, normalised; Accept-Encoding selects nothing; * is never stored', async () => {
  const edge = await startTestEdge(origin.url, { now: new TestClock().now, args: ['--admin-token', 'vary-token'] });
  edges.push(edge);
  const byLanguage = (req: { headers: Record<string, unknown> }) => {
    const lang = String(req.headers['accept-language'] ?? 'none');
    return { body: `in ${lang}`, headers: { etag: `"${lang}"`, 'cache-control': 'max-age=60', vary: 'Accept-Language' } };
  };
  origin.set('/v/lang.jpg', byLanguage);
  const ask = (lang?: string) => get(edge.url, '/v/lang.jpg', { headers: lang === undefined ? {} : { 'accept-language': lang } });
  const fillsDone = () => until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, 'fills to end');

  assert.equal((await ask('en, de')).body.toString(), 'in en, de');
  await fillsDone();
  for (const same of ['en, de', 'DE,EN', ' en ,   de']) {
    const res = await ask(same);
    assert.equal(res.body.toString(), 'in en, de', same);
    assert.match(cs(res), /^imgedge; hit/, same);
  }
  assert.equal(origin.count('/v/lang.jpg'), 1);
  assert.equal((await ask('fr')).body.toString(), 'in fr');
  assert.equal((await ask()).body.toString(), 'in none', 'an absent header is a value of its own');
  await fillsDone();
  assert.equal(origin.count('/v/lang.jpg'), 3);
  for (const [lang, body] of [['fr', 'in fr'], [undefined, 'in none'], ['en, de', 'in en, de']] as const) {
    const res = await ask(lang);
    assert.equal(res.body.toString(), body);
    assert.match(cs(res), /^imgedge; hit/);
  }
  assert.equal(origin.count('/v/lang.jpg'), 3, 'every variant stayed stored');

  // Waiters on one fill that present other values fetch their own variant.
  const gate = new Gate();
  origin.set('/v/held.jpg', (req) => ({ ...byLanguage(req), gate, gateAfter: 0 }));
  const first = get(edge.url, '/v/held.jpg', { headers: { 'accept-language': 'en' } });
  await until(() => origin.count('/v/held.jpg') === 1, 'the first fetch');
  const others = [get(edge.url, '/v/held.jpg', { headers: { 'accept-language': 'en' } }), get(edge.url, '/v/held.jpg', { headers: { 'accept-language': 'nl' } })];
  gate.open();
  const [a, b, c] = await Promise.all([first, ...others]);
  assert.deepEqual([a!.body.toString(), b!.body.toString(), c!.body.toString()], ['in en', 'in en', 'in nl']);
  assert.equal(origin.count('/v/held.jpg'), 2);

  // A purge of the path takes every variant with it.
  const purged = await request(edge.adminUrl, '/purge', {
    method: 'POST', body: JSON.stringify({ paths: ['/v/lang.jpg'] }),
    headers: { 'content-type': 'application/json', authorization: 'Bearer vary-token' },
  });
  assert.deepEqual(JSON.parse(purged.body.toString()), { purged: 3 });
  assert.match(cs(await ask('fr')), /fwd=miss/);

  origin.set('/vary-ae.jpg', { body: 'ae', headers: { etag: '"ae"', 'cache-control': 'max-age=60', vary: 'Accept-Encoding' } });
  await stored(edge, '/vary-ae.jpg');
  origin.set('/vary-star.jpg', { body: 'star', headers: { etag: '"s"', 'cache-control': 'max-age=60', vary: 'Accept-Language, *' } });
  await get(edge.url, '/vary-star.jpg');
  await get(edge.url, '/vary-star.jpg');
  assert.equal(origin.count('/vary-star.jpg'), 2, 'Vary: * is never served from the cache');
});

test('Vary: a stored variant is revalidated with the headers that selected it, and a 304 keeps it', async () => {
  const clock = new TestClock();
  const edge = await edgeWith(clock);
  origin.set('/v/reval.jpg', (req) => ({
    body: `for ${String(req.headers.abc)}`,
    headers: { etag: `"${String(req.headers.abc)}"`, 'cache-control': 'max-age=10', vary: 'Abc' },
  }));
  await get(edge.url, '/v/reval.jpg', { headers: { abc: '123' } });
  await until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, 'the fill to end');
  clock.advance(20);
  const seen: string[] = [];
  origin.onRequest = (req) => seen.push(`${String(req.headers.abc)} ${String(req.headers['if-none-match'])}`);
  const res = await get(edge.url, '/v/reval.jpg', { headers: { abc: '123' } });
  origin.onRequest = null;
  assert.equal(res.body.toString(), 'for 123');
  assert.match(cs(res), /fwd=stale; fwd-status=304/);
  assert.deepEqual(seen, ['123 "123"']);
});

test('interim answers: a 103 and a 102 from the origin reach the client that asked, and are never stored or replayed', async () => {
  const interimOrigin = http.createServer((req, res) => {
    res.writeProcessing();
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style', 'x-hint': 'early' });
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain' }).end('final');
  });
  await new Promise<void>((resolve) => interimOrigin.listen(0, '127.0.0.1', resolve));
  const edge = await startTestEdge(`http://127.0.0.1:${(interimOrigin.address() as AddressInfo).port}`);
  edges.push(edge);
  try {
    const ask = () =>
      new Promise<{ interim: { status: number; headers: http.IncomingHttpHeaders }[]; status: number; headers: http.IncomingHttpHeaders; body: string }>(
        (resolve, reject) => {
          const interim: { status: number; headers: http.IncomingHttpHeaders }[] = [];
          const req = http.get(`${edge.url}/early.css`, { agent: false }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ interim, status: res.statusCode!, headers: res.headers, body }));
          });
          req.on('information', (info) => interim.push({ status: info.statusCode, headers: info.headers }));
          req.on('error', reject);
        },
      );
    const first = await ask();
    assert.deepEqual(first.interim.map((i) => i.status), [102, 103]);
    assert.equal(first.interim[1]!.headers.link, '</style.css>; rel=preload; as=style');
    assert.equal(first.interim[1]!.headers['x-hint'], 'early');
    assert.equal(first.body, 'final');
    assert.equal(first.headers['x-hint'], undefined, "an interim answer's fields are not the final one's");
    await until(async () => (await metricValue(edge.edge, 'imgedge_origin_fetches_in_flight')) === 0, 'the fill to end');
    const second = await ask();
    assert.deepEqual(second.interim, [], 'a stored answer replays no interim one');
    assert.match(String(second.headers['cache-status']), /^imgedge; hit/);
    assert.equal(second.headers['x-hint'], undefined);
  } finally {
    await new Promise((resolve) => interimOrigin.close(resolve));
  }
});

test('a request that comes while a just-fetched no-cache object is being committed revalidates it, not refetches it', async () => {
  const edge = await edgeWith(new TestClock());
  for (let i = 0; i < 5; i++) {
    origin.set(`/nc-now-${i}.jpg`, { body: bytes(50_000, `nc${i}`), headers: { etag: `"nc${i}"`, 'cache-control': 'no-cache' } });
    await get(edge.url, `/nc-now-${i}.jpg`);
    const second = await get(edge.url, `/nc-now-${i}.jpg`);
    assert.equal(second.status, 200);
    assert.match(cs(second), /fwd=stale; fwd-status=304/, `attempt ${i}`);
  }
});
