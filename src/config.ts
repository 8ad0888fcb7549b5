// Flags and IMGEDGE_* variables → one typed, frozen config per role. Pure: the
// caller hands in argv and env, and a bad value throws a ConfigError that names
// the option. Every option is a flag and a variable; the flag wins.
import { ConfigError } from './errors.js';
import { parseSize, parseSeconds, parseInteger, parseHostPort, type HostPort } from './units.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface EdgeConfig {
  readonly listen: HostPort;
  readonly adminListen: HostPort;
  readonly origin: URL;
  readonly cacheDir: string;
  readonly cacheMaxBytes: number;
  readonly adminToken: string | undefined;
  readonly originTimeoutMs: number;
  readonly defaultTtlSec: number;
  readonly negativeTtlSec: number;
  readonly staleIfErrorSec: number;
  readonly peers: readonly URL[];
  readonly peersDns: string | undefined;
  readonly self: URL | undefined;
  readonly signingKey: string | undefined;
  readonly changelog: string;
  readonly logLevel: LogLevel;
  readonly maxOriginFetches: number;
  readonly maxObjectBytes: number;
  readonly memoryCacheBytes: number;
  readonly clientTimeoutMs: number;
  readonly maxHeaderBytes: number;
  readonly drainTimeoutMs: number;
}

export interface DemoConfig {
  readonly listen: HostPort;
  readonly adminListen: HostPort;
  readonly originListen: HostPort;
  readonly dir: string;
  readonly logLevel: LogLevel;
}

type Raw = Map<string, string>;

interface OptionSpec {
  /** true for an option that takes no value */
  readonly flag?: boolean;
}

const EDGE_OPTIONS: Record<string, OptionSpec> = {
  listen: {}, 'admin-listen': {}, origin: {}, 'cache-dir': {}, 'cache-max-bytes': {},
  'admin-token': {}, 'origin-timeout-ms': {}, 'default-ttl': {}, 'negative-ttl': {},
  'stale-if-error': {}, peers: {}, 'peers-dns': {}, self: {}, 'signing-key': {},
  changelog: {}, 'log-level': {}, 'max-origin-fetches': {}, 'max-object-bytes': {},
  'memory-cache-bytes': {}, 'client-timeout-ms': {}, 'max-header-bytes': {}, 'drain-timeout-ms': {},
};

const DEMO_OPTIONS: Record<string, OptionSpec> = {
  listen: {}, 'admin-listen': {}, 'origin-listen': {}, dir: {}, 'log-level': {},
};

/**
 * Reads `--name value`, `--name=value` and IMGEDGE_NAME for the options a role
 * knows. Positional arguments are returned apart for commands that take them.
 */
export function readOptions(
  known: Record<string, OptionSpec>,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { options: Raw; positional: string[] } {
  const options: Raw = new Map();
  for (const name of Object.keys(known)) {
    const value = env[`IMGEDGE_${name.toUpperCase().replaceAll('-', '_')}`];
    if (value !== undefined && value !== '') options.set(name, value);
  }
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = Object.hasOwn(known, name) ? known[name] : undefined;
    if (!spec) throw new ConfigError(name, 'unknown option (see the README for the options of each command)');
    if (spec.flag) {
      options.set(name, eq === -1 ? 'true' : arg.slice(eq + 1));
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new ConfigError(name, 'needs a value');
    options.set(name, value);
  }
  return { options, positional };
}

/** Wraps a parser so that its complaint names the option. */
function read<T>(raw: Raw, name: string, fallback: string | undefined, parse: (value: string) => T): T {
  const value = raw.get(name) ?? fallback;
  if (value === undefined) throw new ConfigError(name, `is required (flag --${name} or IMGEDGE_${name.toUpperCase().replaceAll('-', '_')})`);
  try {
    return parse(value);
  } catch (error) {
    throw new ConfigError(name, `${JSON.stringify(value)} ${(error as Error).message}`);
  }
}

function optional<T>(raw: Raw, name: string, parse: (value: string) => T): T | undefined {
  return raw.has(name) ? read(raw, name, undefined, parse) : undefined;
}

export function parseHttpUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('is not an http:// or https:// URL');
  if (url.search || url.hash) throw new Error('must not carry a query or fragment');
  if (url.username || url.password) throw new Error('must not carry credentials');
  return url;
}

