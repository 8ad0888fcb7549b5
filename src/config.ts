// Flags and IMGEDGE_* variables → one typed, frozen config per role. Pure: the
// caller hands in argv and env, and a bad value throws a ConfigError that names
// the option. Every option is a flag and a variable; the flag wins.
import { ConfigError } from './errors.js';
import { parseSize, parseSeconds, parseInteger, parseHostPort, parseUrl, type HostPort } from './units.js';
import { isRedisUrl, parseRedisUrl } from './changelog/redis-url.js';

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
  readonly changelog: string;
  readonly logLevel: LogLevel;
  readonly maxOriginFetches: number;
  readonly maxObjectBytes: number;
  readonly memoryCacheBytes: number;
  readonly clientTimeoutMs: number;
  readonly maxHeaderBytes: number;
  readonly drainTimeoutMs: number;
  /** The replicas of this IDC, this one included, when given as a list. */
  readonly peers: readonly URL[] | undefined;
  /** A DNS name whose A and AAAA records are the replicas, when given instead. */
  readonly peersDns: string | undefined;
  /** This replica's URL as its peers reach it; derived at start when unset. */
  readonly self: URL | undefined;
  readonly peerTimeoutMs: number;
  readonly peersDnsRefreshMs: number;
  /** Replicas holding each object fetched: its owner, and with 2 also the replica that takes its keys when it is gone. */
  readonly peerCopies: number;
  /** Set: every transform request needs a valid sig. */
  readonly signingKey: string | undefined;
  /** Set: the only widths a transform may ask for. */
  readonly allowedWidths: readonly number[] | undefined;
  readonly maxSourceBytes: number;
  readonly maxSourcePixels: number;
  readonly transformTimeoutMs: number;
  readonly transformQueue: number;
}

export interface SignConfig {
  readonly signingKey: string;
  readonly url: string;
}

/** An origin root in a bucket: `--root s3://BUCKET[/PREFIX]`, `--s3-endpoint`, `--s3-region`, AWS_* credentials. */
export interface S3Settings {
  readonly bucket: string;
  /** Keys start with it and a slash; '' for none. */
  readonly prefix: string;
  /** Unset: AWS itself. Set: an S3-compatible store, addressed path-style. */
  readonly endpoint?: URL;
  readonly region: string;
  /** From AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; unset leaves the SDK's own chain (instance roles...). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
}

export interface OriginConfig {
  readonly listen: HostPort;
  /** A directory, or the s3:// URL given (then `s3` says where). */
  readonly root: string;
  readonly s3: S3Settings | null;
  /** 'file', or a redis:// URL. */
  readonly changelog: string;
  readonly changelogMaxEntries: number;
  readonly uploadToken: string | undefined;
  readonly maxUploadBytes: number;
  readonly maxAgeSec: number;
  readonly changelogMaxBytes: number;
  readonly changelogMaxAgeSec: number;
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
}

export interface DemoConfig {
  readonly listen: HostPort;
  readonly adminListen: HostPort;
  readonly originListen: HostPort;
  readonly dir: string;
  readonly logLevel: LogLevel;
}

type Raw = Map<string, string>;

