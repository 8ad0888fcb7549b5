// What of a request target may be logged: never a signature or a token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { redactTarget } from '../../src/edge/redact.js';

const PROPS = { seed: 42, numRuns: 500 } as const;

test('redactTarget: secrets go, everything else stays', () => {
  const table: [target: string, expected: string][] = [
    ['/a.jpg', '/a.jpg'],
    ['/a.jpg?w=200', '/a.jpg?w=200'],
    ['/a.jpg?sig=abc', '/a.jpg?sig=[redacted]'],
    ['/a.jpg?w=200&sig=abc-_123&format=webp', '/a.jpg?w=200&sig=[redacted]&format=webp'],
    ['/a.jpg?sig=', '/a.jpg?sig=[redacted]'],
    ['/a.jpg?sig=a&sig=b', '/a.jpg?sig=[redacted]&sig=[redacted]'],
    ['/a.jpg?SIG=abc', '/a.jpg?SIG=[redacted]'],
    ['/a.jpg?token=t0k', '/a.jpg?token=[redacted]'],
    ['/a.jpg?Token=t0k', '/a.jpg?Token=[redacted]'],
    ['/a.jpg?signature=s', '/a.jpg?signature=[redacted]'],
    ['/a.jpg?access_token=s&x=1', '/a.jpg?access_token=[redacted]&x=1'],
    ['/a.jpg?sig=abc%26def', '/a.jpg?sig=[redacted]'],
    ['/a.jpg?xsig=abc', '/a.jpg?xsig=abc'],
    ['/a.jpg?sigma=abc', '/a.jpg?sigma=abc'],
    ['/a.jpg?my_token=abc', '/a.jpg?my_token=abc'],
    ['/sig=abc/a.jpg', '/sig=abc/a.jpg'],
    ['', ''],
  ];
  for (const [target, expected] of table) assert.equal(redactTarget(target), expected, target);
});

test('redactTarget: long targets are clipped to 512 characters, secrets included', () => {
  const long = `/${'a'.repeat(600)}?sig=SECRET`;
  const out = redactTarget(long);
  assert.equal(out, `${long.slice(0, 512)}…`);
  assert.ok(!out.includes('SECRET'));
  // A secret straddling the clip is still redacted.
  const straddle = `/${'a'.repeat(500)}?sig=SECRETSECRETSECRET`;
  assert.equal(redactTarget(straddle), `/${'a'.repeat(500)}?sig=[redacted]`);
});

test(
  'redactTarget: a parameter name spelled with percent-encoding is still a secret',
  () => {
    for (const target of ['/a.jpg?%73ig=SECRET', '/a.jpg?s%69g=SECRET', '/a.jpg?%74oken=SECRET', '/a.jpg?w=1&%53IG=SECRET']) {
      assert.ok(!redactTarget(target).includes('SECRET'), target);
    }
  },
);

test('property: a sig or token value never survives, wherever it sits among other parameters', () => {
  const name = fc.stringMatching(/^[a-z]{1,8}$/).filter((n) => !['sig', 'token', 'signature', 'access_token'].includes(n));
  const value = fc.stringMatching(/^[a-z0-9]{0,12}$/);
  const secretName = fc.constantFrom('sig', 'token', 'signature', 'access_token', 'SIG', 'Sig', 'TOKEN', 'Access_Token');
  // Upper case and symbols the other values never hold, so a match is the secret.
  const secret = fc.stringMatching(/^[A-Z_-]{1,43}$/).map((s) => `ZQ${s}`);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(name, value), { maxLength: 6 }),
      fc.array(fc.tuple(secretName, secret), { minLength: 1, maxLength: 3 }),
      fc.nat(),
      fc.stringMatching(/^(\/[a-z0-9.]{0,12}){1,4}$/),
      (plain, secrets, seed, pathPart) => {
        const params = [...plain];
        for (const [i, s] of secrets.entries()) params.splice((seed + i * 7) % (params.length + 1), 0, s);
        const target = `${pathPart}?${params.map(([n, v]) => `${n}=${v}`).join('&')}`;
        const out = redactTarget(target);
        for (const [, s] of secrets) assert.ok(!out.includes(s), `${s} survived in ${out}`);
        for (const [n, v] of plain) assert.ok(out.includes(`${n}=${v}`), `${n}=${v} lost`);
      },
    ),
    PROPS,
  );
});
