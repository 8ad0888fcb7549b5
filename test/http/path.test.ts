// Request target → canonical path: what must be refused (400) and what the
// canonical form of everything else is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fc from 'fast-check';
import { normaliseTarget, MAX_PATH_BYTES, MAX_QUERY_BYTES, type RequestTarget } from '../../src/http/path.js';
import { BadPath } from '../../src/errors.js';

/** Any code point, lone surrogates included (cheaper to build than fast-check's 'binary' unit). */
const anyChar = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));
const PROPS = { seed: 42, numRuns: 1000 } as const;

function badPath(target: string): boolean {
  try {
    normaliseTarget(target);
    return false;
  } catch (error) {
    if (error instanceof BadPath) return true;
    throw error;
  }
}

test('refused with BadPath (400)', () => {
  const table: [target: string, why: string][] = [
    ['/..', 'plain .. at the root'],
    ['/../etc/passwd', 'plain .. climbing'],
    ['/a/../../b', '.. past the root after one step down'],
    ['/a/b/../../../c', 'three up from two down'],
    ['/%2e%2e/etc/passwd', 'encoded .. lower case'],
    ['/%2E%2E/etc/passwd', 'encoded .. upper case'],
    ['/%2e%2E/x', 'encoded .. mixed case'],
    ['/.%2e/x', 'half-encoded ..'],
    ['/%2E./x', 'half-encoded .. the other way'],
    ['/.%2E', 'half-encoded .. at the end'],
    ['/a/%2e%2e/%2e%2e/b', 'encoded .. climbing past the root'],
    ['/./../x', '. then ..'],
    ['/..?x=1', '.. with a query'],
    ['/..%2fetc', 'encoded slash after ..'],
    ['/..%2Fetc', 'encoded slash upper case'],
    ['/a%2fb', 'encoded slash inside a name'],
    ['/%2f', 'encoded slash alone'],
    ['/a%5cb', 'encoded backslash'],
    ['/a%5Cb', 'encoded backslash upper case'],
    ['/..%5c..%5cwindows', 'encoded backslashes with ..'],
    ['/a\\b', 'raw backslash'],
    ['/..\\x', 'raw backslash after ..'],
    ['/a\u0000b', 'raw NUL'],
    ['/a%00b', 'encoded NUL'],
    ['/a%00', 'encoded NUL at the end'],
    ['/%00/x', 'encoded NUL segment'],
    ['/a.jpg%00.png', 'NUL truncation trick'],
    ['/a.jpg?x=%00', 'encoded NUL in the query'],
    ['/a.jpg?x=\u0000', 'raw NUL in the query'],
    ['/a%0ab', 'encoded LF'],
    ['/a%0D%0Ab', 'encoded CRLF'],
    ['/a%1fb', 'encoded unit separator'],
    ['/a%7Fb', 'encoded DEL'],
    ['/a\tb', 'raw tab'],
    ['/a b', 'raw space'],
    ['/a\u007fb', 'raw DEL'],
    ['/a#frag', 'raw #'],
    ['/a?b#c', 'raw # in the query'],
    [`/${'a'.repeat(MAX_PATH_BYTES)}`, 'path of 2049 bytes'],
    [`/${'é'.repeat(MAX_PATH_BYTES / 2)}`, 'path of 2049 bytes, multi-byte'],
    [`/a?${'q'.repeat(MAX_QUERY_BYTES + 1)}`, 'query over 2048 bytes'],
    ['', 'empty'],
    ['a/b', 'relative'],
    ['*', 'asterisk-form'],
    ['http://origin/a.jpg', 'absolute-form'],
    ['%2fa', 'encoded leading slash'],
    ['\\a', 'backslash first'],
    ['?x=1', 'query only'],
    ['/%', 'lone %'],
    ['/%zz', 'bad hex'],
    ['/%c3', 'truncated UTF-8'],
    ['/%ff', 'not UTF-8'],
  ];
  for (const [target, why] of table) {
    assert.ok(badPath(target), `${why}: ${JSON.stringify(target.length > 80 ? `${target.slice(0, 80)}…` : target)}`);
  }
});

test('BadPath is a 400 with a stable code', () => {
  assert.throws(() => normaliseTarget('/..'), (error: unknown) => error instanceof BadPath && error.status === 400 && error.code === 'BAD_PATH');
});

test('the length limits are inclusive', () => {
  const longest = `/${'a'.repeat(MAX_PATH_BYTES - 1)}`;
  assert.equal(normaliseTarget(longest).path, longest);
  const query = 'q'.repeat(MAX_QUERY_BYTES);
  assert.equal(normaliseTarget(`/a?${query}`).query, query);
});

