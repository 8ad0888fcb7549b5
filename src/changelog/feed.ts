// Where a follower reads changes from: the origin's log over HTTP (or a parent
// edge relaying it), or a Redis stream. A feed only reads and says whether the
// position it was given can be continued from; applying, saving the position
// and the gap rule's consequences are the follower's, the same for every feed.
import type { ChangeEntry } from './log.js';
import type { ChangesPage } from './wire.js';
import type { Position } from './position.js';

export type GapReason = 'trimmed' | 'reset' | 'ahead' | 'no_position';

/** A place in a feed: a sequence, and in a Redis stream the entry's ID. */
export interface Cursor {
  readonly seq: number;
  readonly id?: string;
}

/**
 * Entries as read, each with the place it leaves the follower at. One the feed
 * cannot use (a foreign writer's entry without a path) is still counted, with
 * the reason, and applies nothing.
 */
export type FeedEntry = ChangeEntry & { readonly id?: string; readonly unusable?: string };

export interface FeedRead {
  /** The id of the log read: another than the position's means another log, or the same one reset. */
  readonly log: string;
  /** Why the position given cannot be continued from; null when it can (or none was given). */
  readonly gap: Exclude<GapReason, 'no_position'> | null;
  /** What followed the position, in order; ignored on a gap. */
  readonly entries: readonly FeedEntry[];
  /** The end of the feed as this read saw it: where a follower that lost track goes on from. */
  readonly end: Cursor;
  /** The first sequence the feed still holds (what a relay below can be served from). */
  readonly first: number;
}

export interface ChangeFeed {
  /** What is followed, for the logs (never with credentials). */
  readonly describe: string;
  /**
   * What follows `at` (null: no place yet), waiting up to waitSec for an entry
   * when there is none. 'no_log' when the source keeps no log (an origin that
   * is not imgedge's); throws when the source cannot be reached.
   */
  read(at: Position | null, waitSec: number, signal: AbortSignal): Promise<FeedRead | 'no_log'>;
  /** An entry's path as the edge's requests name it; null for a change outside what the edge fronts. */
  edgePath(entryPath: string): string | null;
  /** Whether fetchPage works: a Redis stream is not numbered by sequence. */
  readonly pages: boolean;
  /** Entries by sequence, for a relay asked for older ones than it remembers. */
  fetchPage(from: number, limit: number, signal: AbortSignal): Promise<ChangesPage>;
  close(): Promise<void>;
}