function parseLogLevel(value: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === value);
  if (!level) throw new Error(`is not one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

function parseChangelog(value: string): string {
  if (value === 'auto' || value === 'off') return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('is not auto, off or a redis:// URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('is not auto, off or a redis:// URL');
  return value;
}

function nonEmpty(value: string): string {
  if (value.trim() === '') throw new Error('is empty');
  return value;
}

const positive = (value: string) => parseInteger(value, { min: 1 });

export function parseEdgeConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): EdgeConfig {
  const { options: raw, positional } = readOptions(EDGE_OPTIONS, argv, env);
  if (positional.length) throw new ConfigError(positional[0]!.replace(/^-*/, ''), 'unexpected argument');
  const cacheMaxBytes = read(raw, 'cache-max-bytes', '10GiB', (v) => parseSize(v, { min: 1 }));
  return Object.freeze({
    listen: read(raw, 'listen', '0.0.0.0:8080', parseHostPort),
    adminListen: read(raw, 'admin-listen', '127.0.0.1:9090', parseHostPort),
    origin: read(raw, 'origin', undefined, parseHttpUrl),
    cacheDir: read(raw, 'cache-dir', './var/cache', nonEmpty),
    cacheMaxBytes,
    adminToken: optional(raw, 'admin-token', nonEmpty),
    originTimeoutMs: read(raw, 'origin-timeout-ms', '10000', positive),
    defaultTtlSec: read(raw, 'default-ttl', '3600', parseSeconds),
    negativeTtlSec: read(raw, 'negative-ttl', '10', parseSeconds),
    staleIfErrorSec: read(raw, 'stale-if-error', '86400', parseSeconds),
    peers: Object.freeze(optional(raw, 'peers', (v) => v.split(',').filter(Boolean).map(parseHttpUrl)) ?? []),
    peersDns: optional(raw, 'peers-dns', nonEmpty),
    self: optional(raw, 'self', parseHttpUrl),
    signingKey: optional(raw, 'signing-key', nonEmpty),
    changelog: read(raw, 'changelog', 'auto', parseChangelog),
    logLevel: read(raw, 'log-level', 'info', parseLogLevel),
    maxOriginFetches: read(raw, 'max-origin-fetches', '64', positive),
    maxObjectBytes: read(raw, 'max-object-bytes', '1GiB', (v) => parseSize(v, { min: 1 })),
    memoryCacheBytes: read(raw, 'memory-cache-bytes', '64MiB', (v) => parseSize(v, { min: 0 })),
    clientTimeoutMs: read(raw, 'client-timeout-ms', '30000', positive),
    maxHeaderBytes: read(raw, 'max-header-bytes', '16KiB', (v) => parseSize(v, { min: 1024, max: 1024 * 1024 })),
    drainTimeoutMs: read(raw, 'drain-timeout-ms', '30000', positive),
  });
}

export function parseDemoConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): DemoConfig {
  const { options: raw, positional } = readOptions(DEMO_OPTIONS, argv, env);
  if (positional.length) throw new ConfigError(positional[0]!, 'unexpected argument');
  return Object.freeze({
    listen: read(raw, 'listen', '0.0.0.0:8080', parseHostPort),
    adminListen: read(raw, 'admin-listen', '127.0.0.1:9090', parseHostPort),
    originListen: read(raw, 'origin-listen', '127.0.0.1:8081', parseHostPort),
    dir: read(raw, 'dir', './var/demo', nonEmpty),
    logLevel: read(raw, 'log-level', 'info', parseLogLevel),
  });
}
