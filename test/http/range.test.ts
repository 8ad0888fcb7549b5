// RFC 9110 §14: one byte range, or the whole object, or 416.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseRange, contentRange, type RangeDecision } from '../../src/http/range.js';

const PROPS = { seed: 42, numRuns: 2000 } as const;
const WHOLE: RangeDecision = { kind: 'whole' };
const UNSATISFIABLE: RangeDecision = { kind: 'unsatisfiable' };
const part = (start: number, end: number): RangeDecision => ({ kind: 'partial', start, end });

test('parseRange: RFC 9110 §14.1.2 byte ranges against a 10 000-byte object', () => {
  const size = 10_000;
  const table: [header: string | undefined, expected: RangeDecision][] = [
    [undefined, WHOLE],
    // §14.1.2 examples: first 500, second 500, last 500.
    ['bytes=0-499', part(0, 499)],
    ['xbytes=0-499', WHOLE],
    ['megabytes=0-499', WHOLE],
    ['bytes=500-999', part(500, 999)],
    ['bytes=-500', part(9500, 9999)],
    ['bytes=9500-', part(9500, 9999)],
    ['bytes=0-0', part(0, 0)],
    ['bytes=-1', part(9999, 9999)],
    ['bytes=0-', part(0, 9999)],
    ['bytes=9999-9999', part(9999, 9999)],
    // last-pos beyond the end is clipped (§14.1.1).
    ['bytes=0-10000', part(0, 9999)],
    ['bytes=9000-99999999999999999999', part(9000, 9999)],
    // suffix longer than the object: the whole object as a 206 (§14.1.1).
    ['bytes=-10000', part(0, 9999)],
    ['bytes=-20000', part(0, 9999)],
    ['bytes=-99999999999999999999', part(0, 9999)],
    // first-pos at or past the end: unsatisfiable (§14.1.1, §15.5.17).
    ['bytes=10000-', UNSATISFIABLE],
    ['bytes=10000-10005', UNSATISFIABLE],
    ['bytes=99999999999999999999-', UNSATISFIABLE],
    // a suffix of zero selects nothing.
    ['bytes=-0', UNSATISFIABLE],
    // last < first: invalid, so the header is ignored (§14.1.1).
    ['bytes=500-499', WHOLE],
    ['bytes=20000-10', WHOLE],
    ['bytes=99999999999999999999-10', WHOLE],
    // case-insensitive unit (§14.1), optional whitespace tolerated.
    ['BYTES=0-1', part(0, 1)],
    ['Bytes=0-1', part(0, 1)],
    [' bytes = 1 - 2 ', part(1, 2)],
    // several ranges: may be ignored (§14.2), served whole.
    ['bytes=0-1,3-4', WHOLE],
    ['bytes=0-1, -2', WHOLE],
    ['bytes=0-0,-1', WHOLE],
    // bad syntax or another unit: ignored.
    ['', WHOLE],
    ['bytes', WHOLE],
    ['bytes=', WHOLE],
    ['bytes=-', WHOLE],
    ['bytes=a-b', WHOLE],
    ['bytes=1-2-3', WHOLE],
    ['bytes=--1', WHOLE],
    ['bytes=-1-', WHOLE],
    ['bytes=1.5-2', WHOLE],
    ['bytes=0x10-', WHOLE],
    ['bytes=+1-2', WHOLE],
    ['bytes 0-1', WHOLE],
    ['bits=0-1', WHOLE],
    ['items=0-1', WHOLE],
    ['bytes=0-1;x', WHOLE],
  ];
  for (const [header, expected] of table) assert.deepEqual(parseRange(header, size), expected, String(header));
});

test('parseRange: a zero-length object satisfies no first-pos range', () => {
  assert.deepEqual(parseRange('bytes=0-', 0), UNSATISFIABLE);
  assert.deepEqual(parseRange('bytes=0-0', 0), UNSATISFIABLE);
  assert.deepEqual(parseRange('bytes=0-100', 0), UNSATISFIABLE);
  assert.deepEqual(parseRange('bytes=-0', 0), UNSATISFIABLE);
  assert.deepEqual(parseRange(undefined, 0), WHOLE);
  assert.deepEqual(parseRange('bytes=0-1,2-3', 0), WHOLE);
});

