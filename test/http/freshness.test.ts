// What is stored and for how long (RFC 9111 §3, §4.2), and the stale windows (RFC 5861).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decideStore,
  staleWindows,
  privateReason,
  policyFor,
  currentAge,
  receivedAge,
  isStorableStatus,
  type FreshnessRules,
  type StoreDecision,
} from '../../src/http/freshness.js';
import { httpDate, type HeaderMap } from '../../src/http/headers.js';

const PROPS = { seed: 42, numRuns: 300 } as const;
const RULES: FreshnessRules = { defaultTtlSec: 3600, negativeTtlSec: 10, staleIfErrorSec: 86_400 };
/** Whole seconds, so HTTP dates round-trip exactly. */
const NOW = Date.parse('2024-03-01T12:00:00Z');
const DATE = httpDate(NOW);

function decide(status: number, headers: HeaderMap, options: { rules?: FreshnessRules } = {}): StoreDecision {
  return decideStore(status, { date: DATE, ...headers }, options.rules ?? RULES, NOW);
}

const stored = (lifetimeSec: number): StoreDecision => ({ store: true, lifetimeSec });
const notStored = (reason: string): StoreDecision => ({ store: false, lifetimeSec: 0, reason });

test('decideStore: 200 responses', () => {
  const table: [headers: HeaderMap, expected: StoreDecision, why: string][] = [
    [{}, stored(3600), 'origin says nothing: --default-ttl'],
    [{ etag: '"v1"', 'last-modified': DATE }, stored(3600), 'validators only: --default-ttl'],
    [{ 'cache-control': 'public' }, stored(3600), 'public alone gives no lifetime'],
    [{ 'cache-control': 'immutable' }, stored(3600), 'immutable alone'],
    [{ 'cache-control': 'stale-while-revalidate=30' }, stored(3600), 'stale-while-revalidate alone'],
    [{ 'cache-control': 'max-age=60' }, stored(60), 'max-age'],
    [{ 'cache-control': 'public, max-age=600' }, stored(600), 'public, max-age'],
    [{ 'cache-control': 'max-age=60, s-maxage=300' }, stored(300), 's-maxage wins in a shared cache'],
    [{ 'cache-control': 's-maxage=120' }, stored(120), 's-maxage alone'],
    [{ 'cache-control': 'max-age=60', expires: httpDate(NOW + 7_200_000) }, stored(60), 'max-age beats Expires'],
    [{ expires: httpDate(NOW + 120_000) }, stored(120), 'Expires minus Date'],
    [{ expires: httpDate(NOW - 1000) }, notStored('no freshness or validator'), 'Expires in the past'],
    [{ expires: httpDate(NOW - 1000), etag: '"v"' }, stored(0), 'Expires in the past, with a validator'],
    [{ expires: '0', etag: '"v"' }, stored(0), 'invalid Expires means already expired'],
    [{ expires: 'Thu, 18 Aug 2050 02:01:18 UTC', etag: '"v"' }, stored(0), 'Expires in UTC is not an HTTP-date'],
    [{ expires: `${httpDate(NOW + 60_000)}, ${httpDate(NOW + 60_000)}`, etag: '"v"' }, stored(0), 'two Expires'],
    [{ 'cache-control': 'max-age=0' }, notStored('no freshness or validator'), 'max-age=0 without validator'],
    [{ 'cache-control': 'max-age=0', etag: '"v"' }, stored(0), 'max-age=0 with an ETag'],
    [{ 'cache-control': 'max-age=0', 'last-modified': DATE }, stored(0), 'max-age=0 with Last-Modified'],
    [{ 'cache-control': 'max-age=abc' }, notStored('no freshness or validator'), 'invalid max-age is stale'],
    [{ 'cache-control': 's-maxage=abc', expires: httpDate(NOW + 120_000), etag: '"v"' }, stored(0), 'invalid s-maxage is stale, whatever Expires says'],
    [{ 'cache-control': 'max-age=abc', expires: httpDate(NOW + 120_000), etag: '"v"' }, stored(0), 'invalid max-age is stale, whatever Expires says'],
    [{ 'cache-control': 'no-cache' }, notStored('no freshness or validator'), 'no-cache without validator'],
    [{ 'cache-control': 'no-cache, max-age=600', etag: '"v"' }, stored(0), 'no-cache: revalidate every time'],
    [{ 'cache-control': 'no-store' }, notStored('no-store'), 'no-store'],
    [{ 'cache-control': 'max-age=60, no-store' }, notStored('no-store'), 'no-store wins'],
    [{ 'cache-control': 'private, max-age=60' }, notStored('private'), 'private'],
    [{ 'cache-control': 'private="set-cookie", max-age=60' }, notStored('private'), 'qualified private'],
    [{ 'set-cookie': 'id=1', 'cache-control': 'public, max-age=60' }, notStored('set-cookie'), 'Set-Cookie'],
    [{ vary: 'Accept' }, stored(3600), 'Vary: Accept, stored as a variant'],
    [{ vary: '*' }, notStored('vary'), 'Vary: *'],
    [{ vary: 'Accept, *' }, notStored('vary'), 'Vary with * in a list'],
    [{ vary: 'Accept-Encoding, Cookie' }, stored(3600), 'Vary on a list'],
    [{ vary: 'Accept-Encoding' }, stored(3600), 'Vary: Accept-Encoding is harmless'],
    [{ vary: ' accept-encoding ,' }, stored(3600), 'Vary: accept-encoding, spaced'],
  ];
  for (const [headers, expected, why] of table) assert.deepEqual(decide(200, headers), expected, why);
});