test('normalised', () => {
  const table: [target: string, expected: string][] = [
    ['/', '/'],
    ['//', '/'],
    ['/a.jpg', '/a.jpg'],
    ['/a/./b', '/a/b'],
    ['/./a', '/a'],
    ['/.', '/'],
    ['/./', '/'],
    ['/%2e/a', '/a'],
    ['/a/%2E/b', '/a/b'],
    ['/a/../b', '/b'],
    ['/a/b/../../c', '/c'],
    ['/a/%2e%2e/b', '/b'],
    ['/a/.%2E/b', '/b'],
    ['/a/..', '/'],
    ['//a///b', '/a/b'],
    ['///a//b///', '/a/b/'],
    ['/a/', '/a/'],
    ['/a//', '/a/'],
    ['/a/b/../', '/a/'],
    ['/a/./', '/a/'],
    ['/%41%42c', '/ABc'],
    ['/%61%7a', '/az'],
    ['/%7e%7E', '/~~'],
    ['/%2D%2e%5F', '/-._'],
    ['/%30%39', '/09'],
    ['/caf%c3%a9.jpg', '/caf%C3%A9.jpg'],
    ['/caf%C3%A9.jpg', '/caf%C3%A9.jpg'],
    ['/café.jpg', '/caf%C3%A9.jpg'],
    ['/日本/猫.jpg', '/%E6%97%A5%E6%9C%AC/%E7%8C%AB.jpg'],
    ['/%F0%9F%90%88.png', '/%F0%9F%90%88.png'],
    ['/🐈.png', '/%F0%9F%90%88.png'],
    ['/a%20b', '/a%20b'],
    ['/a%25b', '/a%25b'],
    ['/a%252e%252e/b', '/a%252e%252e/b'],
    ['/a"b<c>', '/a%22b%3Cc%3E'],
    ['/{x}|^`[y]', '/%7Bx%7D%7C%5E%60%5By%5D'],
    ['/~user/!$&\'()*+,;=:@', '/~user/!$&\'()*+,;=:@'],
    ['/...', '/...'],
    ['/..a/b..', '/..a/b..'],
    ['/.hidden', '/.hidden'],
  ];
  for (const [target, expected] of table) {
    assert.equal(normaliseTarget(target).path, expected, JSON.stringify(target));
  }
});

test('the query is kept as sent and split at the first "?"', () => {
  const table: [target: string, expected: RequestTarget][] = [
    ['/a.jpg', { path: '/a.jpg', query: '' }],
    ['/a.jpg?', { path: '/a.jpg', query: '' }],
    ['/a.jpg?v=3', { path: '/a.jpg', query: 'v=3' }],
    ['/a/../b.jpg?w=200&format=webp', { path: '/b.jpg', query: 'w=200&format=webp' }],
    ['/a.jpg?x=%2e%2e/..', { path: '/a.jpg', query: 'x=%2e%2e/..' }],
    ['/a.jpg?a?b', { path: '/a.jpg', query: 'a?b' }],
    ['/a.jpg?%41', { path: '/a.jpg', query: '%41' }],
  ];
  for (const [target, expected] of table) assert.deepEqual(normaliseTarget(target), expected, JSON.stringify(target));
});

test('percent-encoded reserved characters stay encoded (RFC 3986 §6.2.2.2: only unreserved ones are decoded)', () => {
  for (const encoded of ['%2B', '%3B', '%3D', '%40', '%3A', '%24', '%26', '%2C', '%21', '%27', '%28', '%29', '%2A', '%3F', '%23', '%25', '%20']) {
    assert.equal(normaliseTarget(`/a${encoded}b.jpg`).path, `/a${encoded}b.jpg`, encoded);
    assert.equal(normaliseTarget(`/a${encoded.toLowerCase()}b.jpg`).path, `/a${encoded}b.jpg`, encoded.toLowerCase());
  }
  // "%2B" and "+" are different names (S3 reads a raw "+" in a path as a space).
  assert.notEqual(normaliseTarget('/a%2Bb.jpg').path, normaliseTarget('/a+b.jpg').path);
});

test('C1 control characters (U+0080..U+009F) are refused like C0 ones, raw or encoded', () => {
  assert.ok(badPath('/a%C2%85b'));
  assert.ok(badPath('/a%c2%80'));
  assert.ok(badPath('/a\u0085b'));
  assert.ok(badPath('/a%C2%9Fb'));
  assert.ok(!badPath('/a%C2%A0b'), 'U+00A0 is not a control');
});