test(
  'parseRange: a non-zero suffix on a zero-length object is satisfiable (RFC 9110 §14.1.1), so not a 416',
  () => {
    assert.deepEqual(parseRange('bytes=-5', 0), WHOLE);
    assert.deepEqual(parseRange('bytes=-1', 0), WHOLE);
  },
);

test('parseRange: one-byte object', () => {
  assert.deepEqual(parseRange('bytes=0-', 1), part(0, 0));
  assert.deepEqual(parseRange('bytes=-1', 1), part(0, 0));
  assert.deepEqual(parseRange('bytes=-2', 1), part(0, 0));
  assert.deepEqual(parseRange('bytes=0-5', 1), part(0, 0));
  assert.deepEqual(parseRange('bytes=1-', 1), UNSATISFIABLE);
});

test('contentRange: RFC 9110 §14.4', () => {
  assert.equal(contentRange(0, 499, 10_000), 'bytes 0-499/10000');
  assert.equal(contentRange(9999, 9999, 10_000), 'bytes 9999-9999/10000');
  assert.equal(contentRange(0, 0, 1), 'bytes 0-0/1');
});

const rangeHeader = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('bytes', 'BYTES', 'bytes ', 'items', ''),
      fc.option(fc.oneof(fc.nat(), fc.nat({ max: 2000 }), fc.constant(Number.MAX_SAFE_INTEGER)).map(String), { nil: '' }),
      fc.option(fc.oneof(fc.nat(), fc.nat({ max: 2000 })).map(String), { nil: '' }),
      fc.constantFrom('', ',0-1', ' ', '-'),
    )
    .map(([unit, first, last, tail]) => `${unit}=${first}-${last}${tail}`),
  fc.string({ unit: fc.constantFrom('b', 'y', 't', 'e', 's', '=', '-', ',', ' ', '0', '1', '9'), maxLength: 16 }),
  fc.string({ maxLength: 16 }),
  fc.stringMatching(/^bytes=\d{0,25}-\d{0,25}$/),
);

test('property: a partial answer always lies inside the object, and contentRange describes it', () => {
  fc.assert(
    fc.property(fc.option(rangeHeader, { nil: undefined }), fc.oneof(fc.nat({ max: 3000 }), fc.maxSafeNat()), (header, size) => {
      const decision = parseRange(header, size);
      assert.ok(['whole', 'partial', 'unsatisfiable'].includes(decision.kind));
      if (decision.kind !== 'partial') return;
      assert.ok(Number.isSafeInteger(decision.start) && Number.isSafeInteger(decision.end), 'whole numbers');
      assert.ok(decision.start >= 0, 'start >= 0');
      assert.ok(decision.start <= decision.end, 'start <= end');
      assert.ok(decision.end < size, 'end < size');
      assert.equal(contentRange(decision.start, decision.end, size), `bytes ${decision.start}-${decision.end}/${size}`);
    }),
    PROPS,
  );
});

test('property: a well-formed first-last range is sliced exactly as the RFC says', () => {
  fc.assert(
    fc.property(fc.nat({ max: 5000 }), fc.nat({ max: 5000 }), fc.nat({ max: 5000 }), (first, last, size) => {
      const decision = parseRange(`bytes=${first}-${last}`, size);
      if (last < first) assert.deepEqual(decision, WHOLE);
      else if (first >= size) assert.deepEqual(decision, UNSATISFIABLE);
      else assert.deepEqual(decision, part(first, Math.min(last, size - 1)));
    }),
    PROPS,
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), (suffix, size) => {
      assert.deepEqual(parseRange(`bytes=-${suffix}`, size), part(Math.max(0, size - suffix), size - 1));
    }),
    PROPS,
  );
});
