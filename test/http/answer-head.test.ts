// The head of every answer: the stored fields less the edge's own, the body's framing, then the answer's fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliveryFields, objectFields } from '../../src/http/answer-head.js';

const pairs = (flat: string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
};

test('objectFields: the edge writes Content-Length, Age and Cache-Status itself, never a stored copy', () => {
  const stored = { 'content-type': 'image/jpeg', 'content-length': '999', age: '40', 'cache-status': 'other; hit', etag: '"a"' };
  assert.deepEqual(pairs(objectFields(stored, { length: 10, ranges: false })), [
    ['content-type', 'image/jpeg'], ['etag', '"a"'], ['content-length', '10'],
  ]);
  assert.deepEqual(pairs(objectFields(stored, { length: undefined, ranges: false })), [['content-type', 'image/jpeg'], ['etag', '"a"']]);
});

test('objectFields: the framing\'s Accept-Ranges and Content-Range replace the origin\'s; without them the origin\'s go out', () => {
  const stored = { 'accept-ranges': 'none', 'content-range': 'bytes */50', 'x-other': '1' };
  assert.deepEqual(pairs(objectFields(stored, { length: 5, ranges: true, contentRange: 'bytes 0-4/50' })), [
    ['x-other', '1'], ['content-length', '5'], ['accept-ranges', 'bytes'], ['content-range', 'bytes 0-4/50'],
  ]);
  assert.deepEqual(pairs(objectFields(stored, { length: 50, ranges: false })), [
    ['accept-ranges', 'none'], ['content-range', 'bytes */50'], ['x-other', '1'], ['content-length', '50'],
  ]);
  // One replaced, the other the origin's.
  assert.deepEqual(pairs(objectFields(stored, { length: 50, ranges: true })), [
    ['content-range', 'bytes */50'], ['x-other', '1'], ['content-length', '50'], ['accept-ranges', 'bytes'],
  ]);
  assert.deepEqual(pairs(objectFields(stored, { length: 5, ranges: false, contentRange: 'bytes 0-4/50' })), [
    ['accept-ranges', 'none'], ['x-other', '1'], ['content-length', '5'], ['content-range', 'bytes 0-4/50'],
  ]);
});

test('deliveryFields: Cache-Status, the cache\'s Age or else the origin\'s, and a Date only when none is stored', () => {
  const now = () => 'Sat, 05 Dec 2026 12:00:00 GMT';
  assert.deepEqual(pairs(deliveryFields({}, 'imgedge; hit', 3, now)), [
    ['cache-status', 'imgedge; hit'], ['age', '3'], ['date', 'Sat, 05 Dec 2026 12:00:00 GMT'],
  ]);
  assert.deepEqual(pairs(deliveryFields({ age: '7', date: 'Fri, 04 Dec 2026 12:00:00 GMT' }, 'imgedge; fwd=miss', undefined, now)), [
    ['cache-status', 'imgedge; fwd=miss'], ['age', '7'],
  ]);
  assert.deepEqual(pairs(deliveryFields({ age: '7' }, 'imgedge; hit', 0, now)), [
    ['cache-status', 'imgedge; hit'], ['age', '0'], ['date', 'Sat, 05 Dec 2026 12:00:00 GMT'],
  ]);
  assert.deepEqual(pairs(deliveryFields({ date: 'Fri, 04 Dec 2026 12:00:00 GMT' }, 'imgedge; fwd=miss', undefined, now)), [
    ['cache-status', 'imgedge; fwd=miss'],
  ]);
});
