// Copies of objects another replica owns, held in memory beside the hot
// copies of stored objects, within the same budget: found by key, dropped by
// path and by prefix exactly as stored objects are, and forgotten when the
// memory budget pushes them out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HotObjects, hotObject } from '../../src/cache/hot.js';
import type { ObjectMeta } from '../../src/cache/store.js';
import { policyFor } from '../../src/http/freshness.js';

const KIB = 1024;
const NOW = Date.parse('2024-03-01T12:00:00Z');

function copyOf(key: string, size: number) {
  const headers = { 'content-type': 'image/jpeg', 'cache-control': 'max-age=60' };
  const policy = policyFor({ url: key, method: 'GET', headers: {} }, { status: 200, headers }, NOW).toObject();
  const meta: ObjectMeta = { v: 1, key, status: 200, lifetimeSec: 60, policy, bodyBytes: size };
  return hotObject(meta, headers, Buffer.alloc(size, key));
}

function keep(hot: HotObjects, keys: string[], size = KIB): void {
  for (const key of keys) hot.keepBorrowed(key, copyOf(key, size));
}

test('a path drops its object with every query, and nothing else', () => {
  const hot = new HotObjects(64 * KIB * 16);
  keep(hot, ['/a.jpg', '/a.jpg?w=100', '/a.jpg#w=100', '/a.jpgx', '/b/a.jpg', '/a']);
  assert.equal(hot.dropBorrowed(['/a.jpg'], []), 3);
  for (const gone of ['/a.jpg', '/a.jpg?w=100', '/a.jpg#w=100']) assert.equal(hot.borrowed(gone), undefined, gone);
  for (const kept of ['/a.jpgx', '/b/a.jpg', '/a']) assert.ok(hot.borrowed(kept), kept);
});

test('a prefix drops what lies under it, and nothing that merely contains it', () => {
  const hot = new HotObjects(64 * KIB * 16);
  keep(hot, ['/p/x.jpg', '/p/q/y.jpg?z=1', '/x/p/y.jpg', '/p', '/pp/z.jpg']);
  assert.equal(hot.dropBorrowed([], ['/p/']), 2);
  for (const kept of ['/x/p/y.jpg', '/p', '/pp/z.jpg']) assert.ok(hot.borrowed(kept), kept);
  assert.equal(hot.dropBorrowed(['/nothing.jpg'], ['/none/']), 0);
});

test('a copy kept again under its key is still dropped by its path', () => {
  const hot = new HotObjects(64 * KIB * 16);
  keep(hot, ['/again.jpg']);
  keep(hot, ['/again.jpg'], 2 * KIB);
  assert.equal(hot.borrowed('/again.jpg')?.body.length, 2 * KIB);
  assert.equal(hot.dropBorrowed(['/again.jpg'], []), 1);
  assert.equal(hot.borrowed('/again.jpg'), undefined);
});

test('copies share the memory budget with stored objects: the least recently used go first, and are forgotten', () => {
  // 64 KiB: objects up to 4 KiB, each costing its body and 1 KiB.
  const hot = new HotObjects(64 * KIB);
  assert.equal(hot.maxObjectBytes, 4 * KIB);
  const keys = Array.from({ length: 20 }, (_, i) => `/lru/${i}.jpg`);
  keep(hot, keys, 3 * KIB);
  const held = keys.filter((key) => hot.borrowed(key) !== undefined);
  assert.equal(held.length, 16);
  assert.deepEqual(held, keys.slice(4));
  // A stored object's copy pushes the oldest borrowed one out.
  hot.set('ab/stored.00000000', copyOf('/stored.jpg', 3 * KIB));
  assert.equal(hot.borrowed('/lru/4.jpg'), undefined);
  assert.equal(hot.dropBorrowed([], ['/lru/']), 15);
  assert.ok(hot.get('ab/stored.00000000'));
});

test('without memory, or too large for it, nothing is kept', () => {
  const none = new HotObjects(0);
  assert.equal(none.holds(1), false);
  keep(none, ['/none.jpg']);
  assert.equal(none.borrowed('/none.jpg'), undefined);
  assert.equal(none.dropBorrowed(['/none.jpg'], []), 0);
  const small = new HotObjects(64 * KIB);
  assert.equal(small.holds(4 * KIB), true);
  assert.equal(small.holds(4 * KIB + 1), false);
  assert.equal(new HotObjects(1024 * 1024 * 1024).maxObjectBytes, 1024 * 1024);
});

test('dropping one key leaves its path\'s other copies', () => {
  const hot = new HotObjects(64 * KIB * 16);
  keep(hot, ['/one.jpg', '/one.jpg?w=10']);
  hot.dropBorrowedKey('/one.jpg');
  assert.equal(hot.borrowed('/one.jpg'), undefined);
  assert.equal(hot.dropBorrowed(['/one.jpg'], []), 1);
});
