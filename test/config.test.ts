// Flags and IMGEDGE_* variables → typed config; every bad value names its option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseEdgeConfig, parseDemoConfig, parseSignConfig, readOptions, parseHttpUrl, optionsHelp, EDGE_OPTIONS, DEMO_OPTIONS } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

const PROPS = { seed: 42, numRuns: 300 } as const;
const ORIGIN = ['--origin', 'http://origin.test:8081'];

/** Asserts that `fn` throws a ConfigError for `option`, with a message naming it. */
function throwsFor(fn: () => unknown, option: string, label = option): void {
  assert.throws(
    fn,
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${label}: expected a ConfigError, got ${String(error)}`);
      assert.equal(error.option, option, label);
      assert.ok(error.message.includes(`--${option}`), `${label}: message ${JSON.stringify(error.message)}`);
      assert.ok(!error.message.includes('\n'), `${label}: one line`);
      return true;
    },
    label,
  );
}

test('edge defaults match the contract table', () => {
  const config = parseEdgeConfig(ORIGIN, {});
  assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(config.adminListen, { host: '127.0.0.1', port: 9090 });
  assert.equal(config.origin.href, 'http://origin.test:8081/');
  assert.equal(config.cacheDir, './var/cache');
  assert.equal(config.cacheMaxBytes, 10 * 1024 ** 3);
  assert.equal(config.adminToken, undefined);
  assert.equal(config.originTimeoutMs, 10_000);
  assert.equal(config.defaultTtlSec, 3600);
  assert.equal(config.negativeTtlSec, 10);
  assert.equal(config.staleIfErrorSec, 86_400);
  assert.equal(config.changelog, 'auto');
  assert.ok(Object.isFrozen(config));
});

test('demo defaults', () => {
  const config = parseDemoConfig([], {});
  assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(config.adminListen, { host: '127.0.0.1', port: 9090 });
  assert.deepEqual(config.originListen, { host: '127.0.0.1', port: 8081 });
  assert.equal(config.dir, './var/demo');
  assert.equal(config.logLevel, 'info');
  assert.ok(Object.isFrozen(config));
});

test('every contract option is read from a flag, from --name=value and from its IMGEDGE_* variable', () => {
  const table: [option: string, value: string, check: (c: ReturnType<typeof parseEdgeConfig>) => unknown][] = [
    ['listen', '127.0.0.1:1234', (c) => assert.deepEqual(c.listen, { host: '127.0.0.1', port: 1234 })],
    ['admin-listen', '[::1]:9999', (c) => assert.deepEqual(c.adminListen, { host: '::1', port: 9999 })],
    ['origin', 'https://img.example/base/', (c) => assert.equal(c.origin.href, 'https://img.example/base/')],
    ['cache-dir', '/srv/cache', (c) => assert.equal(c.cacheDir, '/srv/cache')],
    ['cache-max-bytes', '512MiB', (c) => assert.equal(c.cacheMaxBytes, 512 * 1024 ** 2)],
    ['admin-token', 's3cret', (c) => assert.equal(c.adminToken, 's3cret')],
    ['origin-timeout-ms', '2500', (c) => assert.equal(c.originTimeoutMs, 2500)],
    ['default-ttl', '1h', (c) => assert.equal(c.defaultTtlSec, 3600)],
    ['negative-ttl', '30', (c) => assert.equal(c.negativeTtlSec, 30)],
    ['stale-if-error', '0', (c) => assert.equal(c.staleIfErrorSec, 0)],
    ['changelog', 'off', (c) => assert.equal(c.changelog, 'off')],
  ];
  for (const [option, value, check] of table) {
    const variable = `IMGEDGE_${option.toUpperCase().replaceAll('-', '_')}`;
    const base = option === 'origin' ? [] : ORIGIN;
    check(parseEdgeConfig([...base, `--${option}`, value], {}));
    check(parseEdgeConfig([...base, `--${option}=${value}`], {}));
    const env = option === 'origin' ? { [variable]: value } : { [variable]: value, IMGEDGE_ORIGIN: 'http://o' };
    check(parseEdgeConfig([], env));
  }
});

test('the flag wins over the variable, whichever comes first in argv', () => {
  const env = { IMGEDGE_ORIGIN: 'http://from-env', IMGEDGE_CACHE_DIR: '/env', IMGEDGE_DEFAULT_TTL: '5' };
  const config = parseEdgeConfig(['--cache-dir', '/flag', '--origin=http://from-flag', '--default-ttl', '7'], env);
  assert.equal(config.origin.host, 'from-flag');
  assert.equal(config.cacheDir, '/flag');
  assert.equal(config.defaultTtlSec, 7);
  // A variable the flags do not mention still counts.
  assert.equal(parseEdgeConfig(['--origin', 'http://o'], env).cacheDir, '/env');
  // The last flag of a name wins.
  assert.equal(parseEdgeConfig([...ORIGIN, '--cache-dir', '/a', '--cache-dir=/b'], {}).cacheDir, '/b');
});

test('an empty variable counts as unset', () => {
  assert.equal(parseEdgeConfig(ORIGIN, { IMGEDGE_CACHE_DIR: '' }).cacheDir, './var/cache');
  throwsFor(() => parseEdgeConfig([], { IMGEDGE_ORIGIN: '' }), 'origin');
});

test('--name=value keeps everything after the first "=" and allows an empty value to be refused', () => {
  assert.equal(parseEdgeConfig([...ORIGIN, '--admin-token=a=b=c'], {}).adminToken, 'a=b=c');
  throwsFor(() => parseEdgeConfig([...ORIGIN, '--admin-token='], {}), 'admin-token');
  throwsFor(() => parseEdgeConfig(['--origin='], {}), 'origin');
});

test('a missing --origin is named, with both ways to give it', () => {
  throwsFor(() => parseEdgeConfig([], {}), 'origin');
  assert.throws(() => parseEdgeConfig([], {}), /--origin.*IMGEDGE_ORIGIN/);
});

test('a flag at the end without its value is named', () => {
  throwsFor(() => parseEdgeConfig([...ORIGIN, '--cache-dir'], {}), 'cache-dir');
});

test('an unknown flag is named, as flag or as --name=value', () => {
  throwsFor(() => parseEdgeConfig([...ORIGIN, '--cache-size', '1GiB'], {}), 'cache-size');
  throwsFor(() => parseEdgeConfig([...ORIGIN, '--cache-size=1GiB'], {}), 'cache-size');
  throwsFor(() => parseEdgeConfig([...ORIGIN, '--CACHE-DIR', '/x'], {}), 'CACHE-DIR');
  // An option of another role is unknown here.
  throwsFor(() => parseEdgeConfig([...ORIGIN, '--dir', '/x'], {}), 'dir');
  throwsFor(() => parseDemoConfig(['--origin', 'http://o'], {}), 'origin');
});

test('an unknown IMGEDGE_* variable is ignored (the environment is shared with other programs)', () => {
  assert.equal(parseEdgeConfig(ORIGIN, { IMGEDGE_NOPE: 'x', PATH: '/bin' }).cacheDir, './var/cache');
});

test('a flag named like an Object.prototype member is refused as unknown', () => {
  for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
    throwsFor(() => parseEdgeConfig([...ORIGIN, `--${name}`, 'x'], {}), name);
    throwsFor(() => parseDemoConfig([`--${name}=x`], {}), name);
  }
});

test('peering: a list of replica origins or a DNS name, and this replica among them', () => {
  const config = parseEdgeConfig([...ORIGIN, '--peers', 'http://10.0.0.7:8080, http://10.0.0.8:8080', '--self', 'http://10.0.0.7:8080'], {});
  assert.deepEqual(config.peers?.map((u) => u.origin), ['http://10.0.0.7:8080', 'http://10.0.0.8:8080']);
  assert.equal(config.self?.origin, 'http://10.0.0.7:8080');
  assert.equal(config.peerTimeoutMs, 1000);
  assert.equal(config.peerCopies, 1);
  assert.equal(parseEdgeConfig([...ORIGIN, '--peers-dns', 'svc', '--peer-copies', '2'], {}).peerCopies, 2);
  assert.equal(parseEdgeConfig(ORIGIN, { IMGEDGE_PEERS_DNS: 'Imgedge-Headless.ns.svc.' }).peersDns, 'imgedge-headless.ns.svc');
  assert.equal(parseEdgeConfig(ORIGIN, {}).peers, undefined);
  const refused: [args: string[], option: string][] = [
    [['--peers', 'http://a:1/path'], 'peers'],
    [['--peers', ','], 'peers'],
    [['--peers', 'ftp://a:1'], 'peers'],
    [['--peers-dns', 'not a name'], 'peers-dns'],
    [['--peers-dns', '-bad.example'], 'peers-dns'],
    [['--peers', 'http://a:1', '--peers-dns', 'svc'], 'peers-dns'],
    [['--self', 'http://a:1'], 'self'],
    [['--peers', 'http://a:1,http://b:1', '--self', 'http://c:1'], 'self'],
    [['--peer-timeout-ms', '0'], 'peer-timeout-ms'],
    [['--peers', 'http://a:1', '--peer-copies', '3'], 'peer-copies'],
    [['--peers', 'http://a:1', '--peer-copies', '0'], 'peer-copies'],
    [['--peer-copies', '2'], 'peer-copies'],
  ];
  for (const [args, option] of refused) throwsFor(() => parseEdgeConfig([...ORIGIN, ...args], {}), option, args.join(' '));
});

test('--changelog redis://HOST:PORT[/DB][?stream=NAME] follows a Redis stream', () => {
  assert.equal(parseEdgeConfig([...ORIGIN, '--changelog', 'redis://redis:6379/2?stream=x'], {}).changelog, 'redis://redis:6379/2?stream=x');
  assert.equal(parseEdgeConfig(ORIGIN, { IMGEDGE_CHANGELOG: 'redis://10.0.0.5:6379' }).changelog, 'redis://10.0.0.5:6379');
});

test('every option of --help shows its default, and the defaults are what parsing uses', () => {
  const help = optionsHelp(EDGE_OPTIONS);
  for (const [name, spec] of Object.entries(EDGE_OPTIONS)) {
    const line = help.split('\n').find((l) => l.startsWith(`  --${name} `));
    assert.ok(line, name);
    if (spec.default !== undefined) assert.ok(line.includes(`(default ${spec.default})`), line);
  }
  assert.match(optionsHelp(DEMO_OPTIONS), /--origin-listen HOST:PORT +the demo origin's port \(default 127\.0\.0\.1:8081\)/);
});

test('a positional argument is refused', () => {
  assert.throws(() => parseEdgeConfig([...ORIGIN, 'extra'], {}), (error: unknown) => error instanceof ConfigError && /unexpected argument/.test(error.message));
  assert.throws(() => parseDemoConfig(['extra'], {}), (error: unknown) => error instanceof ConfigError && /unexpected argument/.test(error.message));
});

test('every bad edge value throws a ConfigError naming the option', () => {
  const table: [option: string, value: string][] = [
    ['listen', 'nope'], ['listen', '0.0.0.0:65536'], ['listen', '0.0.0.0'],
    ['admin-listen', ':http'], ['admin-listen', ''],
    ['origin', 'not a url'], ['origin', 'ftp://origin'], ['origin', 'file:///srv'], ['origin', 'http://o/?a=1'],
    ['origin', 'http://o/#frag'], ['origin', 'http://user:pw@o/'], ['origin', 'http://user@o/'], ['origin', 'redis://o'],
    ['cache-dir', ''], ['cache-dir', '   '],
    ['cache-max-bytes', '0'], ['cache-max-bytes', '-1'], ['cache-max-bytes', '10 gigs'], ['cache-max-bytes', '1e9'],
    ['cache-max-bytes', '99999999TiB'],
    ['admin-token', ''], ['admin-token', ' '],
    ['origin-timeout-ms', '0'], ['origin-timeout-ms', '1.5'], ['origin-timeout-ms', '-5'], ['origin-timeout-ms', '10s'],
    ['default-ttl', '-1'], ['default-ttl', '1.5h'], ['default-ttl', 'forever'],
    ['negative-ttl', 'x'], ['negative-ttl', '-10'],
    ['stale-if-error', '1w'], ['stale-if-error', ''],
    ['changelog', 'on'], ['changelog', 'http://redis:6379'], ['changelog', 'file'], ['changelog', 'rediss://r:6380'],
    ['changelog', 'redis://r:6379/abc'], ['changelog', 'redis://r:6379?streams=x'], ['changelog', 'redis://r?stream='], ['changelog', 'redis://:6379'],
    ['log-level', 'verbose'], ['log-level', 'INFO'],
    ['max-origin-fetches', '0'], ['max-object-bytes', '0'], ['memory-cache-bytes', 'lots'],
    ['client-timeout-ms', '0'], ['max-header-bytes', '1'], ['max-header-bytes', '2MiB'], ['drain-timeout-ms', 'x'],
  ];
  for (const [option, value] of table) {
    const base = option === 'origin' ? [] : ORIGIN;
    const label = `--${option} ${JSON.stringify(value)}`;
    throwsFor(() => parseEdgeConfig([...base, `--${option}=${value}`], {}), option, label);
    if (value !== '') {
      const variable = `IMGEDGE_${option.toUpperCase().replaceAll('-', '_')}`;
      throwsFor(() => parseEdgeConfig(base, { IMGEDGE_ORIGIN: 'http://o', [variable]: value }), option, `${variable}=${label}`);
    }
  }
});

test('the message quotes the bad value', () => {
  assert.throws(() => parseEdgeConfig([...ORIGIN, '--cache-max-bytes', '10 gigs'], {}), /^ConfigError: imgedge: --cache-max-bytes: "10 gigs" is not a size/);
  assert.throws(() => parseEdgeConfig([...ORIGIN, '--cache-max-bytes', '10 gigs'], {}), (e: unknown) => {
    return e instanceof ConfigError && e.message === 'imgedge: --cache-max-bytes: "10 gigs" is not a size (try 512MiB, 10GiB or plain bytes)';
  });
});

test('every bad demo value throws a ConfigError naming the option', () => {
  const table: [string, string][] = [['listen', 'x'], ['admin-listen', 'x'], ['origin-listen', 'x'], ['dir', ''], ['log-level', 'loud']];
  for (const [option, value] of table) throwsFor(() => parseDemoConfig([`--${option}=${value}`], {}), option);
});

test('parseHttpUrl accepts http and https with a path, refuses the rest', () => {
  assert.equal(parseHttpUrl('http://o').href, 'http://o/');
  assert.equal(parseHttpUrl('https://o:8443/base/').href, 'https://o:8443/base/');
  assert.equal(parseHttpUrl('HTTP://O/').href, 'http://o/');
  for (const bad of ['', 'o:80', '//o', 'ws://o', 'http://o?x', 'http://o/?x=1', 'http://o#x', 'http://:pw@o', 'http://u@o']) {
    assert.throws(() => parseHttpUrl(bad), Error, bad);
  }
});

test('readOptions: positional arguments are returned apart and flags of kind "flag" take no value', () => {
  const known = { key: {}, verbose: { flag: true } };
  const { options, positional } = readOptions(known, ['--verbose', 'http://a/b.jpg', '--key', 'K', 'more'], {});
  assert.deepEqual(Object.fromEntries(options), { verbose: 'true', key: 'K' });
  assert.deepEqual(positional, ['http://a/b.jpg', 'more']);
  assert.equal(readOptions(known, ['--verbose=false'], {}).options.get('verbose'), 'false');
  assert.equal(readOptions(known, [], { IMGEDGE_KEY: 'from-env' }).options.get('key'), 'from-env');
});

test('property: for any option value, the flag beats the variable and a bad value names the option', () => {
  const ttlText = fc.oneof(fc.nat({ max: 10 ** 6 }).map(String), fc.string({ maxLength: 8 }));
  fc.assert(
    fc.property(ttlText, ttlText, fc.boolean(), (fromFlag, fromEnv, equalsForm) => {
      const argv = [...ORIGIN, ...(equalsForm ? [`--default-ttl=${fromFlag}`] : ['--default-ttl', fromFlag])];
      const env = { IMGEDGE_DEFAULT_TTL: fromEnv };
      let flagValid = true;
      let expected = 0;
      try {
        expected = parseEdgeConfig([...ORIGIN, `--default-ttl=${fromFlag}`], {}).defaultTtlSec;
      } catch {
        flagValid = false;
      }
      if (flagValid) {
        assert.equal(parseEdgeConfig(argv, env).defaultTtlSec, expected);
      } else {
        throwsFor(() => parseEdgeConfig(argv, env), 'default-ttl');
      }
    }),
    PROPS,
  );
});

test('transform options: the signing key, widths sorted and deduplicated, limits; bad ones named', () => {
  const config = parseEdgeConfig([...ORIGIN, '--signing-key', 'k3y', '--allowed-widths', '640, 160,320,160'], {});
  assert.equal(config.signingKey, 'k3y');
  assert.deepEqual(config.allowedWidths, [160, 320, 640]);
  assert.equal(config.maxSourceBytes, 25 * 1024 ** 2);
  assert.equal(config.maxSourcePixels, 50_000_000);
  assert.equal(config.transformTimeoutMs, 10_000);
  assert.equal(config.transformQueue, 16);
  const unset = parseEdgeConfig(ORIGIN, {});
  assert.equal(unset.signingKey, undefined);
  assert.equal(unset.allowedWidths, undefined);
  for (const [option, value] of [['allowed-widths', '0'], ['allowed-widths', '160,abc'], ['allowed-widths', '9000'], ['signing-key', ''],
    ['max-source-pixels', '0'], ['transform-timeout-ms', 'x'], ['transform-queue', '-1'], ['max-source-bytes', 'lots']] as const) {
    throwsFor(() => parseEdgeConfig([...ORIGIN, `--${option}`, value], {}), option, `--${option} ${value}`);
  }
  assert.deepEqual({ ...parseSignConfig(['--signing-key', 'k', '/a.jpg?w=1'], {}) }, { signingKey: 'k', url: '/a.jpg?w=1' });
  throwsFor(() => parseSignConfig(['/a.jpg?w=1'], {}), 'signing-key');
  throwsFor(() => parseSignConfig(['--signing-key', 'k'], {}), 'signing-key');
});
