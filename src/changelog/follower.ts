// The edge's side of a change log: reads its feed (the origin's log over
// HTTP, or a Redis stream) from the position after the last entry it applied,
// drops each entry's path through the purge mechanism, then saves the new
// position (in the background, at most once a second, once the purges are on
// disk). At least once (a crash between purge and save replays entries; a
// purge twice is harmless), in order, at the edge's own pace. When the edge
// has lost track (its position was trimmed away, the log was reset or is
// behind it, or there is no position but the cache holds objects)
// everything held is marked stale, to be revalidated before it is served,
// and following resumes at the end. Nothing here is on a request's
// path: a log that is down costs retries, not latency.
import type { FastifyBaseLogger } from 'fastify';
import type { ChangesPage } from './wire.js';
import { loadPosition, savePosition, type Position } from './position.js';
import type { ChangeFeed, FeedEntry, FeedRead, GapReason } from './feed.js';
import type { Metrics, ChangelogState } from '../metrics.js';
import { CHANGELOG_STATES } from '../metrics.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { Wakeup } from './wakeup.js';
import { hasApplied } from './log-point.js';

/** A place in a log: its id and a sequence in it. */
export interface LogPoint {
  readonly log: string;
  readonly seq: number;
}

export interface FollowerTiming {
  /** How long one long poll waits for a new entry. */
  readonly waitSec: number;
  /** How often an origin that serves no log is asked again. */
  readonly probeMs: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

export const DEFAULT_TIMING: FollowerTiming = { waitSec: 25, probeMs: 60_000, minBackoffMs: 250, maxBackoffMs: 30_000 };

/**
 * How often the position is saved at most, as Redis's `appendfsync everysec`:
 * a crash replays at most this much of the log (a purge twice is harmless),
 * and an edge following a busy log pays two fsyncs a second, not two per page.
 */
const SAVE_EVERY_MS = 1000;

export interface FollowerDeps {
  readonly feed: ChangeFeed;
  readonly cacheDir: string;
  /**
   * Drops every stored object of these canonical paths and under these
   * prefixes (the edge's purge), but a copy of a path's replacing version
   * when `replacedBy` gives its ETag.
   */
  invalidate(paths: readonly string[], prefixes: readonly string[], replacedBy: ReadonlyMap<string, string>): void;
  /** Resolves once the purges so far survive a crash: a position is saved only after. */
  purgesDurable(): Promise<void>;
  markStaleBefore(time: number): void;
  /** What was held before `time` is doubted (revalidated before use) until lifted with null. */
  doubtBefore(time: number | null): void;
  holdsObjects(): boolean;
  readonly metrics: Metrics;
  readonly log: FastifyBaseLogger;
  readonly now?: () => number;
  readonly timing?: Partial<FollowerTiming>;
}

/** Applied entries kept for edges below this one (see relay.ts). */
const RECENT_ENTRIES = 4096;

export class Follower {
  readonly #timing: FollowerTiming;
  readonly #now: () => number;
  readonly #stop = new AbortController();
  #position: Position | null = null;
  #running: Promise<void> | null = null;
  /** Since when the edge may have missed changes; null while caught up and connected. */
  #behindSince: number | null = null;
  #upstreamFirst = 1;
  #recent: FeedEntry[] = [];
  readonly #applied = new Wakeup();
  #unsaved: Position | null = null;
  #saving: Promise<void> | null = null;
  /** performance.now() of the last save's start. */
  #savedAt = -Infinity;
  /** Whether the last poll was answered: the first after a start or a failure does not wait, so the state is known at once. */
  #answered = false;
  /** Whether what the edge held at its start is doubted: until the log has been read to its end once. */
  #doubting = false;

  constructor(private readonly deps: FollowerDeps) {
    this.#timing = { ...DEFAULT_TIMING, ...deps.timing };
    this.#now = deps.now ?? Date.now;
  }

