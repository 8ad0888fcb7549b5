// The value syntaxes options share: sizes, durations, integers, HOST:PORT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSize, parseSeconds, parseInteger, parseHostPort } from '../src/units.js';

const PROPS = { seed: 42, numRuns: 500 } as const;

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

test('parseSize: valid forms', () => {
  const table: [string, number][] = [
    ['0', 0],
    ['1', 1],
    ['512', 512],
    ['512b', 512],
    ['512B', 512],
    ['1k', KiB],
    ['1K', KiB],
    ['1kb', 1000],
    ['1KB', 1000],
    ['1KiB', KiB],
    ['16KiB', 16 * KiB],
    ['1m', MiB],
    ['1MB', 1000 ** 2],
    ['512MiB', 512 * MiB],
    ['512mib', 512 * MiB],
    ['1g', GiB],
    ['1GB', 1000 ** 3],
    ['10GiB', 10 * GiB],
    ['1.5GB', 1_500_000_000],
    ['1.5GiB', 1.5 * GiB],
    ['0.5KiB', 512],
    ['1.0001KiB', 1024], // floored to whole bytes
    ['2t', 2 * TiB],
    ['1TB', 1000 ** 4],
    ['3TiB', 3 * TiB],
    ['  64MiB  ', 64 * MiB],
    ['64 MiB', 64 * MiB],
    ['\t7\n', 7],
    ['007', 7],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ];
  for (const [input, expected] of table) assert.equal(parseSize(input), expected, JSON.stringify(input));
});

test('parseSize: invalid forms throw an Error', () => {
  const table = [
    '', ' ', 'MiB', '-1', '-1MiB', '+1', '1e3', '1e3MiB', '0x10', '1,000', '1_000', '1.', '.5', '1..5',
    '10 GiB extra', '10XiB', '10GiBs', '10 G iB', 'Infinity', 'NaN', '1.5.5GB', '１２', '9007199254740993',
    '99999999999999999999', '8192TiB', '1 2',
  ];
  for (const input of table) assert.throws(() => parseSize(input), Error, JSON.stringify(input));
});

test('parseSize: min and max are enforced with messages that complete "<value> ..."', () => {
  assert.throws(() => parseSize('0', { min: 1 }), /below the minimum of 1 bytes/);
  assert.equal(parseSize('1', { min: 1 }), 1);
  assert.equal(parseSize('1MiB', { max: MiB }), MiB);
  assert.throws(() => parseSize('1.001MiB', { max: MiB }), /above the maximum/);
  assert.throws(() => parseSize('9999999TiB'), /too large/);
  assert.throws(() => parseSize('ten'), /is not a size/);
});

test('parseSize: property: String(n) parses back to n for every safe integer', () => {
  fc.assert(
    fc.property(fc.maxSafeNat(), (n) => parseSize(String(n)) === n),
    PROPS,
  );
});

test('parseSize: property: a whole number of a unit is that multiple, whatever the case and spacing', () => {
  const units: [string, number][] = [
    ['', 1], ['b', 1], ['k', KiB], ['kb', 1000], ['kib', KiB], ['m', MiB], ['mb', 1000 ** 2], ['mib', MiB],
    ['g', GiB], ['gb', 1000 ** 3], ['gib', GiB], ['t', TiB], ['tb', 1000 ** 4], ['tib', TiB],
  ];
  const space = fc.constantFrom('', ' ', '  ', '\t', '\n');
  fc.assert(
    fc.property(
      fc.constantFrom(...units),
      fc.nat({ max: 4096 }),
      space, space, space,
      fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      ([unit, multiple], n, before, between, after, upper) => {
        const spelled = [...unit].map((c, i) => (upper[i % 3] ? c.toUpperCase() : c)).join('');
        const text = `${before}${n}${unit === '' ? '' : between}${spelled}${after}`;
        return parseSize(text) === n * multiple;
      },
    ),
    PROPS,
  );
});

test('parseSize: property: any string either throws an Error or gives a safe, non-negative integer', () => {
  const sizeish = fc.string({ unit: fc.constantFrom(...'0123456789.-+eE kKmMgGtTiIbB\t'.split('')), maxLength: 24 });
  fc.assert(
    fc.property(fc.oneof(sizeish, fc.string({ maxLength: 24 })), (text) => {
      let n: number;
      try {
        n = parseSize(text);
      } catch (error) {
        return error instanceof Error && error.message.length > 0;
      }
      return Number.isSafeInteger(n) && n >= 0;
    }),
    PROPS,
  );
});

