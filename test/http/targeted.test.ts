// Targeted cache control (RFC 9213) and the Structured Field Dictionary it is written in (RFC 8941).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { edgeDirectives, parseDictionary, targetedDirectives } from '../../src/http/targeted.js';
import { decideStore, privateReason, staleWindows, type FreshnessRules } from '../../src/http/freshness.js';
import { httpDate } from '../../src/http/headers.js';

const RULES: FreshnessRules = { defaultTtlSec: 3600, negativeTtlSec: 10, staleIfErrorSec: 86_400 };
const NOW = Date.parse('2024-03-01T12:00:00Z');

test('parseDictionary: valid dictionaries', () => {
  const table: [string, Record<string, unknown>][] = [
    ['', {}],
    ['max-age=3600', { 'max-age': 3600 }],
    ['foobar, max-age=3600', { foobar: true, 'max-age': 3600 }],
    ['a=1, b="x\\"y", c=tok/en, d=?0, e=:aGk=:, f=1.5', { a: 1, b: 'x"y', c: 'tok/en', d: false, e: ':aGk=:', f: 1.5 }],
    ['a=(1 2);p, b;q=1', { a: '(1 2);p', b: true }],
    ['a=1,   b=2', { a: 1, b: 2 }],
    ['a=1, a=2', { a: 2 }],
  ];
  for (const [text, expected] of table) assert.deepEqual(Object.fromEntries(parseDictionary(text)!), expected, text);
});

test('parseDictionary: anything else is null', () => {
  for (const text of ['max-age =100', 'max-age= 100', 'max-age=10000, &&&&&', 'MaX-aGe=3600', 'a=1,', 'a="open', 'a=1234567890123456', 'a=(1 2']) {
    assert.equal(parseDictionary(text), null, text);
  }
});

test('parseDictionary: numbers, RFC 8941 §3.3.1 and §3.3.2: Integers of up to 15 digits, Decimals of 12.3', () => {
  const table: [string, number][] = [
    ['a=-1', -1], ['a=0', 0], ['a=123456789012345', 123456789012345], ['a=-123456789012345', -123456789012345],
    ['a=1.125', 1.125], ['a=-1.5', -1.5], ['a=123456789012.5', 123456789012.5], ['a=-123456789012.125', -123456789012.125],
  ];
  for (const [text, expected] of table) assert.deepEqual(Object.fromEntries(parseDictionary(text)!), { a: expected }, text);
  for (const text of ['a=1234567890123.5', 'a=1.1255', 'a=1.', 'a=-', 'a=--1', 'a=1.2.3', 'a=(1234567890123456)', 'a;p=1234567890123456']) {
    assert.equal(parseDictionary(text), null, text);
  }
});

test('parseDictionary: Booleans, Byte Sequences, Inner Lists and parameters', () => {
  assert.deepEqual(Object.fromEntries(parseDictionary('a=?1, b=?0, c=:YQ==:, d=(1 "x" tok);p=1, e;q;r=?0')!), {
    a: true, b: false, c: ':YQ==:', d: '(1 "x" tok);p=1', e: true,
  });
  for (const text of ['a=?x', 'a=?2', 'a=:é:', 'a=(1"a")', 'a=(1,2)', 'a=(;p)', 'a=(1;)', 'a;,b', 'a;b=', 'a;B=1', 'a=1 b=2', 'a b', 'a=1xb', 'a=?1xb', 'a="x"yb']) {
    assert.equal(parseDictionary(text), null, text);
  }
});

test('parseDictionary: an item is read where the value starts, never found further on', () => {
  // Each is null; reading the first well-formed item further on would take the
  // rest for a second member.
  for (const text of ['A,b', 'a=#;a', 'a=#,b', 'a="éxx",b="z"', 'a=:éé,b=:z:', 'a=?x,b=?1', 'a=-,b=1']) {
    assert.equal(parseDictionary(text), null, text);
  }
});

test('targetedDirectives: an extension keeps its value, a bare one or ?1 as ""', () => {
  assert.deepEqual(Object.fromEntries(targetedDirectives('ext, ext2=?1, ext3=?0, ext4=1.5, ext5=tok')!), {
    ext: '', ext2: '', ext3: 'false', ext4: '1.5', ext5: 'tok',
  });
});