  /** Reads the saved position and marks what it says is doubtful; before the edge serves. */
  async load(): Promise<void> {
    this.#position = await loadPosition(this.deps.cacheDir);
    if (this.#position?.staleBefore) this.deps.markStaleBefore(this.#position.staleBefore);
    if (this.#position) this.deps.metrics.changelogPosition.set(this.#position.seq);
  }

  /**
   * Follows the log from here on. What the edge holds may have changed while
   * it was down, in entries it has not read yet: it is revalidated before use
   * until the log has been read to its end (at once, unless the log is
   * unreachable), so a restarted edge or owner never serves what a write
   * replaced, and afterwards serves its hits again without asking.
   */
  start(): void {
    this.#behindSince = this.#now();
    if (this.#position && this.deps.holdsObjects()) this.#doubt(true);
    this.#running ??= this.#run();
  }

  #doubt(on: boolean): void {
    if (this.#doubting === on) return;
    this.#doubting = on;
    this.deps.doubtBefore(on ? this.#now() : null);
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wakeApplied();
    await this.#running;
    await this.#saving;
    await this.deps.feed.close();
  }

  get position(): Position | null {
    return this.#position;
  }

  /** Seconds the edge may be behind: 0 while caught up and connected. */
  lagSeconds(): number {
    return this.#behindSince === null ? 0 : Math.max(0, (this.#now() - this.#behindSince) / 1000);
  }

  // ------------------------------------------------ for the relay (relay.ts)

  /**
   * The id this edge relays the log under: the followed log's, changed by
   * every gap here, so an edge below learns it must doubt its copies too.
   */
  get relayId(): string | null {
    const p = this.#position;
    if (!p) return null;
    return p.staleBefore ? `${p.log}.${p.staleBefore}` : p.log;
  }

  /** The first sequence a relay can serve: upstream's first when the feed pages, else the first remembered. */
  get upstreamFirst(): number {
    return this.deps.feed.pages ? this.#upstreamFirst : (this.#recent[0]?.seq ?? (this.#position?.seq ?? 0) + 1);
  }

  get pagesUpstream(): boolean {
    return this.deps.feed.pages;
  }

  get recent(): readonly FeedEntry[] {
    return this.#recent;
  }

  /** Entries of the followed log, asked from upstream (for a relay reading older than `recent`, when the feed pages). */
  fetchPage(from: number, limit: number): Promise<ChangesPage> {
    return this.deps.feed.fetchPage(from, limit, this.#stop.signal);
  }

  /**
   * Whether this edge has applied the log `point` names (a peer's, see
   * peers/log-position.ts) up to its sequence, waiting up to ms for it:
   * false when it has not by then (its log is slower, unreachable, or
   * another one).
   */
  async reached(point: LogPoint, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.hasReached(point)) return true;
      const left = deadline - Date.now();
      if (left <= 0 || this.#stop.signal.aborted) return false;
      await this.#applied.wait(left, this.#stop.signal);
    }
  }

  hasReached(point: LogPoint): boolean {
    return hasApplied(this.#position, point);
  }

  /** Resolves when an entry after seq is applied, after ms, or on abort. */
  appliedBeyond(seq: number, ms: number, signal?: AbortSignal): Promise<void> {
    if ((this.#position?.seq ?? 0) > seq || signal?.aborted || this.#stop.signal.aborted) return Promise.resolve();
    return this.#applied.wait(ms, signal);
  }

  /**
   * Saves a position in the background, the newest winning, so the next poll
   * does not wait for two fsyncs; at most once per SAVE_EVERY_MS, and at once
   * when the follower stops. Only applied entries are ever counted in it: a
   * crash before it is written replays them, and a gap not yet saved is
   * found again.
   */
  #save(position: Position): void {
    this.#unsaved = position;
    this.#saving ??= (async () => {
      try {
        while (this.#unsaved) {
          const wait = this.#savedAt + SAVE_EVERY_MS - performance.now();
          if (wait > 0) await sleep(wait, undefined, { signal: this.#stop.signal }).catch(() => {});
          const next = this.#unsaved;
          this.#unsaved = null;
          this.#savedAt = performance.now();
          await this.deps.purgesDurable();
          await savePosition(this.deps.cacheDir, next);
        }
      } catch (error) {
        this.deps.log.error({ err: (error as Error).message }, 'change log position not saved');
      } finally {
        this.#saving = null;
      }
    })();
  }

  /** An entry's path as this edge's requests name it; null for a change outside what this edge fronts (see the feed's). */
  edgePath(entryPath: string): string | null {
    return this.deps.feed.edgePath(entryPath);
  }

  #wakeApplied(): void {
    this.#applied.wake();
  }

  // ------------------------------------------------ the loop

  #state(state: ChangelogState): void {
    for (const s of CHANGELOG_STATES) this.deps.metrics.changelogState.set({ state: s }, s === state ? 1 : 0);
  }

  async #run(): Promise<void> {
    let failures = 0;
    let reported = false;
    this.#state('connecting');
    while (!this.#stop.signal.aborted) {
      let outcome: 'ok' | 'no_log' | 'error';
      try {
        outcome = await this.#poll();
      } catch (error) {
        if (this.#stop.signal.aborted) break;
        outcome = 'error';
        if (!reported) this.deps.log.warn({ err: (error as Error).message, changelog: this.deps.feed.describe }, 'change log unreachable; retrying');
        reported = true;
      }
      if (outcome === 'ok') {
        if (reported) this.deps.log.info({ seq: this.#position?.seq }, 'change log reachable again');
        failures = 0;
        reported = false;
        this.#state('following');
        continue;
      }
      if (this.#behindSince === null) this.#behindSince = this.#now();
      if (outcome === 'no_log') {
        // An origin without a log costs one request now and then, nothing more.
        this.#state('no_log');
        this.#behindSince = null;
        this.#doubt(false);
        await this.#sleep(this.#timing.probeMs);
      } else {
        this.#state('retrying');
        failures++;
        const ceiling = Math.min(this.#timing.maxBackoffMs, this.#timing.minBackoffMs * 2 ** Math.min(failures - 1, 20));
        // Jitter: edges that lost the log together do not return together.
        await this.#sleep(ceiling / 2 + Math.random() * (ceiling / 2));
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.#stop.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #poll(): Promise<'ok' | 'no_log'> {
    const waitSec = this.#answered ? this.#timing.waitSec : 0;
    this.#answered = false;
    const read = await this.deps.feed.read(this.#position, waitSec, this.#stop.signal);
    if (read === 'no_log') return read;
    this.#apply(read);
    this.#answered = true;
    return 'ok';
  }

  #apply(page: FeedRead): void {
    const known = this.#position;
    const gap: GapReason | null =
      !known ? (this.deps.holdsObjects() ? 'no_position' : null)
      : known.log !== page.log ? 'reset'
      : page.gap;
    this.#upstreamFirst = page.first;
    const end = { seq: page.end.seq, ...(page.end.id === undefined ? {} : { id: page.end.id }) };
    let next: Position;
    let applied: readonly FeedEntry[] = [];
    if (gap) {
      const now = this.#now();
      this.deps.markStaleBefore(now);
      this.deps.metrics.changelogGaps.inc({ reason: gap });
      this.deps.log.warn({ reason: gap, had: known, log: page.log, first: page.first, end }, 'change log gap: everything held is revalidated before use');
      // Marking everything stale covers every change up to now: go on from the end.
      next = { log: page.log, ...end, staleBefore: now };
      this.#recent = [];
    } else if (!known) {
      // Nothing held: start at the end. A fill that began before this answer
      // and commits after it may hold bytes an entry replaced: doubt it too.
      const now = this.#now();
      this.deps.markStaleBefore(now);
      next = { log: page.log, ...end, staleBefore: now };
    } else {
      applied = page.entries.filter((e) => e.seq > known.seq);
      for (const e of applied) if (e.unusable) this.deps.log.warn({ id: e.id, seq: e.seq, reason: e.unusable }, 'change log entry ignored');
      const paths: string[] = [];
      const prefixes: string[] = [];
      // Per path, the ETag of the write that last replaced it here, if that was its last change.
      const replacedBy = new Map<string, string>();
      for (const e of applied) {
        const edgePath = e.unusable ? null : this.edgePath(e.path);
        if (edgePath === null) continue;
        (e.prefix ? prefixes : paths).push(edgePath);
        if (e.prefix) {
          for (const path of replacedBy.keys()) if (path.startsWith(edgePath)) replacedBy.delete(path);
        } else if (e.op === 'put' && e.etag !== undefined) replacedBy.set(edgePath, e.etag);
        else replacedBy.delete(edgePath);
      }
      if (paths.length || prefixes.length) this.deps.invalidate(paths, prefixes, replacedBy);
      const last = applied.at(-1);
      // An empty page short of the end: a relay had nothing there for this edge.
      const skipped = page.entries.length === 0 && known.seq < end.seq;
      next = last ? { ...known, seq: last.seq, ...(last.id === undefined ? {} : { id: last.id }) } : skipped ? { ...known, ...end } : known;
    }
    if (next.log !== known?.log || next.seq !== known.seq || next.id !== known.id || next.staleBefore !== known.staleBefore) this.#save(next);
    this.#position = next;
    const metrics = this.deps.metrics;
    metrics.changelogApplied.inc(applied.length);
    metrics.changelogPosition.set(next.seq);
    metrics.changelogLagEntries.set(Math.max(0, end.seq - next.seq));
    this.#behindSince = next.seq >= end.seq ? null : (applied.at(-1)?.time ?? this.#now());
    if (this.#behindSince === null) this.#doubt(false);
    if (applied.length) {
      this.#recent.push(...applied);
      if (this.#recent.length > RECENT_ENTRIES * 2) this.#recent.splice(0, this.#recent.length - RECENT_ENTRIES);
    }
    this.#wakeApplied();
  }
}