export interface OptionSpec {
  /** true for an option that takes no value */
  readonly flag?: boolean;
  /** What the value looks like, for --help: SIZE, URL, HOST:PORT... */
  readonly value?: string;
  /** The value when neither the flag nor its variable is given. */
  readonly default?: string;
  readonly help?: string;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

const LOG_LEVEL: OptionSpec = { value: 'LEVEL', default: 'info', help: LOG_LEVELS.join('|') };

export const EDGE_OPTIONS: OptionTable = {
  listen: { value: 'HOST:PORT', default: '0.0.0.0:8080', help: 'public traffic: browsers' },
  'admin-listen': { value: 'HOST:PORT', default: '127.0.0.1:9090', help: 'metrics, health, purge; never on the public port' },
  origin: { value: 'URL', help: 'base URL of the origin, or of a parent edge (required)' },
  'cache-dir': { value: 'DIR', default: './var/cache', help: 'where cached objects live; survives restarts' },
  'cache-max-bytes': { value: 'SIZE', default: '10GiB', help: 'disk the cache may use; least recently used objects go first' },
  'admin-token': { value: 'TOKEN', help: 'bearer token for purge; unset means purge is refused' },
  'origin-timeout-ms': { value: 'N', default: '10000', help: 'to response headers, and between body bytes' },
  'default-ttl': { value: 'SECONDS', default: '3600', help: 'freshness when the origin gives none' },
  'negative-ttl': { value: 'SECONDS', default: '10', help: 'how long an origin 404 or 410 is remembered' },
  'stale-if-error': { value: 'SECONDS', default: '86400', help: 'how long past freshness a stored copy may serve while the origin fails' },
  peers: { value: 'URL,URL', help: 'the replicas of this IDC, this one included' },
  'peers-dns': { value: 'NAME', help: 'a DNS name (a headless Service) whose A and AAAA addresses are the replicas' },
  self: { value: 'URL', help: "this replica's URL as its peers reach it (default: the listen address, or the peer whose address is this host's, on the listen port)" },
  'peer-timeout-ms': { value: 'N', default: '1000', help: 'a peer that has not acknowledged a fetch within this is set aside, and the replica next in line for the key asked' },
  'peers-dns-refresh-ms': { value: 'N', default: '5000', help: 'how often --peers-dns is resolved again' },
  'peer-copies': { value: 'N', default: '1', help: 'replicas that keep each object fetched from the origin: 1 (its owner), or 2 (also the one that takes its keys when it is gone)' },
  'signing-key': { value: 'KEY', help: 'require a valid sig on transform requests' },
  'allowed-widths': { value: 'N,N,...', help: 'the only widths a transform may ask for (w); unset allows 1..8192' },
  'max-source-bytes': { value: 'SIZE', default: '25MiB', help: 'larger sources are not transformed (422)' },
  'max-source-pixels': { value: 'N', default: '50000000', help: 'sources with more pixels (width x height) are not decoded (422)' },
  'transform-timeout-ms': { value: 'N', default: '10000', help: 'a transform taking longer is answered 422 and not stored' },
  'transform-queue': { value: 'N', default: '16', help: 'transforms waiting for a core; beyond it 503 with Retry-After' },
  changelog: { value: 'auto|off|URL', default: 'auto', help: "the change log to follow: the origin's own (auto), none (off), or a Redis stream: redis://HOST:PORT[/DB][?stream=NAME]" },
  'log-level': LOG_LEVEL,
  'max-origin-fetches': { value: 'N', default: '64', help: 'concurrent connections to the origin; further fetches queue' },
  'max-object-bytes': { value: 'SIZE', default: '1GiB', help: 'larger objects are streamed through, never stored' },
  'memory-cache-bytes': { value: 'SIZE', default: '64MiB', help: 'memory for small hot objects; 0 serves every hit from disk' },
  'client-timeout-ms': { value: 'N', default: '30000', help: 'a request head must arrive, and an idle connection is cut, within this' },
  'max-header-bytes': { value: 'SIZE', default: '16KiB', help: 'larger request heads get 431' },
  'drain-timeout-ms': { value: 'N', default: '30000', help: 'on SIGTERM, how long in-flight responses may take before they are cut' },
};

export const SIGN_OPTIONS: OptionTable = {
  'signing-key': { value: 'KEY', help: "the edge's --signing-key (required)" },
};

export const ORIGIN_OPTIONS: OptionTable = {
  listen: { value: 'HOST:PORT', default: '0.0.0.0:8081', help: 'uploads, edge fetches and the change log' },
  root: { value: 'DIR|s3://BUCKET[/PREFIX]', default: './var/origin', help: 'where uploaded files live: a directory, or a bucket (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)' },
  's3-endpoint': { value: 'URL', help: 'with an s3:// root: an S3-compatible store (MinIO, Ceph RGW...), addressed path-style; unset means AWS' },
  's3-region': { value: 'NAME', default: 'us-east-1', help: 'with an s3:// root: the region requests are signed for' },
  changelog: { value: 'file|URL', default: 'file', help: 'where the change log is appended: file, beside the files under the root, or a Redis stream: redis://HOST:PORT[/DB][?stream=NAME]' },
  'changelog-max-entries': { value: 'N', default: '1000000', help: 'with a redis:// change log: the stream is trimmed to about this many entries (MAXLEN ~)' },
  'changelog-max-bytes': { value: 'SIZE', default: '64MiB', help: 'with a file change log: it keeps at most about this much' },
  'changelog-max-age': { value: 'SECONDS', default: '7d', help: 'with a file change log: and entries at most this old' },
  'upload-token': { value: 'TOKEN', help: 'bearer token for PUT and DELETE; unset means writes are refused' },
  'max-upload-bytes': { value: 'SIZE', default: '50MiB', help: 'larger uploads get 413' },
  'max-age': { value: 'SECONDS', default: '3600', help: 'the Cache-Control: public, max-age sent with files' },
  'drain-timeout-ms': { value: 'N', default: '30000', help: 'on SIGTERM, how long uploads under way may take before they are cut' },
  'log-level': LOG_LEVEL,
};

export const DEMO_OPTIONS: OptionTable = {
  listen: { value: 'HOST:PORT', default: '0.0.0.0:8080', help: "the demo edge's public port" },
  'admin-listen': { value: 'HOST:PORT', default: '127.0.0.1:9090', help: "the demo edge's admin port" },
  'origin-listen': { value: 'HOST:PORT', default: '127.0.0.1:8081', help: "the demo origin's port" },
  dir: { value: 'DIR', default: './var/demo', help: 'where the sample images and the cache live' },
  'log-level': LOG_LEVEL,
};

/** The options of one command, one a line, with their defaults: what `COMMAND --help` prints. */
export function optionsHelp(table: OptionTable): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const left = `  --${name}${spec.flag ? '' : ` ${spec.value ?? 'VALUE'}`}`;
    const notes = [
      spec.help,
      spec.default !== undefined ? `(default ${spec.default})` : undefined,
    ].filter(Boolean);
    return [left, notes.join(' ')] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => left.padEnd(width) + right).join('\n');
}

