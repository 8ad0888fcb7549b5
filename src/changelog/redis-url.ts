// `redis://[[USER]:PASSWORD@]HOST:PORT[/DB][?stream=NAME]`, the change log on
// Redis as the edge and the origin take it. Pure: config.ts checks it at start,
// the feed and the appender connect with what it returns.
import { parseUrl } from '../units.js';

export const DEFAULT_STREAM = 'imgedge:changes';

export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly stream: string;
  readonly username?: string;
  readonly password?: string;
  /** For logs: never the password. */
  readonly describe: string;
}

export function isRedisUrl(value: string): boolean {
  return /^redis:\/\//i.test(value);
}

export function parseRedisUrl(value: string): RedisTarget {
  const url = parseUrl(value);
  if (url.protocol !== 'redis:') throw new Error('is not a redis:// URL');
  if (!url.hostname) throw new Error('names no host');
  if (url.hash) throw new Error('must not carry a fragment');
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,5}$/.test(dbText)) throw new Error('has a path that is not a database number');
  for (const name of url.searchParams.keys()) if (name !== 'stream') throw new Error(`has an unknown parameter "${name}"`);
  const stream = url.searchParams.get('stream') ?? DEFAULT_STREAM;
  if (stream === '') throw new Error('names an empty stream');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const db = dbText === '' ? 0 : Number(dbText);
  return {
    host, port, db, stream,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    describe: `redis://${url.host}/${db}?stream=${encodeURIComponent(stream)}`,
  };
}