test('the canonical path is held to the same 2048 bytes as the raw one', () => {
  // Node's HTTP parser lets a raw "{" through; it is re-encoded as three bytes.
  assert.ok(badPath(`/${'{'.repeat(700)}`));
  assert.equal(normaliseTarget(`/${'{'.repeat(682)}`).path.length, 1 + 682 * 3);
  assert.equal(normaliseTarget(`/a${'{'.repeat(682)}`).path.length, MAX_PATH_BYTES, 'exactly the limit once encoded');
  assert.ok(badPath(`/${'é'.repeat(400)}`), 'raw é is re-encoded as six bytes');
});

// ---- properties ------------------------------------------------------------

const TRICKY_SEGMENTS = [
  '', '.', '..', '...', '%2e', '%2E', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '%2f', '%2F', '%5c', '%5C', '%00', '%0a', '%7f',
  '%1F', '\u0000', '\t', ' ', '\\', '%', '%2', '%zz', '%25', '%252e', '%41', '%c3%a9', '%C3%A9', 'é', '日本', '🐈', '\u0085',
  '%C2%85', '..;', ';', '~', 'a', 'b.jpg', '#', '?', '%3F', '%23', '\uD800', 'a%2fb', '..%2f', '%2e%2e%2f',
];

const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TRICKY_SEGMENTS) },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(..."aZ09-._~!$&'()*+,;=:@%é".split('')), maxLength: 8 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: anyChar, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('.', '%', '2', 'e', 'E', 'f', 'F', '/', 'a', '0', 'c', '5'), maxLength: 8 }) },
);

/** Targets from segments (most start with "/"), plus arbitrary strings. */
const target = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom('/', '/', '/', '//', ''), fc.array(segment, { maxLength: 12 }), fc.constantFrom('', '/', '?v=1', '?a=%2e%2e', '?x=%00'))
      .map(([lead, segments, tail]) => `${lead}${segments.join('/')}${tail}`),
  },
  { weight: 1, arbitrary: fc.string({ unit: anyChar, maxLength: 40 }).map((s) => `/${s}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

/** The result either is refused with BadPath or is canonical and safe. */
function checkSafe(input: string, result: RequestTarget): void {
  const { path: p } = result;
  assert.ok(p.startsWith('/'), 'starts with /');
  assert.ok(!p.includes('//'), 'no //');
  assert.doesNotMatch(p, /[\u0000-\u001f\u007f]/, 'no raw control character');
  assert.doesNotMatch(p, /%(?:[01][0-9A-Fa-f]|7[Ff])/, 'no encoded control character');
  assert.doesNotMatch(p, /%C2%[89][0-9A-F]/, 'no encoded C1 control character');
  assert.ok(Buffer.byteLength(p) <= MAX_PATH_BYTES, 'within the length limit');
  assert.doesNotMatch(p, /%(?![0-9A-F]{2})/, 'every % starts an upper-case escape');
  assert.match(p, /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/, 'only pchar, / and escapes');
  const segments = p.split('/').slice(1);
  if (p.endsWith('/') && p !== '/') segments.pop();
  for (const raw of segments) {
    const decoded = decodeURIComponent(raw);
    assert.ok(decoded !== '.' && decoded !== '..', `no dot segment (${raw})`);
    assert.ok(!decoded.includes('/') && !decoded.includes('\\'), `no separator inside a segment (${raw})`);
    assert.ok(!decoded.includes('\u0000'), 'no NUL');
  }
  const q = input.indexOf('?');
  assert.equal(result.query, q === -1 ? '' : input.slice(q + 1), 'query kept as sent');

  const root = path.join(path.sep, 'srv', 'imgedge-root');
  const joined = path.join(root, ...segments.map((s) => decodeURIComponent(s)));
  const relative = path.relative(root, joined);
  const escapes = relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
  assert.ok(!escapes, `stays inside the root: ${relative}`);
}

test('property: any target is refused with BadPath or gives a canonical path that cannot leave the root', () => {
  fc.assert(
    fc.property(target, (input) => {
      let result: RequestTarget;
      try {
        result = normaliseTarget(input);
      } catch (error) {
        if (error instanceof BadPath) return;
        throw error;
      }
      checkSafe(input, result);
    }),
    PROPS,
  );
});

test('property: normalising is idempotent', () => {
  fc.assert(
    fc.property(target, (input) => {
      let result: RequestTarget;
      try {
        result = normaliseTarget(input);
      } catch (error) {
        if (error instanceof BadPath) return;
        throw error;
      }
      const again = normaliseTarget(result.path + (result.query ? `?${result.query}` : ''));
      assert.equal(again.path, result.path);
      assert.equal(again.query, result.query);
    }),
    PROPS,
  );
});

test('property: the canonical path of an accepted target is accepted again, whatever its length', () => {
  // Characters Node's HTTP parser lets through raw, each re-encoded as three bytes.
  const wide = fc.constantFrom('{', '}', '|', '"', '<', '>', '^', '`', '[', ']');
  fc.assert(
    fc.property(fc.string({ unit: wide, minLength: 1, maxLength: 2040 }), (name) => {
      const input = `/${name}`;
      let result: RequestTarget;
      try {
        result = normaliseTarget(input);
      } catch (error) {
        if (error instanceof BadPath) return;
        throw error;
      }
      assert.ok(Buffer.byteLength(result.path) <= MAX_PATH_BYTES, `canonical path of ${Buffer.byteLength(result.path)} bytes`);
      assert.equal(normaliseTarget(result.path).path, result.path);
    }),
    { seed: 42, numRuns: 200 },
  );
});

