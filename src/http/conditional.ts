// RFC 9110 §13: conditional requests a cache answers from what it holds.
import { parseHttpDate, type HeaderMap } from './headers.js';

/** The opaque part of an entity-tag; a stored ETag may end in whitespace (undici keeps a field value's trailing OWS). */
function opaque(tag: string): string {
  return tag.trim().replace(/^W\//, '');
}

/** §13.1.2: weak comparison against a list of entity-tags or "*". */
export function noneMatch(ifNoneMatch: string, etag: string | undefined): boolean {
  const wanted = ifNoneMatch.trim();
  if (wanted === '*') return etag !== undefined;
  if (etag === undefined) return false;
  const mine = opaque(etag);
  // Entity-tags in the list; commas may appear inside the quotes.
  return Array.from(wanted.matchAll(/(?:W\/)?"[^"]*"/g), ([tag]) => opaque(tag)).includes(mine);
}

/**
 * §13.2.2 order: If-None-Match wins over If-Modified-Since, which counts only
 * for GET and HEAD. True when the answer is 304 Not Modified.
 */
export function isNotModified(request: HeaderMap, response: HeaderMap): boolean {
  const inm = request['if-none-match'];
  if (inm !== undefined) return noneMatch(inm, response.etag);
  // An absent or unreadable date is NaN, and a comparison with NaN is false: no 304.
  return parseHttpDate(response['last-modified']) <= parseHttpDate(request['if-modified-since']);
}

/** §13.1.5: If-Range with a strong entity-tag or a date; else the whole object. */
export function ifRangeHolds(ifRange: string | undefined, response: HeaderMap): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  // A strong entity-tag holds when it is the stored one (which is then strong
  // too). A weak one, W/"…", never holds: it is no date either.
  if (value.startsWith('"')) return response.etag?.trim() === value;
  // A date holds when it is exactly Last-Modified; an unreadable one is NaN, equal to nothing.
  return parseHttpDate(value) === parseHttpDate(response['last-modified']);
}

/** §15.4.5: the fields a 304 carries from the 200 it stands for. */
export const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'last-modified', 'vary'];