/**
 * Reads `--name value`, `--name=value` and IMGEDGE_NAME for the options a role
 * knows. Positional arguments are returned apart for commands that take them.
 */
export function readOptions(
  known: OptionTable,
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
    if (!spec) throw new ConfigError(name, 'unknown option (imgedge COMMAND --help lists the options)');
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
  for (const [name, spec] of Object.entries(known)) {
    if (spec.default !== undefined && !options.has(name)) options.set(name, spec.default);
  }
  return { options, positional };
}

/** Wraps a parser so that its complaint names the option. */
function read<T>(raw: Raw, name: string, parse: (value: string) => T): T {
  const value = raw.get(name);
  if (value === undefined) throw new ConfigError(name, `is required (flag --${name} or IMGEDGE_${name.toUpperCase().replaceAll('-', '_')})`);
  try {
    return parse(value);
  } catch (error) {
    throw new ConfigError(name, `${JSON.stringify(value)} ${(error as Error).message}`);
  }
}

function optional<T>(raw: Raw, name: string, parse: (value: string) => T): T | undefined {
  return raw.has(name) ? read(raw, name, parse) : undefined;
}

export function parseHttpUrl(value: string): URL {
  const url = parseUrl(value);
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
  if (isRedisUrl(value)) {
    parseRedisUrl(value);
    return value;
  }
  throw new Error('is not auto, off or a redis:// URL');
}

/** A comma-separated list of replica URLs: each a bare http(s) origin, no path. */
export function parsePeerList(value: string): URL[] {
  const urls = value.split(',').map((part) => part.trim()).filter((part) => part !== '').map(parsePeerUrl);
  if (urls.length === 0) throw new Error('names no replica');
  return urls;
}

export function parsePeerUrl(value: string): URL {
  const url = parseHttpUrl(value);
  if (url.pathname !== '/') throw new Error('must be a bare origin (scheme, host, port), without a path');
  return url;
}

/** A DNS name as RFC 1123 allows it: labels of letters, digits and hyphens. */
export function parseDnsName(value: string): string {
  const name = value.replace(/\.$/, '');
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => label.test(l))) throw new Error('is not a DNS name');
  return name.toLowerCase();
}

function parseOriginChangelog(value: string): string {
  if (value === 'file') return value;
  if (isRedisUrl(value)) {
    parseRedisUrl(value);
    return value;
  }
  throw new Error('is not file or a redis:// URL');
}

function parseRoot(value: string): string {
  if (/^s3:/i.test(value)) parseS3Root(value);
  return nonEmpty(value);
}

