// A cache key names one stored object: the canonical path, plus the query as
// sent. Files are named by the key's hash, so no request text ever reaches the
// filesystem.
import { createHash, randomBytes } from 'node:crypto';

export function cacheKey(path: string, query: string): string {
  return query ? `${path}?${query}` : path;
}

/** The path part of a key, for purging a path with all its queries. */
export function keyPath(key: string): string {
  const q = key.indexOf('?');
  return q === -1 ? key : key.slice(0, q);
}

export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * The file one version of an object lives in, relative to the objects dir:
 * "ab/<hash>.<version>". A new version gets a new name, so a reader holding
 * the old one open is never disturbed by a replace or a delete.
 */
export function objectFileName(hash: string): string {
  return `${hash.slice(0, 2)}/${hash}.${randomBytes(4).toString('hex')}`;
}

const OBJECT_FILE = /^([0-9a-f]{2})\/(\1[0-9a-f]{62})\.[0-9a-f]{8}$/;

/** The key hash an object file name carries, or null for a foreign file. */
export function hashOfFileName(name: string): string | null {
  return OBJECT_FILE.exec(name)?.[2] ?? null;
}
