// RFC 9110 §13: If-None-Match, If-Modified-Since and If-Range against what the cache holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { noneMatch, isNotModified, ifRangeHolds, NOT_MODIFIED_FIELDS } from '../../src/http/conditional.js';
import type { HeaderMap } from '../../src/http/headers.js';

const PROPS = { seed: 42, numRuns: 500 } as const;

const MODIFIED = 'Tue, 15 Nov 1994 12:45:26 GMT';
const BEFORE = 'Tue, 15 Nov 1994 12:45:25 GMT';
const AFTER = 'Tue, 15 Nov 1994 12:45:27 GMT';

test('noneMatch: weak comparison (§8.8.3.2), lists and "*"', () => {
  const table: [ifNoneMatch: string, etag: string | undefined, matches: boolean][] = [
    ['"xyzzy"', '"xyzzy"', true],
    ['"xyzzy"', '"other"', false],
    ['W/"xyzzy"', '"xyzzy"', true],
    ['"xyzzy"', 'W/"xyzzy"', true],
    ['W/"xyzzy"', 'W/"xyzzy"', true],
    ['W/"1"', 'W/"2"', false],
    ['"a", "b", "c"', '"b"', true],
    ['"a","b","c"', '"c"', true],
    ['"a", W/"b"', '"b"', true],
    ['"a", "b"', '"d"', false],
    ['  "a"  ,   "b"  ', '"b"', true],
    ['"a,b"', '"a,b"', true],
    ['"a,b"', '"a"', false],
    ['"a", "b"', undefined, false],
    ['*', '"anything"', true],
    ['*', 'W/"anything"', true],
    [' * ', '"anything"', true],
    ['*', undefined, false],
    ['"xyzzy"', undefined, false],
    ['', '"a"', false],
    ['xyzzy', '"xyzzy"', false], // not an entity-tag
    ['""', '""', true],
    ['"a"', '"A"', false], // opaque-tags are case-sensitive
  ];
  for (const [inm, etag, matches] of table) assert.equal(noneMatch(inm, etag), matches, `${inm} vs ${etag}`);
});

test('isNotModified: If-None-Match, If-Modified-Since and their precedence (§13.2.2)', () => {
  const stored: HeaderMap = { etag: '"v1"', 'last-modified': MODIFIED };
  const table: [request: HeaderMap, response: HeaderMap, notModified: boolean, why: string][] = [
    [{}, stored, false, 'unconditional'],
    [{ 'if-none-match': '"v1"' }, stored, true, 'etag matches'],
    [{ 'if-none-match': 'W/"v1"' }, stored, true, 'weak match'],
    [{ 'if-none-match': '"v0"' }, stored, false, 'etag differs'],
    [{ 'if-none-match': '"v0", "v1"' }, stored, true, 'one of a list'],
    [{ 'if-none-match': '*' }, stored, true, 'any'],
    [{ 'if-modified-since': MODIFIED }, stored, true, 'same date'],
    [{ 'if-modified-since': AFTER }, stored, true, 'later date'],
    [{ 'if-modified-since': BEFORE }, stored, false, 'earlier date'],
    [{ 'if-modified-since': 'Sunday, 06-Nov-94 08:49:37 GMT' }, { 'last-modified': 'Sun, 06 Nov 1994 08:49:37 GMT' }, true, 'RFC 850 date'],
    [{ 'if-modified-since': 'Sun Nov  6 08:49:37 1994' }, { 'last-modified': 'Sun, 06 Nov 1994 08:49:37 GMT' }, true, 'asctime date'],
    [{ 'if-modified-since': 'not a date' }, stored, false, 'invalid date ignored'],
    [{ 'if-modified-since': MODIFIED }, { etag: '"v1"' }, false, 'no Last-Modified'],
    [{ 'if-modified-since': MODIFIED }, { 'last-modified': 'garbage' }, false, 'bad Last-Modified'],
    // §13.2.2: If-None-Match wins; If-Modified-Since is not even looked at.
    [{ 'if-none-match': '"v0"', 'if-modified-since': AFTER }, stored, false, 'INM fails, IMS would pass'],
    [{ 'if-none-match': '"v1"', 'if-modified-since': BEFORE }, stored, true, 'INM passes, IMS would fail'],
    [{ 'if-none-match': '"v1"' }, { 'last-modified': MODIFIED }, false, 'no etag to match'],
    [{ 'if-none-match': '*' }, { 'last-modified': MODIFIED }, false, '* with no etag'],
  ];
  for (const [request, response, expected, why] of table) assert.equal(isNotModified(request, response), expected, why);
});