test('targetedDirectives: known directives must have their types, else the field is ignored whole', () => {
  for (const name of ['no-store', 'no-cache', 'private', 'public', 'must-revalidate', 'proxy-revalidate', 'immutable', 'must-understand', 'no-transform']) {
    assert.deepEqual(Object.fromEntries(targetedDirectives(name)!), { [name]: '' }, name);
    for (const value of ['1', '?0', '"x"']) assert.equal(targetedDirectives(`${name}=${value}`), null, `${name}=${value}`);
  }
  for (const name of ['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error']) {
    assert.deepEqual(Object.fromEntries(targetedDirectives(`${name}=30`)!), { [name]: '30' }, name);
    for (const value of ['?1', '1.5', '-1', '"30"', 'tok']) assert.equal(targetedDirectives(`${name}=${value}`), null, `${name}=${value}`);
    assert.equal(targetedDirectives(name), null, `${name} without a value`);
  }
  assert.deepEqual(Object.fromEntries(targetedDirectives('max-age=3600, no-store, ext="x"')!), { 'max-age': '3600', 'no-store': '', ext: 'x' });
  for (const text of ['max-age="10000"', 'max-age=1.5', 'max-age=-1', 'no-store=1', 'private="set-cookie"', '', 'max-age=?1']) {
    assert.equal(targetedDirectives(text), null, text);
  }
});

test('edgeDirectives: Imgedge-Cache-Control, then CDN-Cache-Control, then Cache-Control', () => {
  const cc = { 'cache-control': 'max-age=1' };
  assert.equal(edgeDirectives(cc).targeted, false);
  assert.equal(edgeDirectives({ ...cc, 'cdn-cache-control': 'max-age=5' }).directives.get('max-age'), '5');
  assert.equal(
    edgeDirectives({ ...cc, 'cdn-cache-control': 'max-age=5', 'imgedge-cache-control': 'max-age=9' }).directives.get('max-age'), '9');
  // An invalid targeted field is skipped for the next one.
  assert.equal(
    edgeDirectives({ ...cc, 'cdn-cache-control': 'max-age=5', 'imgedge-cache-control': 'max-age="9"' }).directives.get('max-age'), '5');
  assert.deepEqual(edgeDirectives({ ...cc, 'cdn-cache-control': '&&' }), { directives: new Map([['max-age', '1']]), targeted: false });
});

test('decideStore: a targeted field replaces Cache-Control and Expires for the edge (RFC 9213 §2.2)', () => {
  const date = httpDate(NOW);
  const decide = (headers: Record<string, string>) => decideStore(200, { date, ...headers }, RULES, NOW);
  assert.deepEqual(decide({ 'cdn-cache-control': 'max-age=3600', 'cache-control': 'no-store' }), { store: true, lifetimeSec: 3600 });
  assert.deepEqual(decide({ 'cdn-cache-control': 'max-age=1', 'cache-control': 'max-age=3600' }), { store: true, lifetimeSec: 1 });
  assert.deepEqual(decide({ 'cdn-cache-control': 'max-age=3600', expires: '0' }), { store: true, lifetimeSec: 3600 });
  assert.deepEqual(decide({ 'cdn-cache-control': 'max-age=0', expires: httpDate(NOW + 10_000_000) }).store, false);
  assert.deepEqual(decide({ 'cdn-cache-control': 'no-store', 'cache-control': 'max-age=10000' }).reason, 'no-store');
  assert.deepEqual(decide({ 'cdn-cache-control': 'no-cache', 'cache-control': 'max-age=10000' }).store, false);
  assert.deepEqual(decide({ 'cdn-cache-control': 'max-age=2147483648' }), { store: true, lifetimeSec: 2 ** 31 });
  assert.deepEqual(decide({ 'cdn-cache-control': 'max-age=10000, &&&&&', 'cache-control': 'no-store' }).reason, 'no-store');
  assert.deepEqual(decide({ 'imgedge-cache-control': 'max-age=60', 'surrogate-control': 'max-age=300' }), { store: true, lifetimeSec: 60 });
  assert.equal(privateReason({ 'cdn-cache-control': 'private', 'cache-control': 'max-age=10000' }, 200), 'private');
  assert.deepEqual(
    staleWindows({ 'cdn-cache-control': 'max-age=60, stale-while-revalidate=30', 'cache-control': 'must-revalidate' }, RULES),
    { whileRevalidateSec: 30, ifErrorSec: RULES.staleIfErrorSec },
  );
});