test(
  'decideStore: directive names are case-insensitive (RFC 9111 §5.2)',
  () => {
    assert.deepEqual(decide(200, { 'cache-control': 'MAX-AGE=60' }), stored(60));
    assert.deepEqual(decide(200, { 'cache-control': 'Public, Max-Age=60' }), stored(60));
    assert.deepEqual(decide(200, { 'cache-control': 'max-age=60, S-MaxAge=300' }), stored(300));
    assert.deepEqual(decide(200, { 'cache-control': 'NO-CACHE, max-age=600', etag: '"v"' }), stored(0));
  },
);

test('receivedAge: the first member of Age, ignored unless a non-negative integer (RFC 9111 §5.1)', () => {
  const table: [string | undefined, number | undefined][] = [
    [undefined, undefined], ['30', 30], [' 30 ', 30], ['0, 7200', 0], ['7200, 0', 7200], ['0, 0', 0],
    ['3600, 3600', 3600], ['abc', undefined], ['-7200', undefined], ['7200.0', undefined], ['1.5', undefined],
    ['7200;foo=bar', undefined], ['', undefined], ['2147483648', 2 ** 31], ['99999999999', 2 ** 31],
  ];
  for (const [value, expected] of table) assert.equal(receivedAge(value), expected, String(value));
});

test('currentAge: an ignored Age counts as none; a list counts by its first member', () => {
  const at = (age: string) => currentAge(policyFor({ url: '/', headers: {} }, { status: 200, headers: { age } }, NOW).toObject(), NOW + 10_000);
  assert.equal(at('abc'), 10);
  assert.equal(at('-7200'), 10);
  assert.equal(at('7200.0'), 10);
  assert.equal(at('0, 7200'), 10);
  assert.equal(at('7200, 0'), 7210);
  // Age does not change the lifetime: the age is counted against it.
  assert.deepEqual(decide(200, { 'cache-control': 'max-age=600', age: 'abc' }), stored(600));
});

