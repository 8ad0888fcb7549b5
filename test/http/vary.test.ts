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
