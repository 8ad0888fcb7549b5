// RFC 9211 Cache-Status: one list member, "imgedge", with its parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cacheStatus, cacheStatusLabel, CACHE_NAME, type CacheStatusParts, type Forward } from '../../src/http/cache-status.js';

const PROPS = { seed: 42, numRuns: 500 } as const;

test('cacheStatus: the shapes the contract names', () => {
  const table: [parts: CacheStatusParts, expected: string][] = [
    [{}, 'imgedge'],
    [{ hit: true }, 'imgedge; hit'],
    [{ hit: true, ttl: 3599.6 }, 'imgedge; hit; ttl=3600'],
    [{ fwd: 'miss', stored: true }, 'imgedge; fwd=miss; stored'],
    [{ fwd: 'miss', stored: true, ttl: 3600 }, 'imgedge; fwd=miss; stored; ttl=3600'],
    [{ fwd: 'stale', hit: true }, 'imgedge; fwd=stale; hit'],
    [{ fwd: 'stale', fwdStatus: 503, hit: true, ttl: -5, detail: 'stale-if-error' }, 'imgedge; fwd=stale; fwd-status=503; hit; ttl=-5; detail=stale-if-error'],
    [{ fwd: 'stale', fwdStatus: 304, stored: true }, 'imgedge; fwd=stale; fwd-status=304; stored'],
    [{ fwd: 'miss', collapsed: true }, 'imgedge; fwd=miss; collapsed'],
    [{ fwd: 'bypass' }, 'imgedge; fwd=bypass'],
    [{ fwd: 'uri-miss', fwdStatus: 404, stored: true, ttl: 10 }, 'imgedge; fwd=uri-miss; fwd-status=404; stored; ttl=10'],
    [{ fwd: 'request' }, 'imgedge; fwd=request'],
    [{ hit: false, stored: false, collapsed: false }, 'imgedge'],
    [{ ttl: 0 }, 'imgedge; ttl=0'],
    [{ fwd: 'miss', fwdStatus: 0 }, 'imgedge; fwd=miss; fwd-status=0'],
    [{ detail: 'ORIGIN_TIMEOUT' }, 'imgedge; detail=ORIGIN_TIMEOUT'],
    [{ fwd: 'miss', detail: 'status 503' }, 'imgedge; fwd=miss; detail="status 503"'],
    [{ fwd: 'miss', detail: 'no freshness or validator' }, 'imgedge; fwd=miss; detail="no freshness or validator"'],
    [{ detail: 'say "hi" \\ bye' }, 'imgedge; detail="say \\"hi\\" \\\\ bye"'],
    [{ detail: '1abc' }, 'imgedge; detail="1abc"'],
    [{ detail: '' }, 'imgedge'],
  ];
  for (const [parts, expected] of table) assert.equal(cacheStatus(parts), expected, JSON.stringify(parts));
  assert.equal(CACHE_NAME, 'imgedge');
});

test('cacheStatusLabel: low-cardinality labels', () => {
  const table: [parts: CacheStatusParts, label: string][] = [
    [{}, 'none'],
    [{ hit: true }, 'hit'],
    [{ hit: true, ttl: 5 }, 'hit'],
    [{ hit: true, fwd: 'stale' }, 'stale'],
    [{ fwd: 'stale' }, 'revalidated'],
    [{ fwd: 'stale', stored: true }, 'revalidated'],
    [{ fwd: 'miss' }, 'miss'],
    [{ fwd: 'miss', stored: true }, 'miss'],
    [{ fwd: 'uri-miss' }, 'miss'],
    [{ fwd: 'request' }, 'miss'],
    [{ fwd: 'miss', collapsed: true }, 'collapsed'],
    [{ fwd: 'bypass' }, 'pass'],
    [{ fwd: 'bypass', collapsed: true }, 'pass'],
    [{ fwd: 'miss', passed: true, detail: 'private' }, 'pass'],
  ];
  for (const [parts, label] of table) assert.equal(cacheStatusLabel(parts), label, JSON.stringify(parts));
});

// RFC 8941 §3.1.2 parameters on an sf-token member: "; key" or "; key=bare-item".
const KEY = /[a-z*][a-z0-9_\-.*]*/.source;
const BARE_ITEM = [
  /-?\d{1,15}/.source, // sf-integer
  /[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/.source, // sf-token
  /"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"/.source, // sf-string
  /\?[01]/.source, // sf-boolean
].join('|');
const MEMBER = new RegExp(`^imgedge(?:;[ ]*${KEY}(?:=(?:${BARE_ITEM}))?)*$`);

test('property: any parts give one well-formed RFC 8941 list member whose parameters appear once', () => {
  const forward = fc.constantFrom<Forward | undefined>(undefined, 'miss', 'stale', 'uri-miss', 'request', 'bypass');
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 30 });
  const parts = fc.record(
    {
      hit: fc.boolean(),
      fwd: forward,
      fwdStatus: fc.integer({ min: 100, max: 599 }),
      stored: fc.boolean(),
      collapsed: fc.boolean(),
      ttl: fc.double({ min: -1e9, max: 1e9, noNaN: true }),
      detail: printable,
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(parts, (p: CacheStatusParts) => {
      const value = cacheStatus(p);
      assert.match(value, MEMBER);
      // detail comes last and may hold ";" inside its quotes.
      const keys = value.replace(/; detail=.*$/, '; detail').split(';').slice(1).map((param) => param.trim().split('=')[0]);
      assert.equal(new Set(keys).size, keys.length, 'no repeated parameter');
      assert.equal(keys.includes('hit'), p.hit === true);
      assert.equal(keys.includes('fwd'), p.fwd !== undefined);
      const label = cacheStatusLabel(p);
      assert.ok(['hit', 'stale', 'revalidated', 'miss', 'collapsed', 'pass', 'none'].includes(label));
    }),
    PROPS,
  );
});
