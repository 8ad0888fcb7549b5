// The change log over HTTP, as the origin (and an edge relaying it) serves it
// and a follower reads it: a long poll answered with JSON. README "The origin
// and its change log" documents this exact format.
//
//   GET /.imgedge/changes?from=SEQ[&wait=SECONDS][&limit=N]
//   200 {"log": ID, "first": F, "last": L, "entries": [{seq, op, path, etag?, time, prefix?}, ...]}
//
// `prefix: true` (relayed from a Redis stream's prefix entries) makes path a
// prefix; `unusable: REASON` (a foreign writer's entry without a usable path)
// is counted and applies nothing.
import { BadRequest } from '../errors.js';
import type { ChangeEntry } from './log.js';

export const CHANGES_PATH = '/.imgedge/changes';
/** The first path segment the origin keeps for itself: never a stored file. */
export const RESERVED_SEGMENT = '.imgedge';
export const MAX_WAIT_SEC = 30;
export const MAX_LIMIT = 1000;

export interface ChangesQuery {
  readonly from: number;
  readonly waitSec: number;
  readonly limit: number;
}

export interface ChangesPage {
  /** The log's id: another id means the log was reset. */
  readonly log: string;
  /** The first sequence still held (last + 1 when none is). */
  readonly first: number;
  /** The last sequence appended (0 before the first). */
  readonly last: number;
  readonly entries: readonly ChangeEntry[];
}

function integer(params: URLSearchParams, name: string, fallback: number | undefined, min: number, max: number): number {
  const raw = params.get(name);
  if (raw === null) {
    if (fallback === undefined) throw new BadRequest(`"${name}" is required`);
    return fallback;
  }
  if (!/^\d{1,16}$/.test(raw)) throw new BadRequest(`"${name}" must be a whole number`);
  return Math.min(max, Math.max(min, Number(raw)));
}

export function parseChangesQuery(search: string): ChangesQuery {
  const params = new URLSearchParams(search);
  for (const name of params.keys()) {
    if (name !== 'from' && name !== 'wait' && name !== 'limit') throw new BadRequest(`unknown parameter "${name}"`);
  }
  return {
    from: integer(params, 'from', undefined, 1, Number.MAX_SAFE_INTEGER),
    waitSec: integer(params, 'wait', 0, 0, MAX_WAIT_SEC),
    limit: integer(params, 'limit', MAX_LIMIT, 1, MAX_LIMIT),
  };
}

export function changesUrl(base: URL, query: ChangesQuery): URL {
  const url = new URL(base.href.replace(/\/?$/, '') + CHANGES_PATH);
  url.searchParams.set('from', String(query.from));
  url.searchParams.set('wait', String(query.waitSec));
  url.searchParams.set('limit', String(query.limit));
  return url;
}

function isEntry(value: unknown): value is ChangeEntry {
  const e = value as ChangeEntry;
  return (
    typeof e === 'object' && e !== null && Number.isSafeInteger(e.seq) && e.seq > 0 &&
    (e.op === 'put' || e.op === 'delete' || e.op === 'purge') && typeof e.path === 'string' &&
    (e.path.startsWith('/') || typeof (e as { unusable?: unknown }).unusable === 'string') &&
    Number.isFinite(e.time) && (e.etag === undefined || typeof e.etag === 'string') && (e.prefix === undefined || e.prefix === true)
  );
}

/** A page as a follower receives it, checked field by field and for order. */
export function parseChangesPage(value: unknown): ChangesPage {
  const page = value as ChangesPage;
  if (
    typeof page !== 'object' || page === null || typeof page.log !== 'string' || page.log === '' ||
    !Number.isSafeInteger(page.first) || !Number.isSafeInteger(page.last) || page.first < 1 || page.last < page.first - 1 ||
    !Array.isArray(page.entries) || !page.entries.every(isEntry)
  ) {
    throw new Error('not a change log page');
  }
  // In order; numbers may skip where a relaying edge left out changes outside its origin's path.
  for (let i = 1; i < page.entries.length; i++) {
    if (page.entries[i]!.seq <= page.entries[i - 1]!.seq) throw new Error('change log entries out of order');
  }
  return page;
}
