// The admin port's pure parts: the bearer token check and the purge body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tokenMatches, parsePurgeBody, type PurgeRequest } from '../../src/edge/admin.js';
import { BadPath, BadRequest, ImgedgeError } from '../../src/errors.js';

/** URL path segments: pchar, percent signs and a non-ASCII letter. */
const segment = fc.string({ unit: fc.constantFrom(..."aZ09-._~!$&'()*+,=:@%é".split('')), maxLength: 8 });
const PROPS = { seed: 42, numRuns: 300 } as const;

test('tokenMatches: Bearer TOKEN, scheme case-insensitive, nothing else', () => {
  const token = 's3cr3t-T0k3n+/=';
  const table: [header: string | undefined, matches: boolean][] = [
    [`Bearer ${token}`, true],
    [`bearer ${token}`, true],
    [`BEARER ${token}`, true],
    [`Bearer   ${token}`, true],
    [`Bearer\t${token}`, true],
    [`Bearer ${token} `, true],
    [`Bearer ${token}x`, false],
    [`Bearer ${token.slice(0, -1)}`, false],
    [`Bearer ${token.toUpperCase()}`, false],
    [`Bearer ${token} extra`, false],
    [`Basic ${token}`, false],
    [`Bearer: ${token}`, false],
    [`Bearer${token}`, false],
    [token, false],
    ['Bearer', false],
    ['Bearer ', false],
    ['', false],
    [undefined, false],
  ];
  for (const [header, matches] of table) assert.equal(tokenMatches(header, token), matches, String(header));
  assert.equal(tokenMatches('Bearer x', ''), false, 'an empty token matches nothing');
  assert.equal(tokenMatches('Bearer ', ''), false);
});

test('property: only the exact token matches', () => {
  const tokenArb = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 64 });
  fc.assert(
    fc.property(tokenArb, tokenArb, (token, other) => {
      assert.equal(tokenMatches(`Bearer ${token}`, token), true);
      assert.equal(tokenMatches(`Bearer ${other}`, token), other === token);
    }),
    PROPS,
  );
});

function rejects400(body: unknown, kind: typeof BadRequest | typeof BadPath, label: string): void {
  assert.throws(
    () => parsePurgeBody(body),
    (error: unknown) => error instanceof kind && error instanceof ImgedgeError && error.status === 400,
    label,
  );
}

test('parsePurgeBody: paths and prefixes, made canonical like request paths', () => {
  const table: [body: unknown, expected: PurgeRequest][] = [
    [{ paths: ['/a.jpg'] }, { paths: ['/a.jpg'], prefixes: [] }],
    [{ prefixes: ['/photos/'] }, { paths: [], prefixes: ['/photos/'] }],
    [{ paths: ['/a.jpg', '/b.jpg'], prefixes: ['/c/'] }, { paths: ['/a.jpg', '/b.jpg'], prefixes: ['/c/'] }],
    [{ paths: ['/a%2Ejpg'] }, { paths: ['/a.jpg'], prefixes: [] }],
    [{ paths: ['/caf%c3%a9.jpg'] }, { paths: ['/caf%C3%A9.jpg'], prefixes: [] }],
    [{ paths: ['/café.jpg'] }, { paths: ['/caf%C3%A9.jpg'], prefixes: [] }],
    [{ paths: ['//a/./b/../c.jpg'] }, { paths: ['/a/c.jpg'], prefixes: [] }],
    // A path purges every query of it: the query is not part of what is purged.
    [{ paths: ['/a.jpg?w=200'] }, { paths: ['/a.jpg'], prefixes: [] }],
    [{ paths: ['/a.jpg'], other: 'ignored' }, { paths: ['/a.jpg'], prefixes: [] }],
    [{ paths: ['/a.jpg'], prefixes: [] }, { paths: ['/a.jpg'], prefixes: [] }],
  ];
  for (const [body, expected] of table) assert.deepEqual(parsePurgeBody(body), expected, JSON.stringify(body));
});

test('parsePurgeBody: anything else is a 400', () => {
  const bad: [body: unknown, kind: typeof BadRequest | typeof BadPath][] = [
    [undefined, BadRequest],
    [null, BadRequest],
    ['/a.jpg', BadRequest],
    [42, BadRequest],
    [['/a.jpg'], BadRequest],
    [{}, BadRequest],
    [{ paths: [] }, BadRequest],
    [{ paths: [], prefixes: [] }, BadRequest],
    [{ paths: '/a.jpg' }, BadRequest],
    [{ paths: [1] }, BadRequest],
    [{ paths: ['/a', null] }, BadRequest],
    [{ prefixes: { 0: '/a' } }, BadRequest],
    [{ paths: null }, BadRequest],
    [{ paths: new Array(10_001).fill('/a') }, BadRequest],
    [{ paths: ['a.jpg'] }, BadPath],
    [{ paths: ['/../etc/passwd'] }, BadPath],
    [{ prefixes: ['/%2e%2e/'] }, BadPath],
    [{ paths: ['/a%00'] }, BadPath],
    [{ paths: [''] }, BadPath],
  ];
  for (const [body, kind] of bad) rejects400(body, kind, JSON.stringify(body)?.slice(0, 60) ?? String(body));
  assert.deepEqual(parsePurgeBody({ paths: new Array(10_000).fill('/a') }).paths.length, 10_000, '10 000 is allowed');
});

test('property: a purge of canonical paths keeps them as they are', () => {
  const canonical = fc
    .array(segment, { minLength: 1, maxLength: 5 })
    .map((segments) => `/${segments.join('/')}`)
    .filter((p) => {
      try {
        parsePurgeBody({ paths: [p] });
        return true;
      } catch {
        return false;
      }
    })
    .map((p) => parsePurgeBody({ paths: [p] }).paths[0]!);
  fc.assert(
    fc.property(fc.array(canonical, { minLength: 1, maxLength: 5 }), fc.array(canonical, { maxLength: 5 }), (paths, prefixes) => {
      assert.deepEqual(parsePurgeBody({ paths, prefixes }), { paths, prefixes });
    }),
    PROPS,
  );
});
