// Cache keys and the hashed file names objects live in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  cacheKey, derivedKey, derivedParts, keyPath, keyHash, objectFileName, hashOfFileName, variantKey, primaryKey, variantNames,
} from '../../src/cache/key.js';
import { varySpec } from '../../src/http/vary.js';
import { normaliseTarget } from '../../src/http/path.js';

/** URL path segments: pchar, percent signs and a non-ASCII letter. */
/** Any code point, lone surrogates included (cheaper to build than fast-check's 'binary' unit). */
const anyChar = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));
const segment = fc.string({ unit: fc.constantFrom(..."aZ09-._~!$&'()*+,=:@%é".split('')), maxLength: 8 });
const PROPS = { seed: 42, numRuns: 500 } as const;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

test('cacheKey and keyPath', () => {
  const table: [path: string, query: string, key: string][] = [
    ['/a.jpg', '', '/a.jpg'],
    ['/a.jpg', 'v=3', '/a.jpg?v=3'],
    ['/a.jpg', 'w=200&format=webp', '/a.jpg?w=200&format=webp'],
    ['/a.jpg', 'a?b', '/a.jpg?a?b'],
    ['/', '', '/'],
    ['/dir/', 'x', '/dir/?x'],
  ];
  for (const [p, q, key] of table) {
    assert.equal(cacheKey(p, q), key);
    assert.equal(keyPath(key), p);
  }
  // The query is part of the key: different queries, different objects.
  assert.notEqual(cacheKey('/a.jpg', 'v=1'), cacheKey('/a.jpg', 'v=2'));
  assert.notEqual(cacheKey('/a.jpg', 'w=1&h=2'), cacheKey('/a.jpg', 'h=2&w=1'));
});

test('variantKey: beside the primary key, found by its path, naming what it varies on', () => {
  const names = ['accept', 'accept-language'];
  const key = variantKey('/a.jpg?w=2', names, varySpec(names, { accept: 'image/webp' }));
  assert.equal(primaryKey(key), '/a.jpg?w=2');
  assert.equal(keyPath(key), '/a.jpg');
  assert.deepEqual(variantNames(key), names);
  assert.equal(primaryKey('/a.jpg?w=2'), '/a.jpg?w=2', 'a key without Vary stays what it is');
  assert.equal(variantNames('/a.jpg?w=2'), null);
  assert.notEqual(key, variantKey('/a.jpg?w=2', names, varySpec(names, { accept: 'image/avif' })));
  assert.notEqual(key, variantKey('/a.jpg?w=2', names, varySpec(names, { accept: 'image/webp', 'accept-language': '' })));
  assert.equal(variantKey('/b.jpg', ['accept'], varySpec(['accept'], { accept: 'x' }, { accept: () => 'webp' })),
    variantKey('/b.jpg', ['accept'], varySpec(['accept'], { accept: 'y' }, { accept: () => 'webp' })),
    'a normaliser keys by what it reduces the value to (the chosen format, say)');
  // The values' part is the first 32 hex digits of their spec's hash: the key's stored form.
  assert.equal(variantKey('/c.jpg', ['accept'], 'spec'), `/c.jpg accept ${keyHash('spec').slice(0, 32)}`);
});

test('derivedKey and derivedParts: an image variant keeps its source key\'s path; other keys have no parts', () => {
  const key = derivedKey('/photos/a.jpg?v=2', 'w=200,format=webp');
  assert.equal(key, '/photos/a.jpg?v=2#w=200,format=webp');
  assert.equal(keyPath(key), '/photos/a.jpg');
  assert.deepEqual(derivedParts(key), { source: '/photos/a.jpg?v=2', transform: 'w=200,format=webp' });
  // A variant (Vary) of a derived key names the same source and transform.
  assert.deepEqual(derivedParts(variantKey(key, ['accept'], 'x')), { source: '/photos/a.jpg?v=2', transform: 'w=200,format=webp' });
  assert.equal(derivedParts('/photos/a.jpg?v=2'), null);
  assert.equal(derivedParts(variantKey('/photos/a.jpg', ['accept'], 'x')), null);
});

test('keyHash: SHA-256 in lower-case hex', () => {
  assert.equal(keyHash(''), EMPTY_SHA256);
  assert.match(keyHash('/a.jpg'), /^[0-9a-f]{64}$/);
  assert.equal(keyHash('/a.jpg'), keyHash('/a.jpg'));
  assert.notEqual(keyHash('/a.jpg'), keyHash('/a.jpg?'));
  assert.notEqual(keyHash('/é'), keyHash('/%C3%A9'));
});

test('objectFileName: "ab/<hash>.<8 hex>", a new version each time', () => {
  const hash = keyHash('/a.jpg');
  const name = objectFileName(hash);
  assert.match(name, new RegExp(`^${hash.slice(0, 2)}/${hash}\\.[0-9a-f]{8}$`));
  const names = new Set(Array.from({ length: 50 }, () => objectFileName(hash)));
  assert.equal(names.size, 50, 'versions differ');
  assert.equal(hashOfFileName(name), hash);
});

test('hashOfFileName: null for anything that is not an object file', () => {
  const hash = EMPTY_SHA256;
  const foreign = [
    '',
    hash,
    `${hash}.0123abcd`,
    `e3/${hash}`,
    `e3/${hash}.`,
    `e3/${hash}.0123abc`,
    `e3/${hash}.0123abcde`,
    `e3/${hash}.0123ABCD`,
    `e3/${hash}.0123abcd.tmp`,
    `e4/${hash}.0123abcd`,
    `E3/${hash.toUpperCase()}.0123abcd`,
    `e3/${hash.slice(0, 63)}.0123abcd`,
    `e3/${hash}0.0123abcd`,
    `../e3/${hash}.0123abcd`,
    `e3/../${hash}.0123abcd`,
    `tmp/${hash}.0123abcd`,
    `e3/${hash}.0123abcd\n`,
    'index.log',
  ];
  for (const name of foreign) assert.equal(hashOfFileName(name), null, JSON.stringify(name));
  assert.equal(hashOfFileName(`e3/${hash}.0123abcd`), hash);
});

test('property: the path part of a key is the canonical path; file names carry the key hash back', () => {
  const target = fc
    .tuple(fc.array(segment, { maxLength: 6 }), fc.option(segment, { nil: undefined }))
    .map(([segments, query]) => `/${segments.join('/')}${query === undefined ? '' : `?${query}`}`);
  fc.assert(
    fc.property(target, (raw) => {
      let canonical: { path: string; query: string };
      try {
        canonical = normaliseTarget(raw);
      } catch {
        return;
      }
      const key = cacheKey(canonical.path, canonical.query);
      assert.equal(keyPath(key), canonical.path);
      const hash = keyHash(key);
      assert.match(hash, /^[0-9a-f]{64}$/);
      assert.equal(hashOfFileName(objectFileName(hash)), hash);
    }),
    PROPS,
  );
  fc.assert(
    fc.property(fc.string({ unit: anyChar, maxLength: 64 }), (key) => {
      const name = objectFileName(keyHash(key));
      assert.equal(hashOfFileName(name), keyHash(key));
      assert.ok(!name.includes('..') && name.split('/').length === 2, 'no request text reaches the file system');
    }),
    PROPS,
  );
});