test('ifRangeHolds: strong entity-tags and exact dates only (§13.1.5)', () => {
  const table: [ifRange: string | undefined, response: HeaderMap, holds: boolean, why: string][] = [
    [undefined, { etag: '"v1"' }, true, 'no If-Range'],
    ['"v1"', { etag: '"v1"' }, true, 'strong match'],
    [' "v1" ', { etag: '"v1"' }, true, 'whitespace around'],
    ['"v2"', { etag: '"v1"' }, false, 'strong mismatch'],
    ['W/"v1"', { etag: 'W/"v1"' }, false, 'weak tag in If-Range'],
    ['W/"v1"', { etag: '"v1"' }, false, 'weak tag in If-Range, strong stored'],
    ['"v1"', { etag: 'W/"v1"' }, false, 'weak tag stored'],
    ['"v1"', {}, false, 'no etag stored'],
    [MODIFIED, { 'last-modified': MODIFIED }, true, 'same date'],
    [AFTER, { 'last-modified': MODIFIED }, false, 'later date: not an exact match'],
    [BEFORE, { 'last-modified': MODIFIED }, false, 'earlier date'],
    [MODIFIED, { etag: '"v1"' }, false, 'date but no Last-Modified'],
    ['garbage', { 'last-modified': MODIFIED }, false, 'neither tag nor date'],
    ['"v1"', { 'last-modified': MODIFIED }, false, 'tag against a date-only object'],
  ];
  for (const [ifRange, response, expected, why] of table) assert.equal(ifRangeHolds(ifRange, response), expected, why);
});

test('NOT_MODIFIED_FIELDS lists what §15.4.5 says a 304 carries', () => {
  // §15.4.5's six, and Last-Modified, which lets a client keep revalidating by date.
  assert.deepEqual([...NOT_MODIFIED_FIELDS].sort(), ['cache-control', 'content-location', 'date', 'etag', 'expires', 'last-modified', 'vary']);
});

const opaque = fc.string({ unit: fc.constantFrom('a', 'b', '1', '-', ',', ' ', 'W', '/'), maxLength: 6 });
const entityTag = fc.tuple(fc.boolean(), opaque).map(([weak, tag]) => `${weak ? 'W/' : ''}"${tag}"`);
const stripWeak = (tag: string): string => tag.replace(/^W\//, '');

test('property: a tag in an If-None-Match list matches exactly when its opaque part equals the stored one', () => {
  fc.assert(
    fc.property(fc.array(entityTag, { maxLength: 5 }), entityTag, fc.constantFrom(',', ', ', ' ,  '), (list, etag, sep) => {
      const expected = list.some((tag) => stripWeak(tag) === stripWeak(etag));
      assert.equal(noneMatch(list.join(sep), etag), expected);
      assert.equal(isNotModified({ 'if-none-match': list.join(sep) }, { etag }), expected);
    }),
    PROPS,
  );
});

test('property: If-Modified-Since answers 304 exactly when Last-Modified is not later', () => {
  const second = fc.integer({ min: 0, max: 4_000_000_000 }).map((s) => s * 1000);
  fc.assert(
    fc.property(second, second, (modified, since) => {
      const request = { 'if-modified-since': new Date(since).toUTCString() };
      const response = { 'last-modified': new Date(modified).toUTCString() };
      assert.equal(isNotModified(request, response), modified <= since);
      assert.equal(ifRangeHolds(new Date(since).toUTCString(), response), modified === since);
    }),
    PROPS,
  );
});

test('property: If-Range with a strong tag holds exactly for the same strong tag', () => {
  fc.assert(
    fc.property(entityTag, entityTag, (ifRange, etag) => {
      const strong = !ifRange.startsWith('W/') && !etag.startsWith('W/');
      assert.equal(ifRangeHolds(ifRange, { etag }), strong && ifRange === etag);
    }),
    PROPS,
  );
});

test('a stored ETag with trailing whitespace (undici keeps a field\'s trailing OWS) is the same tag', () => {
  assert.ok(noneMatch('"a"', '"a"  \t '));
  assert.ok(noneMatch('"x", W/"a"', 'W/"a" '));
  assert.ok(isNotModified({ 'if-none-match': '"a"' }, { etag: '"a" ' }));
  assert.ok(ifRangeHolds('"a"', { etag: '"a" \t' }));
  assert.ok(!ifRangeHolds('"a"', { etag: 'W/"a" ' }));
});

test('ifRangeHolds: a value that starts like a tag is compared as one, exactly as the origin sent the ETag', () => {
  assert.ok(ifRangeHolds('"v1', { etag: '"v1' }));
  assert.ok(!ifRangeHolds('"v1', { etag: '"v1"' }));
  assert.ok(!ifRangeHolds('W/"v1"', { etag: 'W/"v1"', 'last-modified': MODIFIED }));
});