test('decideStore: Surrogate-Control for this cache wins over Cache-Control', () => {
  assert.deepEqual(decide(200, { 'surrogate-control': 'max-age=300', 'cache-control': 'max-age=60' }), stored(300));
  assert.deepEqual(decide(200, { 'surrogate-control': 'max-age=300;imgedge, max-age=5', 'cache-control': 'max-age=60' }), stored(300));
  assert.deepEqual(decide(200, { 'surrogate-control': 'max-age=300;other', 'cache-control': 'max-age=60' }), stored(60));
  assert.deepEqual(decide(200, { 'surrogate-control': 'no-store', 'cache-control': 'max-age=60' }), notStored('no-store'));
  assert.deepEqual(decide(200, { 'surrogate-control': 'max-age=60', 'cache-control': 'no-store' }), notStored('no-store'));
});

test('decideStore: 404 and 410 are remembered for their explicit lifetime, else --negative-ttl', () => {
  for (const status of [404, 410]) {
    assert.deepEqual(decide(status, {}), stored(10), `${status}`);
    assert.deepEqual(decide(status, { 'cache-control': 'max-age=3600' }), stored(3600), `${status} max-age`);
    assert.deepEqual(decide(status, { expires: httpDate(NOW + 86_400_000) }), stored(86_400), `${status} Expires`);
    assert.deepEqual(decide(status, { 'cache-control': 'no-store' }), notStored('no-store'), `${status} no-store`);
    assert.deepEqual(decide(status, { 'cache-control': 'private' }), notStored('private'), `${status} private`);
    assert.deepEqual(decide(status, {}, { rules: { ...RULES, negativeTtlSec: 0 } }), notStored('negative-ttl 0'), `${status} off`);
    assert.deepEqual(decide(status, {}, { rules: { ...RULES, negativeTtlSec: 300 } }), stored(300), `${status} 300`);
  }
});

test(
  'decideStore: a 404 marked no-cache is not reused without revalidation (RFC 9111 §5.2.2.4)',
  () => {
    assert.deepEqual(decide(404, { 'cache-control': 'no-cache' }), notStored('no-cache'));
    assert.deepEqual(decide(404, { 'cache-control': 'max-age=0' }), notStored('no-cache'));
    assert.deepEqual(decide(410, { 'surrogate-control': 'max-age=0', 'cache-control': 'max-age=60' }), notStored('no-cache'));
  },
);

test('decideStore: other final statuses, 5xx included, are kept only with an explicit lifetime', () => {
  for (const status of [201, 202, 203, 204, 299, 300, 301, 302, 303, 307, 308, 400, 401, 403, 405, 416, 429, 499, 500, 501, 502, 503, 504, 599]) {
    assert.deepEqual(decide(status, { 'cache-control': 'public, max-age=600' }), stored(600), String(status));
    assert.deepEqual(decide(status, { etag: '"v"', 'last-modified': DATE }), notStored(`status ${status} without freshness`), `${status} heuristic`);
    // A lifetime of 0 is no lifetime: unlike a 200, it is not kept to be revalidated.
    assert.deepEqual(decide(status, { 'cache-control': 'max-age=0', etag: '"v"' }), notStored(`status ${status} without freshness`), `${status} max-age=0`);
  }
  for (const status of [100, 103, 206, 304]) {
    assert.deepEqual(decide(status, { 'cache-control': 'public, max-age=600' }), notStored(`status ${status}`), String(status));
  }
  assert.equal(isStorableStatus(200), true);
  assert.equal(isStorableStatus(206), false);
  assert.equal(isStorableStatus(500), true);
});

test('decideStore: must-understand lifts no-store for a status this cache understands (RFC 9111 §5.2.2.3)', () => {
  const cc = 'no-store, must-understand, max-age=600';
  assert.deepEqual(decide(200, { 'cache-control': cc }), stored(600));
  assert.deepEqual(decide(404, { 'cache-control': cc }), stored(600));
  assert.deepEqual(decide(599, { 'cache-control': cc }), notStored('no-store'));
  assert.deepEqual(decide(599, { 'cache-control': 'max-age=3600, must-understand' }), notStored('must-understand'));
  assert.deepEqual(decide(599, { 'cache-control': 'max-age=3600' }), stored(3600));
  assert.deepEqual(decide(200, { 'cache-control': 'no-store, max-age=600' }), notStored('no-store'));
});

