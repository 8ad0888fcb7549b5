// A cache key names one stored object: the canonical path, plus the query as
// sent. A response that varies (Vary) is stored under a secondary key beside
// that primary one: the primary key, the varied header names, and a hash of
// the values the request presented for them, joined by spaces (a request
// target cannot hold a raw space, so no primary key does). Files are named by the key's hash, so no
// request text ever reaches the filesystem.
import { createHash, randomBytes } from 'node:crypto';

export function cacheKey(path: string, query: string): string {
  return query ? `${path}?${query}` : path;
}

/**
 * An image variant's key: its source's key, "#", and the transform in
 * canonical form. No request target holds a raw "#", so no source's key
 * looks like a variant's, and the variant keeps its source's path (purged
 * with it).
 */
export function derivedKey(sourceKey: string, transform: string): string {
  return `${sourceKey}#${transform}`;
}

/** The source key and transform a variant's key names, or null for any other key. */
export function derivedParts(key: string): { source: string; transform: string } | null {
  const primary = primaryKey(key);
  const hash = primary.indexOf('#');
  return hash === -1 ? null : { source: primary.slice(0, hash), transform: primary.slice(hash + 1) };
}

/** The key of one variant of `primary`: `names` (sorted, lower case) with the values `spec` gives them. */
export function variantKey(primary: string, names: readonly string[], spec: string): string {
  return `${primary} ${names.join(',')} ${keyHash(spec).slice(0, 32)}`;
}

/** The primary key a key belongs to: itself, or the one a variant sits beside. */
export function primaryKey(key: string): string {
  const space = key.indexOf(' ');
  return space === -1 ? key : key.slice(0, space);
}

/** The header names a variant's key varies on, or null for a primary key. */
export function variantNames(key: string): readonly string[] | null {
  const space = key.indexOf(' ');
  if (space === -1) return null;
  return key.slice(space + 1, key.indexOf(' ', space + 1)).split(',');
}

/** The path part of a key, for purging a path with all its queries and variants. */
export function keyPath(key: string): string {
  const primary = primaryKey(key);
  const q = primary.search(/[?#]/);
  return q === -1 ? primary : primary.slice(0, q);
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
