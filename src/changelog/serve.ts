// One answer of the long poll, from any source of entries: the origin's own
// log, or an edge relaying what it has applied. Caught up, the request waits
// for the next entry (up to `wait`); behind, it is answered at once.
import type { ChangeEntry } from './log.js';
import type { ChangesPage, ChangesQuery } from './wire.js';

export interface ChangeSource {
  readonly id: string;
  readonly first: number;
  readonly last: number;
  read(from: number, limit: number): Promise<readonly ChangeEntry[]>;
  /** Resolves when an entry after seq is there, after ms, or when signal aborts. */
  waitBeyond(seq: number, ms: number, signal?: AbortSignal): Promise<void>;
}

export async function changesPage(source: ChangeSource, query: ChangesQuery, signal?: AbortSignal): Promise<ChangesPage> {
  const last = source.last;
  if (query.from === last + 1 && query.waitSec > 0) await source.waitBeyond(last, query.waitSec * 1000, signal);
  const entries = await source.read(query.from, query.limit);
  return { log: source.id, first: source.first, last: Math.max(source.last, entries.at(-1)?.seq ?? 0), entries };
}

export const CHANGES_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' } as const;