test('decideStore: --default-ttl 0 keeps only what can be revalidated', () => {
  const rules = { ...RULES, defaultTtlSec: 0 };
  assert.deepEqual(decide(200, {}, { rules }), notStored('no freshness or validator'));
  assert.deepEqual(decide(200, { etag: '"v"' }, { rules }), stored(0));
  assert.deepEqual(decide(200, { 'cache-control': 'max-age=5' }, { rules }), stored(5));
});

test(
  'decideStore: proxy-revalidate does not shorten the lifetime (RFC 9111 §5.2.2.8)',
  () => {
    assert.deepEqual(decide(200, { 'cache-control': 'max-age=600, proxy-revalidate' }), stored(600));
    assert.deepEqual(decide(200, { 'cache-control': 'max-age=600, proxy-revalidate', etag: '"v"' }), stored(600));
  },
);

test('privateReason', () => {
  const table: [HeaderMap, string | null][] = [
    [{}, null],
    [{ 'cache-control': 'public, max-age=60' }, null],
    [{ 'cache-control': 'Private' }, 'private'],
    [{ 'cache-control': 'no-store' }, 'no-store'],
    [{ 'set-cookie': '' }, 'set-cookie'],
    [{ 'cache-control': 'private', 'set-cookie': 'a=1' }, 'private'],
    [{ vary: 'accept-encoding' }, null],
    [{ vary: 'Origin' }, null],
    [{ vary: 'Origin, *' }, 'vary'],
    [{ vary: '' }, null],
  ];
  for (const [headers, expected] of table) assert.equal(privateReason(headers, 200), expected, JSON.stringify(headers));
});

test('staleWindows: from the header, else --stale-if-error; must-revalidate and friends forbid both', () => {
  const table: [cacheControl: string | undefined, whileRevalidateSec: number, ifErrorSec: number][] = [
    [undefined, 0, 86_400],
    ['max-age=60', 0, 86_400],
    ['max-age=60, stale-if-error=60', 0, 60],
    ['stale-if-error=0', 0, 0],
    ['stale-if-error=999999', 0, 999_999],
    ['Stale-If-Error=5', 0, 5],
    ['stale-if-error="7"', 0, 7],
    ['stale-if-error=abc', 0, 86_400],
    ['stale-if-error=-1', 0, 86_400],
    ['stale-while-revalidate=30', 30, 86_400],
    ['stale-while-revalidate=30, stale-if-error=300', 30, 300],
    ['max-age=60, must-revalidate, stale-if-error=600, stale-while-revalidate=60', 0, 0],
    ['proxy-revalidate, stale-if-error=600', 0, 0],
    ['no-cache', 0, 0],
    ['MUST-REVALIDATE', 0, 0],
  ];
  for (const [cc, whileRevalidateSec, ifErrorSec] of table) {
    const headers: HeaderMap = cc === undefined ? {} : { 'cache-control': cc };
    assert.deepEqual(staleWindows(headers, RULES), { whileRevalidateSec, ifErrorSec }, String(cc));
  }
  assert.deepEqual(staleWindows({}, { ...RULES, staleIfErrorSec: 0 }), { whileRevalidateSec: 0, ifErrorSec: 0 });
  assert.deepEqual(staleWindows({ 'cache-control': 'stale-if-error=9' }, { ...RULES, staleIfErrorSec: 0 }), { whileRevalidateSec: 0, ifErrorSec: 9 });
});

test(
  'staleWindows: s-maxage carries proxy-revalidate in a shared cache, so the flag default does not apply (RFC 9111 §5.2.2.10, §4.2.4)',
  () => {
    assert.deepEqual(staleWindows({ 'cache-control': 's-maxage=60' }, RULES), { whileRevalidateSec: 0, ifErrorSec: 0 });
  },
);