test('parseSeconds: valid and invalid forms', () => {
  const valid: [string, number][] = [
    ['0', 0], ['1', 1], ['3600', 3600], ['90s', 90], ['5m', 300], ['1h', 3600], ['7d', 7 * 86400],
    [' 10 ', 10], ['10 s', 10], ['2\th', 7200], ['0d', 0], ['0010', 10],
  ];
  for (const [input, expected] of valid) assert.equal(parseSeconds(input), expected, JSON.stringify(input));
  const invalid = [
    '', ' ', 's', '-1', '1.5', '1.5h', '1w', '1ms', '1hh', '1 h 2', '1e3', 'Infinity', '0x10', '9007199254740993',
    '9007199254740991d', '1 hour',
  ];
  for (const input of invalid) assert.throws(() => parseSeconds(input), Error, JSON.stringify(input));
});

test('parseSeconds: property: n with a unit is n times the unit; anything else throws or is a safe integer', () => {
  const units: [string, number][] = [['', 1], ['s', 1], ['m', 60], ['h', 3600], ['d', 86400]];
  fc.assert(
    fc.property(fc.constantFrom(...units), fc.nat({ max: 10 ** 9 }), ([unit, multiple], n) => parseSeconds(`${n}${unit}`) === n * multiple),
    PROPS,
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 20 }), (text) => {
      try {
        const n = parseSeconds(text);
        return Number.isSafeInteger(n) && n >= 0;
      } catch (error) {
        return error instanceof Error;
      }
    }),
    PROPS,
  );
});

test('parseInteger: valid and invalid forms, bounds', () => {
  assert.equal(parseInteger('0'), 0);
  assert.equal(parseInteger(' 42 '), 42);
  assert.equal(parseInteger('010'), 10);
  assert.equal(parseInteger('10', { min: 10, max: 10 }), 10);
  for (const input of ['', '-1', '1.0', '1e3', '0x1', 'ten', '1 2', '+1', '9007199254740992']) {
    assert.throws(() => parseInteger(input), Error, JSON.stringify(input));
  }
  assert.throws(() => parseInteger('0', { min: 1 }), /between 1 and/);
  assert.throws(() => parseInteger('101', { max: 100 }), /between 0 and 100/);
});

test('parseInteger: property: every safe non-negative integer round-trips; nothing else is a non-integer', () => {
  fc.assert(fc.property(fc.maxSafeNat(), (n) => parseInteger(String(n)) === n), PROPS);
  fc.assert(
    fc.property(fc.string({ maxLength: 20 }), (text) => {
      try {
        const n = parseInteger(text);
        return Number.isSafeInteger(n) && n >= 0;
      } catch (error) {
        return error instanceof Error;
      }
    }),
    PROPS,
  );
});

test('parseHostPort: valid forms', () => {
  const table: [string, string, number][] = [
    ['0.0.0.0:8080', '0.0.0.0', 8080],
    ['127.0.0.1:9090', '127.0.0.1', 9090],
    ['localhost:80', 'localhost', 80],
    ['edge-1.example.com:443', 'edge-1.example.com', 443],
    [':8080', '0.0.0.0', 8080],
    ['[::1]:8080', '::1', 8080],
    ['[::]:0', '::', 0],
    ['[2001:db8::1]:65535', '2001:db8::1', 65535],
    ['[::ffff:127.0.0.1]:1', '::ffff:127.0.0.1', 1],
    [' 127.0.0.1:1 ', '127.0.0.1', 1],
  ];
  for (const [input, host, port] of table) assert.deepEqual(parseHostPort(input), { host, port }, JSON.stringify(input));
});

test('parseHostPort: invalid forms throw an Error', () => {
  const table = [
    '', '8080', 'localhost', 'localhost:', 'localhost:http', 'localhost:-1', 'localhost:65536', 'localhost:99999999999999999999',
    '::1:8080', '[::1]', '[::1]8080', '[zz]:80', 'a b:80', 'host:80:81', '[::1]:80x', 'host:8.0',
  ];
  for (const input of table) assert.throws(() => parseHostPort(input), Error, JSON.stringify(input));
});

test('parseHostPort: property: HOST:PORT round-trips for hostnames, IPv4 and bracketed IPv6', () => {
  const host = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6().map((h) => `[${h}]`));
  fc.assert(
    fc.property(host, fc.integer({ min: 0, max: 65535 }), (h, port) => {
      const parsed = parseHostPort(`${h}:${port}`);
      return parsed.port === port && parsed.host === h.replace(/^\[(.*)\]$/, '$1');
    }),
    PROPS,
  );
  fc.assert(
    fc.property(fc.domain(), fc.integer({ min: 65536, max: 10 ** 9 }), (h, port) => {
      assert.throws(() => parseHostPort(`${h}:${port}`), /port outside/);
    }),
    PROPS,
  );
});
