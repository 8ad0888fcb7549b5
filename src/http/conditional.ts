// RFC 9110 §13: conditional requests a cache answers from what it holds.
import { parseHttpDate, type HeaderMap } from './headers.js';

function opaque(tag: string): string {
  return tag.trim().replace(/^W\//, '');
}

/** §13.1.2: weak comparison against a list of entity-tags or "*". */
export function noneMatch(ifNoneMatch: string, etag: string | undefined): boolean {
  const wanted = ifNoneMatch.trim();
  if (wanted === '*') return etag !== undefined;
  if (etag === undefined) return false;
  const mine = opaque(etag);
  return splitTags(wanted).some((tag) => opaque(tag) === mine);
}

/** Entity-tags in a list; commas may appear inside the quotes. */
function splitTags(list: string): string[] {
  return list.match(/(?:W\/)?"[^"]*"/g) ?? [];
}

/**
 * §13.2.2 order: If-None-Match wins over If-Modified-Since, which counts only
 * for GET and HEAD. True when the answer is 304 Not Modified.
 */
export function isNotModified(request: HeaderMap, response: HeaderMap): boolean {
  const inm = request['if-none-match'];
  if (inm !== undefined) return noneMatch(inm, response.etag);
  const ims = parseHttpDate(request['if-modified-since']);
  const lastModified = parseHttpDate(response['last-modified']);
  if (Number.isNaN(ims) || Number.isNaN(lastModified)) return false;
  return lastModified <= ims;
}

/** §13.1.5: If-Range with a strong entity-tag or a date; else the whole object. */
export function ifRangeHolds(ifRange: string | undefined, response: HeaderMap): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    const etag = response.etag;
    return value.startsWith('"') && etag !== undefined && !etag.startsWith('W/') && etag === value;
  }
  const date = parseHttpDate(value);
  const lastModified = parseHttpDate(response['last-modified']);
  return !Number.isNaN(date) && !Number.isNaN(lastModified) && date === lastModified;
}

/** §15.4.5: the fields a 304 carries from the 200 it stands for. */
export const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'last-modified', 'vary'];