test('property: the header stale-if-error beats the flag; must-revalidate zeroes both windows', () => {
  fc.assert(
    fc.property(fc.nat({ max: 10 ** 7 }), fc.nat({ max: 10 ** 7 }), fc.nat({ max: 10 ** 7 }), fc.boolean(), (sie, swr, flag, mustRevalidate) => {
      const cc = `max-age=1, stale-if-error=${sie}, stale-while-revalidate=${swr}${mustRevalidate ? ', must-revalidate' : ''}`;
      const windows = staleWindows({ 'cache-control': cc }, { ...RULES, staleIfErrorSec: flag });
      assert.deepEqual(windows, mustRevalidate ? { whileRevalidateSec: 0, ifErrorSec: 0 } : { whileRevalidateSec: swr, ifErrorSec: sie });
    }),
    PROPS,
  );
});

test('property: a stored decision never has a negative or non-finite lifetime; max-age gives exactly its value', () => {
  const directive = fc.constantFrom('public', 'private', 'no-cache', 'no-store', 'must-revalidate', 'immutable', 'max-age=0', 'max-age=60', 's-maxage=30', 'max-age=x', 'stale-if-error=5');
  const headers = fc.record(
    {
      'cache-control': fc.array(directive, { maxLength: 4 }).map((d) => d.join(', ')),
      etag: fc.constant('"v"'),
      expires: fc.integer({ min: -3600, max: 3600 }).map((s) => httpDate(NOW + s * 1000)),
      vary: fc.constantFrom('Accept-Encoding', 'Accept'),
      'set-cookie': fc.constant('a=1'),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.constantFrom(200, 404, 410, 500, 301), headers, (status, h) => {
      const decision = decide(status, h);
      assert.ok(Number.isFinite(decision.lifetimeSec) && decision.lifetimeSec >= 0);
      if (!decision.store) {
        assert.equal(decision.lifetimeSec, 0);
        assert.ok(decision.reason);
      }
      if (decision.store && status === 200 && decision.lifetimeSec === 0) assert.ok(h.etag !== undefined, 'kept only with a validator');
    }),
    PROPS,
  );
  fc.assert(
    fc.property(fc.nat({ max: 2 ** 31 }), (maxAge) => {
      const decision = decide(200, { 'cache-control': `max-age=${maxAge}`, etag: '"v"' });
      assert.deepEqual(decision, stored(maxAge));
    }),
    PROPS,
  );
});

test('policyFor and currentAge: the clock is the caller\'s', () => {
  const response = { status: 200, headers: { date: DATE, 'cache-control': 'max-age=60' } };
  const policy = policyFor({ url: '/a.jpg', method: 'GET', headers: {} }, response, NOW).toObject();
  assert.equal(currentAge(policy, NOW), 0);
  assert.equal(currentAge(policy, NOW + 30_000), 30);
  const ahead = Date.now() + 3_600_000;
  assert.equal(currentAge(policyFor({ url: '/a.jpg', method: 'GET', headers: {} }, response, ahead).toObject(), ahead), 0);
});

test('policyFor: the stored response headers are the origin\'s, Cache-Control\'s names in lower case', () => {
  const headers = { 'cache-control': 'No-Cache, pre-check=0, post-check=0, Max-Age=60', expires: '0', pragma: 'no-cache', 'x-a': 'b' };
  assert.deepEqual(policyFor({ url: '/a.jpg', method: 'GET', headers: {} }, { status: 200, headers }, NOW).toObject().resh, {
    ...headers, 'cache-control': 'no-cache, pre-check=0, post-check=0, max-age=60',
  });
});

test('currentAge: the Age the response arrived with, plus the time held; never negative', () => {
  const withAge = (age: string) => policyFor({ url: '/a.jpg', method: 'GET', headers: {} }, { status: 200, headers: { age } }, NOW).toObject();
  assert.equal(currentAge(withAge('100'), NOW + 5_000), 105);
  assert.equal(currentAge(withAge('abc'), NOW + 5_000), 5);
  assert.equal(currentAge(withAge('-7200'), NOW), 0);
});
