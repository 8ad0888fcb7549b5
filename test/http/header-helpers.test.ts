// The small header helpers every HTTP rule builds on (dates: headers.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  deltaSeconds, hasRepeatedHost, normaliseCacheControl, parseCacheControl, FIELD_NAME_CHAR, FIELD_VALUE_CHAR,
} from '../../src/http/headers.js';

test('parseCacheControl: names lower-cased, values unquoted, the first of a repeated directive kept', () => {
  assert.deepEqual([...parseCacheControl(undefined)], []);
  assert.deepEqual([...parseCacheControl('')], []);
  assert.deepEqual(
    [...parseCacheControl(' Max-Age = 60 , no-cache,, PRIVATE="x-a", s-maxage="30", max-age=5, ext=a=b ')],
    [['max-age', '60'], ['no-cache', ''], ['private', 'x-a'], ['s-maxage', '30'], ['ext', 'a=b']],
  );
  assert.equal(parseCacheControl('x="unterminated').get('x'), '"unterminated');
  assert.equal(parseCacheControl('max-age=5"3"').get('max-age'), '5"3"', 'quotes only around the whole value');
  assert.equal(parseCacheControl('max-age="5"3').get('max-age'), '"5"3');
});

test('normaliseCacheControl: lower-case names, values as sent, empty parts dropped', () => {
  assert.equal(normaliseCacheControl('Max-Age=60, NO-CACHE, ,Private="X-A"'), 'max-age=60, no-cache, private="X-A"');
  assert.equal(normaliseCacheControl(' S-MaxAge = 5 '), 's-maxage=5');
  assert.equal(normaliseCacheControl(''), '');
});

test('deltaSeconds: digits only, capped at 2^31; else undefined', () => {
  const cc = parseCacheControl('a=60, b=-1, c=1.5, d=, e, f=99999999999, g=0, h=" 7"');
  assert.equal(deltaSeconds(cc, 'a'), 60);
  assert.equal(deltaSeconds(cc, 'g'), 0);
  assert.equal(deltaSeconds(cc, 'f'), 2 ** 31);
  for (const name of ['b', 'c', 'd', 'e', 'h', 'missing']) assert.equal(deltaSeconds(cc, name), undefined, name);
});

test('hasRepeatedHost: two Host lines in any case, never one', () => {
  assert.equal(hasRepeatedHost(['Host', 'a', 'Accept', '*/*']), false);
  assert.equal(hasRepeatedHost(['Host', 'a', 'HOST', 'b']), true);
  assert.equal(hasRepeatedHost(['host', 'a', 'x-host', 'b', 'hosts', 'c']), false);
  assert.equal(hasRepeatedHost([]), false);
  assert.equal(hasRepeatedHost(['Host', 'a', 'Date', 'b', 'From', 'c']), false, 'other four-letter names are not Host');
  // Values are not names: a value "host" is not a second Host line.
  assert.equal(hasRepeatedHost(['Host', 'host', 'X', 'host']), false);
});

test('field characters: tokens and visible text, never CR, LF or NUL', () => {
  const name = new RegExp(`^${FIELD_NAME_CHAR}+$`);
  const value = new RegExp(`^${FIELD_VALUE_CHAR}*$`);
  assert.ok(name.test("X-Custom_1.a!#$%&'*+^`|~"));
  for (const bad of ['a b', 'a:b', 'a\r', 'a\n', '(a)', 'a"', 'a/b', 'é']) assert.equal(name.test(bad), false, JSON.stringify(bad));
  assert.ok(value.test('text\twith space ~ and \x80\xff'));
  for (const bad of ['a\rb', 'a\nb', 'a\0b', 'a\x7fb', 'a\x1fb']) assert.equal(value.test(bad), false, JSON.stringify(bad));
});
