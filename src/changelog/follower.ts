// The edge's side of the change log: long-polls the origin's log from the
// position after the last entry it applied, drops each entry's path through
// the purge mechanism, then saves the new position (in the background). At least once (a crash
// between purge and save replays entries; a purge twice is harmless), in
// order, at the edge's own pace. When the edge has lost track (its position
// was trimmed away, the log was reset or is behind it, or there is no
// position but the cache holds objects) everything held is marked stale,
// to be revalidated before it is served, and following resumes at the end.
// Nothing here is on a request's path: a log that is down costs retries, not
// latency.
import { Agent, request } from 'undici';
import type { FastifyBaseLogger } from 'fastify';
import type { ChangeEntry } from './log.js';
import { changesUrl, parseChangesPage, MAX_LIMIT, type ChangesPage } from './wire.js';
import { loadPosition, savePosition, type Position } from './position.js';
import type { Metrics, ChangelogState } from '../metrics.js';
import { CHANGELOG_STATES } from '../metrics.js';

export interface FollowerTiming {
  /** How long one long poll waits for a new entry. */
  readonly waitSec: number;
  /** How often an origin that serves no log is asked again. */
  readonly probeMs: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

export const DEFAULT_TIMING: FollowerTiming = { waitSec: 25, probeMs: 60_000, minBackoffMs: 250, maxBackoffMs: 30_000 };

export interface FollowerDeps {
  readonly origin: URL;
  readonly cacheDir: string;
  /** Drops every stored object of these canonical paths (the edge's purge). */
  purge(paths: readonly string[]): void;
  markStaleBefore(time: number): void;
  holdsObjects(): boolean;
  readonly metrics: Metrics;
  readonly log: FastifyBaseLogger;
  readonly userAgent: string;
  readonly now?: () => number;
  readonly timing?: Partial<FollowerTiming>;
}

type GapReason = 'trimmed' | 'reset' | 'ahead' | 'no_position';

/** Applied entries kept for edges below this one (see relay.ts). */
const RECENT_ENTRIES = 4096;

export class Follower {
  readonly #timing: FollowerTiming;
  readonly #now: () => number;
  readonly #agent: Agent;
  readonly #stop = new AbortController();
  #position: Position | null = null;
  #running: Promise<void> | null = null;
  /** Since when the edge may have missed changes; null while caught up and connected. */
  #behindSince: number | null = null;
  #upstreamFirst = 1;
  #recent: ChangeEntry[] = [];
  #appliedWaiters = new Set<() => void>();
  #unsaved: Position | null = null;
  #saving: Promise<void> | null = null;
  /** Whether the last poll was answered: the first after a start or a failure does not wait, so the state is known at once. */
  #answered = false;

  /** The log is the origin host's, at its root, whatever path prefix --origin has. */
  readonly #logBase: URL;
  readonly #prefix: string;

  constructor(private readonly deps: FollowerDeps) {
    this.#logBase = new URL('/', deps.origin);
    this.#prefix = deps.origin.pathname.replace(/\/+$/, '');
    this.#timing = { ...DEFAULT_TIMING, ...deps.timing };
    this.#now = deps.now ?? Date.now;
    // Its own connection: a long poll never holds one of the origin fetches' connections.
    this.#agent = new Agent({ connections: 2, headersTimeout: (this.#timing.waitSec + 15) * 1000, bodyTimeout: (this.#timing.waitSec + 15) * 1000 });
  }

