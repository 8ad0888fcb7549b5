// The fields of every answer's head, for each path that sends one (the hit
// lane, the fast hit, the app): the stored fields, less those the edge writes
// itself, then the body's framing, then the answer's own. Each singleton
// appears once, and every path sends the same set.
import type { HeaderMap } from './headers.js';

/** Written by the edge for every answer: a stored or origin copy of one is never sent. */
const EDGE_FIELDS = new Set(['content-length', 'age', 'cache-status']);

export interface BodyFraming {
  /** Bytes the answer carries (a range's length for a 206), when known. */
  readonly length: number | undefined;
  /** The edge answers ranges of this body: Accept-Ranges: bytes. */
  readonly ranges: boolean;
  /** Content-Range of a 206. */
  readonly contentRange?: string;
}

/**
 * The object's part of a head, as a flat [name, value, ...] list: what the
 * origin sent and the cache keeps (its Date among them), then the framing.
 * The same for every answer of one stored object, so hits make it once.
 */
export function objectFields(stored: Readonly<HeaderMap>, framing: BodyFraming): string[] {
  const fields: string[] = [];
  for (const name in stored) {
    // The edge's own framing replaces the origin's; an origin field it does not write is the origin's to send.
    if (EDGE_FIELDS.has(name) || (name === 'accept-ranges' && framing.ranges) || (name === 'content-range' && framing.contentRange !== undefined)) continue;
    fields.push(name, stored[name]!);
  }
  if (framing.length !== undefined) fields.push('content-length', String(framing.length));
  if (framing.ranges) fields.push('accept-ranges', 'bytes');
  if (framing.contentRange !== undefined) fields.push('content-range', framing.contentRange);
  return fields;
}

/**
 * The answer's own part: Cache-Status; Age, the cache's own when the answer
 * comes from it, else the one the origin sent (RFC 9111 §5.1); and a Date of
 * now only when the object carries none (RFC 9110 §6.6.1): a stored Date is
 * the origin's, and Age says how old it is.
 */
export function deliveryFields(stored: Readonly<HeaderMap>, cacheStatus: string, age: number | undefined, now: () => string): string[] {
  const fields = ['cache-status', cacheStatus];
  const sentAge = age !== undefined ? String(age) : stored.age;
  if (sentAge !== undefined) fields.push('age', sentAge);
  if (stored.date === undefined) fields.push('date', now());
  return fields;
}
