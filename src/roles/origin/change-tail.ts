// An origin replica's own reading of the change log its replicas append to
// (the Redis stream beside a bucket), from the end it finds at its start.
// Each entry it applies tells the shared reads what changed; how far it has
// applied is what an edge's request is checked against before it may be
// answered from a shared read (shared-reads.ts). It keeps no position: what
// it tells of is only ever in memory, and when it loses track (the log
// unreachable, reset or trimmed under it) everything it told of is forgotten.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChangeFeed, FeedEntry } from '../../changelog/feed.js';
import type { LogPoint } from '../../changelog/follower.js';
import type { Position } from '../../changelog/position.js';
import { hasApplied } from '../../changelog/log-point.js';

export interface TailListener {
  /** An entry applied: what it names has changed. */
  changed(entry: FeedEntry): void;
  /** Entries may have been missed: nothing told of before is to be trusted. */
  lost(): void;
}

/** How long one read waits for an entry (a Redis feed blocks for at most 2 s of it). */
export const TAIL_WAIT_SEC = 25;
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;

export class ChangeTail {
  readonly #stop = new AbortController();
  /** Null until the log has been read once, and again after each failure (nothing held here is ever stale: staleBefore 0). */
  #position: Position | null = null;
  #running: Promise<void> | null = null;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly listener: TailListener,
    /** Told of the first failure after the log was read, not of each try again. */
    private readonly onFailure: (error: Error) => void,
  ) {}

  /** Whether every entry up to the point has been applied here (none when the log is another one). */
  hasReached(point: LogPoint): boolean {
    return hasApplied(this.#position, point);
  }

  start(): void {
    this.#running ??= this.#follow();
  }

  async #follow(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    let failing = false;
    while (!this.#stop.signal.aborted) {
      try {
        const read = await this.feed.read(this.#position, TAIL_WAIT_SEC, this.#stop.signal);
        if (read === 'no_log') throw new Error('the change log keeps no entries');
        const known = this.#position;
        if (!known || read.gap || read.log !== known.log) {
          this.listener.lost();
          this.#position = { log: read.log, ...read.end, staleBefore: 0 };
        } else {
          for (const entry of read.entries) this.listener.changed(entry);
          const last = read.entries.at(-1);
          if (last) this.#position = { ...known, seq: last.seq, ...(last.id === undefined ? {} : { id: last.id }) };
        }
        backoff = MIN_BACKOFF_MS;
        failing = false;
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        this.#position = null;
        this.listener.lost();
        if (!failing) this.onFailure(error as Error);
        failing = true;
        await sleep(backoff, undefined, { signal: this.#stop.signal }).catch(() => undefined);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
    await this.feed.close();
  }
}