function parseS3Root(value: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/i.exec(value);
  if (!match) throw new Error('is not s3://BUCKET[/PREFIX]');
  const bucket = match[1]!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error('does not name a valid bucket (3 to 63 of a-z, 0-9, . and -)');
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  if (prefix.split('/').some((s, i, all) => (s === '' && all.length > 1) || s === '.' || s === '..')) throw new Error('has an empty, . or .. segment in its prefix');
  return { bucket, prefix };
}

function nonEmpty(value: string): string {
  if (value.trim() === '') throw new Error('is empty');
  return value;
}

const positive = (value: string) => parseInteger(value, { min: 1 });

export function parseEdgeConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): EdgeConfig {
  const { options: raw, positional } = readOptions(EDGE_OPTIONS, argv, env);
  if (positional.length) throw new ConfigError(positional[0]!.replace(/^-*/, ''), 'unexpected argument');
  const cacheMaxBytes = read(raw, 'cache-max-bytes', (v) => parseSize(v, { min: 1 }));
  return Object.freeze({
    listen: read(raw, 'listen', parseHostPort),
    adminListen: read(raw, 'admin-listen', parseHostPort),
    origin: read(raw, 'origin', parseHttpUrl),
    cacheDir: read(raw, 'cache-dir', nonEmpty),
    cacheMaxBytes,
    adminToken: optional(raw, 'admin-token', nonEmpty),
    originTimeoutMs: read(raw, 'origin-timeout-ms', positive),
    defaultTtlSec: read(raw, 'default-ttl', parseSeconds),
    negativeTtlSec: read(raw, 'negative-ttl', parseSeconds),
    staleIfErrorSec: read(raw, 'stale-if-error', parseSeconds),
    changelog: read(raw, 'changelog', parseChangelog),
    logLevel: read(raw, 'log-level', parseLogLevel),
    maxOriginFetches: read(raw, 'max-origin-fetches', positive),
    maxObjectBytes: read(raw, 'max-object-bytes', (v) => parseSize(v, { min: 1 })),
    memoryCacheBytes: read(raw, 'memory-cache-bytes', (v) => parseSize(v, { min: 0 })),
    clientTimeoutMs: read(raw, 'client-timeout-ms', positive),
    maxHeaderBytes: read(raw, 'max-header-bytes', (v) => parseSize(v, { min: 1024, max: 1024 * 1024 })),
    drainTimeoutMs: read(raw, 'drain-timeout-ms', positive),
    signingKey: optional(raw, 'signing-key', nonEmpty),
    allowedWidths: optional(raw, 'allowed-widths', parseWidths),
    maxSourceBytes: read(raw, 'max-source-bytes', (v) => parseSize(v, { min: 1 })),
    maxSourcePixels: read(raw, 'max-source-pixels', positive),
    transformTimeoutMs: read(raw, 'transform-timeout-ms', positive),
    transformQueue: read(raw, 'transform-queue', (v) => parseInteger(v, { min: 0 })),
    ...peering(raw, read(raw, 'listen', parseHostPort)),
  });
}

function parseWidths(value: string): readonly number[] {
  const widths = value.split(',').map((w) => parseInteger(w.trim(), { min: 1, max: 8192 }));
  return Object.freeze([...new Set(widths)].sort((a, b) => a - b));
}

export function parseSignConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): SignConfig {
  const { options: raw, positional } = readOptions(SIGN_OPTIONS, argv, env);
  if (positional.length !== 1) throw new ConfigError('signing-key', 'usage: imgedge sign --signing-key KEY URL');
  return Object.freeze({ signingKey: read(raw, 'signing-key', nonEmpty), url: positional[0]! });
}