  /** Reads the saved position and marks what it says is doubtful; before the edge serves. */
  async load(): Promise<void> {
    this.#position = await loadPosition(this.deps.cacheDir);
    if (this.#position?.staleBefore) this.deps.markStaleBefore(this.#position.staleBefore);
    if (this.#position) this.deps.metrics.changelogPosition.set(this.#position.seq);
  }

  start(): void {
    this.#behindSince = this.#now();
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wakeApplied();
    await this.#running;
    await this.#saving;
    await this.#agent.close();
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

  get upstreamFirst(): number {
    return this.#upstreamFirst;
  }

  get recent(): readonly ChangeEntry[] {
    return this.#recent;
  }

  /** Entries of the followed log, asked from upstream (for a relay reading older than `recent`). */
  async fetchPage(from: number, limit: number): Promise<ChangesPage> {
    const { statusCode, body } = await request(changesUrl(this.#logBase, { from, waitSec: 0, limit }), {
      dispatcher: this.#agent,
      headers: { 'user-agent': this.deps.userAgent },
      signal: this.#stop.signal,
    });
    if (statusCode !== 200) {
      await body.dump();
      throw new Error(`change log answered ${statusCode}`);
    }
    return parseChangesPage(await body.json());
  }

  /** Resolves when an entry after seq is applied, after ms, or on abort. */
  appliedBeyond(seq: number, ms: number, signal?: AbortSignal): Promise<void> {
    if ((this.#position?.seq ?? 0) > seq || signal?.aborted || this.#stop.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#appliedWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#appliedWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Saves a position in the background, the newest winning, so the next poll
   * does not wait for two fsyncs. Only applied entries are ever counted in
   * it: a crash before it is written replays them, and a gap not yet saved
   * is found again.
   */
  #save(position: Position): void {
    this.#unsaved = position;
    this.#saving ??= (async () => {
      try {
        for (let next = this.#unsaved; next; next = this.#unsaved) {
          this.#unsaved = null;
          await savePosition(this.deps.cacheDir, next);
        }
      } catch (error) {
        this.deps.log.error({ err: (error as Error).message }, 'change log position not saved');
      } finally {
        this.#saving = null;
      }
    })();
  }

  /**
   * An origin path as this edge's requests name it: with --origin
   * http://o/photos, the edge's /a.jpg is the origin's /photos/a.jpg. A
   * change outside the prefix is nothing this edge holds.
   */
  edgePath(originPath: string): string | null {
    if (this.#prefix === '') return originPath;
    return originPath.startsWith(`${this.#prefix}/`) ? originPath.slice(this.#prefix.length) : null;
  }

  #wakeApplied(): void {
    for (const wake of this.#appliedWaiters) wake();
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
        if (!reported) this.deps.log.warn({ err: (error as Error).message, origin: this.deps.origin.href }, 'change log unreachable; retrying');
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
    const from = this.#position ? this.#position.seq + 1 : 1;
    const waitSec = this.#answered ? this.#timing.waitSec : 0;
    this.#answered = false;
    const { statusCode, body } = await request(changesUrl(this.#logBase, { from, waitSec, limit: MAX_LIMIT }), {
      dispatcher: this.#agent,
      headers: { 'user-agent': this.deps.userAgent },
      signal: this.#stop.signal,
    });
    // A refusal (404 from most servers, 403 from S3 for a key that is not
    // there) means this origin keeps no log; a 5xx or a timeout, that it is in trouble.
    if ((statusCode >= 400 && statusCode < 500 && ![408, 425, 429].includes(statusCode)) || statusCode === 501) {
      await body.dump();
      return 'no_log';
    }
    if (statusCode !== 200) {
      await body.dump();
      throw new Error(`change log answered ${statusCode}`);
    }
    await this.#apply(parseChangesPage(await body.json()), from);
    this.#answered = true;
    return 'ok';
  }

  async #apply(page: ChangesPage, from: number): Promise<void> {
    const known = this.#position;
    const gap: GapReason | null =
      !known ? (this.deps.holdsObjects() ? 'no_position' : null)
      : known.log !== page.log ? 'reset'
      : from < page.first ? 'trimmed'
      : from > page.last + 1 ? 'ahead'
      : null;
    this.#upstreamFirst = page.first;
    let next: Position;
    let applied: readonly ChangeEntry[] = [];
    if (gap) {
      const now = this.#now();
      this.deps.markStaleBefore(now);
      this.deps.metrics.changelogGaps.inc({ reason: gap });
      this.deps.log.warn({ reason: gap, had: known, log: page.log, first: page.first, last: page.last }, 'change log gap: everything held is revalidated before use');
      // Marking everything stale covers every change up to now: go on from the end.
      next = { log: page.log, seq: page.last, staleBefore: now };
      this.#recent = [];
    } else if (!known) {
      // Nothing held: start at the end. A fill that began before this answer
      // and commits after it may hold bytes an entry replaced: doubt it too.
      const now = this.#now();
      this.deps.markStaleBefore(now);
      next = { log: page.log, seq: page.last, staleBefore: now };
    } else {
      applied = page.entries.filter((e) => e.seq > known.seq);
      const paths = applied.map((e) => this.edgePath(e.path)).filter((p): p is string => p !== null);
      if (paths.length) this.deps.purge(paths);
      // An empty page short of the end: a relay had nothing there for this edge.
      const skipped = page.entries.length === 0 && from <= page.last ? page.last : known.seq;
      next = { ...known, seq: applied.at(-1)?.seq ?? skipped };
    }
    if (next.log !== known?.log || next.seq !== known.seq || next.staleBefore !== known.staleBefore) this.#save(next);
    this.#position = next;
    const metrics = this.deps.metrics;
    metrics.changelogApplied.inc(applied.length);
    metrics.changelogPosition.set(next.seq);
    metrics.changelogLagEntries.set(Math.max(0, page.last - next.seq));
    this.#behindSince = next.seq >= page.last ? null : (applied.at(-1)?.time ?? this.#now());
    if (applied.length) {
      this.#recent.push(...applied);
      if (this.#recent.length > RECENT_ENTRIES * 2) this.#recent.splice(0, this.#recent.length - RECENT_ENTRIES);
    }
    this.#wakeApplied();
  }
}
