// Vary: which request headers select a stored response, and their normalised values (RFC 9111 §4.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { varyNames, varySpec } from '../../src/http/vary.js';

test('varyNames: sorted, lower case, without Accept-Encoding; * wins; nothing is null', () => {
  const table: [string | undefined, ReturnType<typeof varyNames>][] = [
    [undefined, null], ['', null], ['Accept-Encoding', null], [' accept-encoding ,', null],
    ['Foo', ['foo']], ['Foo, Bar, Baz', ['bar', 'baz', 'foo']], ['foo, FOO', ['foo']],
    ['Accept-Encoding, Accept', ['accept']], ['*', '*'], ['Foo, *', '*'], [', *', '*'], ['*, *', '*'],
  ];
  for (const [vary, expected] of table) assert.deepEqual(varyNames(vary === undefined ? {} : { vary }), expected, String(vary));
});

test('varySpec: equal for requests that mean the same, different otherwise', () => {
  const same = (names: string[], a: Record<string, string>, b: Record<string, string>) => varySpec(names, a) === varySpec(names, b);
  assert.ok(same(['foo'], { foo: '1, 2' }, { foo: ' 1,2 ' }));
  assert.ok(same(['accept-language'], { 'accept-language': 'en, de' }, { 'accept-language': 'DE,en' }));
  assert.ok(same(['foo'], { foo: '1', other: '2' }, { foo: '1', other: '3' }));
  assert.ok(!same(['foo'], { foo: '1' }, { foo: '2' }));
  assert.ok(!same(['foo'], { foo: '' }, {}), 'absent is not empty');
  assert.ok(!same(['bar', 'foo'], { foo: '1', bar: 'abc' }, { foo: '1', bar: 'abcde' }));
  assert.ok(!same(['foo'], { foo: 'A' }, { foo: 'a' }), 'values of unknown headers keep their case');
});

test('varySpec: its exact text, which stored variants are keyed by', () => {
  // The text is hashed into every variant's key on disk: another text for the
  // same request orphans what is stored.
  assert.equal(varySpec([], {}), '');
  assert.equal(varySpec(['foo'], {}), 'foo\n');
  assert.equal(varySpec(['bar', 'foo'], { bar: ' a , b ', foo: '1' }), 'bar=a,b\nfoo=1\n');
  assert.equal(varySpec(['accept-language'], { 'accept-language': 'EN-gb, de;q=0.5' }), 'accept-language=de;q=0.5,en-gb\n');
});

test('varySpec: list members keep their bounds, empty members go', () => {
  const spec = (names: string[], request: Record<string, string | string[]>) => varySpec(names, request);
  assert.notEqual(spec(['foo'], { foo: '1,23' }), spec(['foo'], { foo: '12,3' }));
  assert.notEqual(spec(['accept-language'], { 'accept-language': 'de, en' }), spec(['accept-language'], { 'accept-language': 'd, een' }));
  assert.equal(spec(['foo'], { foo: '1, ,2,' }), spec(['foo'], { foo: '1,2' }));
  assert.equal(spec(['accept-language'], { 'accept-language': 'en,,de' }), spec(['accept-language'], { 'accept-language': 'de,en' }));
  assert.notEqual(spec(['foo'], { foo: 'undefined' }), spec(['foo'], {}), 'absent is not the word undefined');
  assert.equal(spec(['foo'], { foo: ['1', '2'] }), spec(['foo'], { foo: '1, 2' }), 'repeated lines are one list');
  assert.notEqual(spec(['foo'], { foo: ['1', '2'] }), spec(['foo'], { foo: '12' }));
});

test('varySpec: a caller\'s normaliser comes before the built-in one', () => {
  const byFormat = { accept: (value: string | undefined) => (value?.includes('image/avif') ? 'avif' : 'jpeg') };
  assert.equal(varySpec(['accept'], { accept: 'image/avif,image/webp' }, byFormat), 'accept=avif\n');
  assert.equal(varySpec(['accept'], {}, byFormat), 'accept=jpeg\n');
});
