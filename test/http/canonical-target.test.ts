// The hit path's check: a target that needs no normalising is taken as it is;
// anything else is null and goes to normaliseTarget. Both must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalTarget, normaliseTarget } from '../../src/http/path.js';

test('canonicalTarget: a canonical path and a plain query are split at the first "?"', () => {
  assert.deepEqual(canonicalTarget('/a.jpg'), { path: '/a.jpg', query: '' });
  assert.deepEqual(canonicalTarget('/'), { path: '/', query: '' });
  assert.deepEqual(canonicalTarget('/a/b/'), { path: '/a/b/', query: '' });
  assert.deepEqual(canonicalTarget('/a.jpg?w=100&h=5'), { path: '/a.jpg', query: 'w=100&h=5' });
  assert.deepEqual(canonicalTarget('/a.jpg?x=1?y=2/z'), { path: '/a.jpg', query: 'x=1?y=2/z' });
  assert.deepEqual(canonicalTarget('/a.jpg?'), { path: '/a.jpg', query: '' });
});

test('canonicalTarget: anything needing work or refusal is null', () => {
  for (const target of [
    '', 'a.jpg', '//a.jpg', '/a//b.jpg', '/./a.jpg', '/a/../b.jpg', '/a/.', '/a/..', '/%61.jpg', '/a b.jpg', '/a.jpg#x',
    '/a.jpg?x=%00', '/a.jpg?x y', '/a.jpg?x="q"', '/a.jpg?x=<', `/${'a'.repeat(2048)}`, `/a.jpg?${'q'.repeat(2049)}`,
  ]) {
    assert.equal(canonicalTarget(target), null, JSON.stringify(target.slice(0, 40)));
  }
  assert.deepEqual(canonicalTarget(`/a.jpg?${'q'.repeat(2048)}`), { path: '/a.jpg', query: 'q'.repeat(2048) });
  assert.deepEqual(canonicalTarget(`/${'a'.repeat(2047)}`)?.path.length, 2048);
});

test('property: whenever canonicalTarget takes a target, normaliseTarget gives the same', () => {
  const char = fc.constantFrom(...'ab./%2F?=&~-_:@!$()*+,;'.split(''));
  fc.assert(
    fc.property(fc.array(char, { maxLength: 30 }).map((cs) => `/${cs.join('')}`), (target) => {
      const quick = canonicalTarget(target);
      if (quick === null) return;
      assert.deepEqual(normaliseTarget(target), quick);
    }),
    { seed: 11, numRuns: 500 },
  );
});
