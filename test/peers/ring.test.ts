import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ownerOf } from '../../src/peers/ring.js';

const member = fc.integer({ min: 1, max: 250 }).map((n) => `http://10.0.0.${n}:8080`);
const members = fc.uniqueArray(member, { minLength: 1, maxLength: 12 });
const keys = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 40 }).map((s) => `/${s}`), { minLength: 1, maxLength: 200 });

test('a member joining takes only keys it now owns; none moves between the others', () => {
  fc.assert(
    fc.property(members, member, keys, (before, joining, keys) => {
      fc.pre(!before.includes(joining));
      const after = [...before, joining];
      for (const key of keys) {
        const was = ownerOf(key, before);
        const is = ownerOf(key, after);
        assert.ok(is === was || is === joining, `${key}: ${was} → ${is}`);
      }
    }),
    { seed: 20, numRuns: 300 },
  );
});

test("a member leaving gives away only its own keys", () => {
  fc.assert(
    fc.property(members, keys, fc.nat(), (before, keys, pick) => {
      fc.pre(before.length > 1);
      const leaving = before[pick % before.length]!;
      const after = before.filter((m) => m !== leaving);
      for (const key of keys) {
        const was = ownerOf(key, before);
        if (was !== leaving) assert.equal(ownerOf(key, after), was, key);
      }
    }),
    { seed: 20, numRuns: 300 },
  );
});

test('every replica agrees whatever order it lists the members in', () => {
  fc.assert(
    fc.property(members, keys, (list, keys) => {
      const reversed = [...list].reverse();
      for (const key of keys) assert.equal(ownerOf(key, list), ownerOf(key, reversed));
    }),
    { seed: 20, numRuns: 200 },
  );
});

test('keys spread over the members roughly evenly', () => {
  const list = ['http://10.0.0.1:8080', 'http://10.0.0.2:8080', 'http://10.0.0.3:8080'];
  const counts = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const owner = ownerOf(`/photos/${i}.jpg`, list)!;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  for (const m of list) assert.ok((counts.get(m) ?? 0) > 800, `${m}: ${counts.get(m)}`);
  assert.equal(ownerOf('/x', []), undefined);
});