function peering(raw: Raw, listen: HostPort): Pick<EdgeConfig, 'peers' | 'peersDns' | 'self' | 'peerTimeoutMs' | 'peersDnsRefreshMs' | 'peerCopies'> {
  const peers = optional(raw, 'peers', parsePeerList);
  const peersDns = optional(raw, 'peers-dns', parseDnsName);
  const self = optional(raw, 'self', parsePeerUrl);
  if (peers && peersDns) throw new ConfigError('peers-dns', 'cannot be given with --peers: choose one source of replicas');
  if (self && !peers && !peersDns) throw new ConfigError('self', 'needs --peers or --peers-dns');
  const peerCopies = read(raw, 'peer-copies', (v) => parseInteger(v, { min: 1, max: 2 }));
  if (peerCopies > 1 && !peers && !peersDns) throw new ConfigError('peer-copies', 'needs --peers or --peers-dns: a lone edge has no replica to keep a copy');
  if ((peers || peersDns) && listen.port === 0) throw new ConfigError('listen', 'needs a fixed port when replicas peer: their peers must know it');
  if (self && peers && !peers.some((peer) => peer.origin === self.origin)) {
    throw new ConfigError('self', `${JSON.stringify(self.origin)} is not one of --peers`);
  }
  return {
    peers,
    peersDns,
    self,
    peerTimeoutMs: read(raw, 'peer-timeout-ms', positive),
    peersDnsRefreshMs: read(raw, 'peers-dns-refresh-ms', positive),
    peerCopies,
  };
}

export function parseOriginConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): OriginConfig {
  const { options: raw, positional } = readOptions(ORIGIN_OPTIONS, argv, env);
  if (positional.length) throw new ConfigError(positional[0]!.replace(/^-*/, ''), 'unexpected argument');
  const root = read(raw, 'root', parseRoot);
  const changelog = read(raw, 'changelog', parseOriginChangelog);
  const s3 = /^s3:/i.test(root) ? parseS3Root(root) : null;
  if (s3 && changelog === 'file') {
    throw new ConfigError('changelog', 'must be a redis:// URL with an s3:// root: the replicas of an origin on a bucket share one log on Redis');
  }
  // Given for the other kind of root or log, an option would be ignored: refused instead.
  const given = (name: string) => raw.has(name) && raw.get(name) !== ORIGIN_OPTIONS[name]!.default;
  for (const name of ['s3-endpoint', 's3-region']) if (!s3 && given(name)) throw new ConfigError(name, 'applies only to an s3:// --root');
  for (const name of ['changelog-max-bytes', 'changelog-max-age']) if (changelog !== 'file' && given(name)) throw new ConfigError(name, 'applies only to --changelog file');
  if (changelog === 'file' && given('changelog-max-entries')) throw new ConfigError('changelog-max-entries', 'applies only to a redis:// --changelog');
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (s3 && (accessKeyId ? 1 : 0) + (secretAccessKey ? 1 : 0) === 1) {
    throw new ConfigError('root', 'needs both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
  }
  const endpoint = s3 ? optional(raw, 's3-endpoint', parseHttpUrl) : undefined;
  return Object.freeze({
    listen: read(raw, 'listen', parseHostPort),
    root,
    s3: s3 && Object.freeze({
      ...s3,
      ...(endpoint ? { endpoint } : {}),
      region: read(raw, 's3-region', nonEmpty),
      ...(accessKeyId && secretAccessKey
        ? { credentials: { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } }
        : {}),
    }),
    changelog,
    changelogMaxEntries: read(raw, 'changelog-max-entries', (v) => parseInteger(v, { min: 1000 })),
    uploadToken: optional(raw, 'upload-token', nonEmpty),
    maxUploadBytes: read(raw, 'max-upload-bytes', (v) => parseSize(v, { min: 1 })),
    maxAgeSec: read(raw, 'max-age', parseSeconds),
    changelogMaxBytes: read(raw, 'changelog-max-bytes', (v) => parseSize(v, { min: 64 * 1024 })),
    changelogMaxAgeSec: read(raw, 'changelog-max-age', (v) => {
      const seconds = parseSeconds(v);
      if (seconds < 60) throw new Error('is under a minute');
      return seconds;
    }),
    drainTimeoutMs: read(raw, 'drain-timeout-ms', positive),
    logLevel: read(raw, 'log-level', parseLogLevel),
  });
}

export function parseDemoConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): DemoConfig {
  const { options: raw, positional } = readOptions(DEMO_OPTIONS, argv, env);
  if (positional.length) throw new ConfigError(positional[0]!, 'unexpected argument');
  return Object.freeze({
    listen: read(raw, 'listen', parseHostPort),
    adminListen: read(raw, 'admin-listen', parseHostPort),
    originListen: read(raw, 'origin-listen', parseHostPort),
    dir: read(raw, 'dir', nonEmpty),
    logLevel: read(raw, 'log-level', parseLogLevel),
  });
}