test('property: dot segments resolve like path.posix.normalize, and climbing above "/" is refused', () => {
  const plain = fc.constantFrom('a', 'b', 'c.jpg', '.', '..', '', '%2e', '%2E%2e');
  fc.assert(
    fc.property(fc.array(plain, { maxLength: 10 }), fc.boolean(), (segments, trailing) => {
      const input = `/${segments.join('/')}${trailing ? '/' : ''}`;
      const literal = input.replace(/%2e/gi, '.');
      let depth = 0;
      let escapes = false;
      for (const s of literal.split('/')) {
        if (s === '..') {
          if (depth === 0) escapes = true;
          depth = Math.max(0, depth - 1);
        } else if (s !== '' && s !== '.') depth++;
      }
      if (escapes) {
        assert.ok(badPath(input), input);
        return;
      }
      // RFC 3986 §5.2.4 keeps the slash that path.posix.normalize drops after a final "." or "..".
      const normalised = path.posix.normalize(literal);
      const directory = /\/\.\.?$/.test(literal) && normalised !== '/' && !normalised.endsWith('/');
      assert.equal(normaliseTarget(input).path, directory ? `${normalised}/` : normalised, input);
    }),
    PROPS,
  );
});

test('property: any spelling of a name (raw, encoded, lower- or upper-case hex) has one canonical form', () => {
  const name = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 8 })
    .filter((s) => !/[/\\\u0000-\u001f\u007f-\u009f]/.test(s) && s !== '.' && s !== '..' && !/[+;=@:$&,!'()*]/.test(s));
  const encodeAll = (s: string, lower: boolean): string =>
    [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).map((e) => (lower ? e : e.toUpperCase())).join('');
  fc.assert(
    fc.property(name, (s) => {
      const canonical = normaliseTarget(`/${encodeURIComponent(s)}`).path;
      assert.equal(normaliseTarget(`/${encodeAll(s, true)}`).path, canonical);
      assert.equal(normaliseTarget(`/${encodeAll(s, false)}`).path, canonical);
      if (!/[\s#?%]/.test(s)) assert.equal(normaliseTarget(`/${s}`).path, canonical);
      assert.equal(decodeURIComponent(canonical.slice(1)), s);
    }),
    PROPS,
  );
});

test('each refusal says why (the reason is the 400 answer\'s body)', () => {
  const table: [target: string, reason: string][] = [
    ['/a%zzb', 'malformed percent-encoding'],
    ['/a%2fb', 'encoded path separator'],
    ['/a%5Cb', 'encoded path separator'],
    ['/a%0ab', 'control character in path'],
    ['/..', 'path escapes the root'],
    ['/a/../..', 'path escapes the root'],
    ['a.jpg', 'path must start with /'],
    ['/a b', 'raw control character or space in target'],
    ['/a#b', 'raw control character or space in target'],
    ['/a.jpg?x=%00', 'NUL in query'],
    [`/${'a'.repeat(MAX_PATH_BYTES)}`, `path over ${MAX_PATH_BYTES} bytes`],
    [`/a?${'q'.repeat(MAX_QUERY_BYTES + 1)}`, `query over ${MAX_QUERY_BYTES} bytes`],
    // Short as sent, too long once encoded: the check on the canonical path.
    [`/${'é'.repeat(400)}`, `path over ${MAX_PATH_BYTES} bytes`],
  ];
  for (const [target, reason] of table) {
    assert.throws(() => normaliseTarget(target), (error: unknown) => error instanceof BadPath && error.message === reason, `${target.slice(0, 40)}: ${reason}`);
  }
});
