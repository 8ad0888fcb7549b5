// The cache as the HTTP layer sees it: a key in, an Answer out. Looks in the
// index, serves fresh objects from memory or disk, revalidates stale ones,
// and sends misses to one coalesced fill. The sole user of store, index and
// fills.
import { Fills, etagOf, type Fill, type FillHead } from './fill.js';
import { HotObjects, storedCopy, type HotObject } from './hot.js';
import { keyPath } from './key.js';
import { CorruptObject, type Store } from './store.js';
import type { CacheIndex, IndexEntry } from './index.js';
import {
  closeQuietly, openEntry, passAnswer, readWhole, releaseCopy, storedAnswer, type Answer, type StoredCopy,
} from './answer.js';
import { Filler, type CacheEvents } from './filler.js';
import { storedHeaders } from './stored-headers.js';
import { currentAge, staleWindows, type FreshnessRules } from '../http/freshness.js';
import type { HeaderMap } from '../http/headers.js';
import { varySpec, type RequestHeaders, type VaryNormaliser } from '../http/vary.js';
import { primaryKey, variantKey } from './key.js';
import type { CacheStatusParts } from '../http/cache-status.js';
import { NotCached, OriginFailed } from '../errors.js';
import type { InterimListener, OriginFetcher } from '../origin-client.js';
import { Wakeup } from '../changelog/wakeup.js';

export type { Answer } from './answer.js';
export type { CacheEvents, OriginResult } from './filler.js';

const NO_VERSIONS: ReadonlyMap<string, string> = new Map();

export interface Lookup {
  /** The primary key, or, once the cache has chosen one, a variant's key beside it. */
  readonly key: string;
  /** What the origin is asked for: canonical path and query. */
  readonly target: string;
  /** The request headers a fill started by this request sends the origin. */
  readonly headers: HeaderMap;
  /** The client's own request headers, which select among a response's variants (Vary). */
  readonly request: RequestHeaders;
  /** Passes on the origin's interim (1xx) answers, when this request's fetch gets any. */
  readonly onInterim?: InterimListener;
  /** Only what is stored and may be served without asking upstream (Cache-Control: only-if-cached): else NotCached. */
  readonly onlyIfCached?: boolean;
  /** What another replica's answer left in memory does not answer: a copy asked to be kept (`--peer-copies 2`) must be on disk here. */
  readonly storedOnly?: boolean;
}

export interface CacheOptions {
  readonly rules: FreshnessRules;
  /** Larger objects are streamed through, never stored. */
  readonly maxObjectBytes: number;
  /** Memory for small hot objects; 0 serves every hit from disk. */
  readonly memoryBytes?: number;
  /** Normalisers of varied request headers beyond the built-in ones, by lower-case name. */
  readonly varyNormalisers?: Readonly<Record<string, VaryNormaliser>>;
  readonly now?: () => number;
}

/**
 * How long a copy held from before a start, whose revalidation failed, waits
 * for the change log's first answer before stale-if-error may serve it.
 */
const DOUBT_WAIT_MS = 1000;

export class Cache {
  readonly #fills = new Fills();
  readonly #hot: HotObjects;
  readonly #filler: Filler;
  readonly #now: () => number;
  /**
   * Objects received before this time (this cache's clock, ms) are not trusted
   * as fresh: a change log that lost track of changes marks everything held
   * then, and each is revalidated at its next use instead of being dropped.
   * The later of the lasting mark and the one held while catching up.
   */
  #staleBefore = Number.NEGATIVE_INFINITY;
  #markedStaleBefore = Number.NEGATIVE_INFINITY;
  #doubtedBefore = Number.NEGATIVE_INFINITY;
  /** Wakes the copies waiting for the doubt to be lifted. */
  readonly #undoubted = new Wakeup();

  constructor(
    private readonly store: Store,
    private readonly index: CacheIndex,
    origin: OriginFetcher,
    private readonly options: CacheOptions,
    private readonly events: CacheEvents = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#hot = new HotObjects(options.memoryBytes ?? 0);
    this.#filler = new Filler(store, index, this.#hot, origin, { ...options, now: this.#now }, events);
  }

  get fillsInProgress(): number {
    return this.#fills.size;
  }

  async get(asked: Lookup): Promise<Answer> {
    // An object without Vary sits under the primary key, as it always has;
    // only when there is none are the primary key's variants looked at.
    const entry = this.index.get(asked.key) ?? this.#variant(asked);
    const lookup = entry && entry.key !== asked.key ? { ...asked, key: entry.key } : asked;
    if (!entry && !asked.storedOnly) {
      // Another replica owns it: a copy held in memory serves while fresh, else the owner is asked.
      const borrowed = this.#fresh(this.#hot.borrowed(asked.key));
      if (borrowed) return storedAnswer(borrowed.object, borrowed.age, { hit: true, ttl: borrowed.ttl });
    }
    const stored = entry ? await this.#stored(entry) : null;
    if (!stored && asked.onlyIfCached) throw new NotCached();
    if (!stored) {
      // A fill that has every byte and is being committed, but is not fresh
      // enough to join, is about to be in the index: revalidate what it
      // stores rather than fetch it whole again.
      const committing = this.#fills.running(asked.key);
      if (committing?.committing && !committing.joinable(this.#now())) {
        await committing.done.catch(() => {});
        return this.get(asked);
      }
      return this.#miss(asked);
    }

    const now = this.#now();
    const age = currentAge(stored.meta.policy, now);
    const ttl = stored.meta.lifetimeSec - age;
    const doubted = stored.meta.policy.t < this.#staleBefore;
    if (ttl > 0 && !doubted) return storedAnswer(stored, age, { hit: true, ttl });
    if (asked.onlyIfCached) {
      releaseCopy(stored);
      throw new NotCached();
    }

    const windows = staleWindows(stored.headers, this.options.rules);
    const staleness = -ttl;
    if (!doubted && staleness < windows.whileRevalidateSec) {
      this.#revalidate(lookup, entry!, true).catch(() => {});
      this.events.staleServed?.('stale_while_revalidate');
      return storedAnswer(stored, age, { hit: true, ttl, detail: 'stale-while-revalidate' });
    }
    let head: FillHead;
    let fill: Fill;
    try {
      ({ fill, head } = await this.#revalidate(lookup, entry!, false));
    } catch (error) {
      // Held from before a start, a copy waits a moment for the change log to
      // say whether a write replaced it meanwhile. One an invalidation dropped
      // while the origin was asked never stands in: with no copy, the request
      // is asked again, as any other (an origin 5xx then passes through).
      if (stored.meta.policy.t < this.#doubtedBefore) await this.#undoubted.wait(DOUBT_WAIT_MS);
      if (this.index.peek(entry!.key) !== entry) {
        releaseCopy(stored);
        return this.get(asked);
      }
      if (staleness < windows.ifErrorSec) {
        this.events.staleServed?.('stale_if_error');
        const fwdStatus = error instanceof OriginFailed ? error.originStatus : undefined;
        return storedAnswer(stored, age, {
          fwd: 'stale', fwdStatus, hit: true, ttl, detail: 'stale-if-error',
        });
      }
      releaseCopy(stored);
      throw error;
    }
    releaseCopy(stored);
    return this.#fillAnswer(lookup, fill, head, { fwd: 'stale' });
  }

  /**
   * A fresh hit on an object held in memory, found without I/O or await, or
   * null for everything else (which get() answers).
   */
  hotHit(key: string): { object: HotObject; age: number; ttl: number } | null {
    const entry = this.index.get(key);
    return this.#fresh(entry ? this.#hot.get(entry.file) : this.#hot.borrowed(key));
  }

  /** An object held in memory with its age (whole seconds) and time to live, while it may be served without asking. */
  #fresh(hot: HotObject | undefined): { object: HotObject; age: number; ttl: number } | null {
    if (!hot) return null;
    const age = currentAge(hot.meta.policy, this.#now());
    const ttl = hot.meta.lifetimeSec - age;
    if (ttl <= 0 || hot.meta.policy.t < this.#staleBefore) return null;
    return { object: hot, age: Math.floor(age), ttl };
  }

  /** Straight to the origin and back, neither looked up, shared nor stored. */
  async pass(lookup: Lookup): Promise<Answer> {
    return passAnswer(await this.#filler.fetchAlone(lookup), { fwd: 'bypass', passed: true });
  }

  /**
   * Drops every copy of these canonical paths (each with every query) and of
   * everything under these prefixes: stored objects, and fills under way,
   * which are then neither joined nor stored, so that nothing fetched before
   * the invalidation is served as fresh after it. Returns how many copies.
   */
  invalidate(paths: readonly string[], prefixes: readonly string[], replacedBy: ReadonlyMap<string, string> = NO_VERSIONS): number {
    const named = new Set(paths);
    const underPrefix = (key: string) => prefixes.some((prefix) => keyPath(key).startsWith(prefix));
    // A copy of the very version that replaced the path (fetched before the change was heard of) is kept; under a prefix, none is.
    const replacement = (key: string) => (underPrefix(key) ? undefined : replacedBy.get(keyPath(key)));
    const isReplacement = (key: string, etag: string | undefined) => etag !== undefined && replacement(key) === etag;
    const matches = (key: string, fill: Fill) => (named.has(keyPath(key)) || underPrefix(key)) && !isReplacement(key, fill.etag);
    let dropped = this.#fills.invalidate(matches, replacement);
    dropped += this.#hot.dropBorrowed(paths, prefixes, (key, object) => isReplacement(key, etagOf(object.headers)));
    for (const path of paths) {
      for (const key of this.index.keysOfPath(path)) if (!isReplacement(key, this.#storedEtag(key)) && this.index.delete(key)) dropped++;
    }
    for (const prefix of prefixes) for (const key of this.index.keysWithPrefix(prefix)) if (this.index.delete(key)) dropped++;
    return dropped;
  }

  /** The ETag of a stored object held in memory; unknown (undefined) for one on disk only. */
  #storedEtag(key: string): string | undefined {
    const entry = this.index.peek(key);
    const copy = entry && this.#hot.peek(entry.file);
    return copy ? etagOf(copy.headers) : undefined;
  }

  /**
   * Resolves once what the invalidations so far dropped is gone from disk for
   * good: the fills they named done, the files removed and their directories
   * fsynced. A change-log position saved after it never outlives a purge it
   * counts, whatever the crash.
   */
  async purgesDurable(): Promise<void> {
    await this.#fills.invalidatedSettled();
    await this.store.removalsDurable();
  }

  /** Resolves once every fill under way has committed, been discarded, or failed. */
  async fillsSettled(): Promise<void> {
    await this.#fills.settled();
  }

  /**
   * Everything received before `time` is revalidated before it is served
   * again (stale-if-error still applies); nothing stored is dropped. Fills
   * under way are let go like an invalidation's, so no request joins bytes
   * fetched before the mark. Only ever moves forward.
   */
  markStaleBefore(time: number): void {
    this.#markedStaleBefore = Math.max(this.#markedStaleBefore, time);
    this.#staleBefore = Math.max(this.#markedStaleBefore, this.#doubtedBefore);
    this.#fills.invalidate(() => true);
  }

  /**
   * Like markStaleBefore, but lifted again (null): what was held before a
   * start is doubted until the change log has told what changed meanwhile.
   */
  doubtBefore(time: number | null): void {
    this.#doubtedBefore = time ?? Number.NEGATIVE_INFINITY;
    this.#staleBefore = Math.max(this.#markedStaleBefore, this.#doubtedBefore);
    if (time === null) this.#undoubted.wake();
  }

  /** Aborts fills under way (shutdown): their readers see an aborted body. */
  abortFills(): void {
    this.#fills.abortAll();
  }

  /** Drops a version's in-memory copy once the index lets go of its file. */
  forget(file: string): void {
    this.#hot.delete(file);
  }

  /** The stored variant of the asked primary key whose varied headers the request matches. */
  #variant(lookup: Lookup): IndexEntry | undefined {
    for (const names of this.index.variedNames(lookup.key)) {
      const entry = this.index.getVariant(this.#variantKey(lookup, names));
      if (entry) return entry;
    }
    return undefined;
  }

  #variantKey(lookup: Lookup, names: readonly string[]): string {
    return variantKey(primaryKey(lookup.key), names, varySpec(names, lookup.request, this.options.varyNormalisers));
  }

  /** The stored copy of an entry: from memory when hot, else opened on disk. */
  async #stored(entry: IndexEntry): Promise<StoredCopy | null> {
    const hot = this.#hot.get(entry.file);
    if (hot) return hot;
    const object = await openEntry(this.store, this.index, entry);
    if (!object || object.meta.bodyBytes > this.#hot.maxObjectBytes) {
      return object && { ...object, headers: storedHeaders(object.meta) };
    }
    try {
      const body = await readWhole(object);
      const copy = storedCopy(object.meta, body);
      this.#hot.set(entry.file, copy);
      return copy;
    } catch (error) {
      if (!(error instanceof CorruptObject)) throw error;
      this.index.deleteIfCurrent(entry);
      return null;
    } finally {
      closeQuietly(object.fd);
    }
  }

  async #miss(asked: Lookup): Promise<Answer> {
    // Where the primary key is known to vary, the fetch is coalesced with
    // requests for the same variant only.
    const [names] = this.index.variedNames(asked.key);
    const lookup = names ? { ...asked, key: this.#variantKey(asked, names) } : asked;
    // A fetch let go by a change may be bringing that change's version: if so it is joined.
    await this.#fills.awaitingReplacement(lookup.key)?.head.catch(() => {});
    const { fill, joined } = this.#join(lookup, null, true);
    const head = await fill.head;
    if (head.kind === 'body' && head.vary && joined) {
      // The response turned out to vary: a waiter that presents other values
      // for its headers fetches its own variant (RFC 9111 §4.1).
      const own = this.#variantKey(asked, head.vary);
      if (own !== head.key) return this.#ownVariant({ ...asked, key: own });
    }
    // Joined after the last byte arrived: served from what is stored, like a hit.
    const parts: CacheStatusParts = joined && fill.bodyComplete ? { hit: true } : { fwd: 'miss', collapsed: joined };
    return this.#fillAnswer(lookup, fill, head, parts);
  }

  /** A waiter's own variant, coalesced with others asking for it; shared with no one else. */
  async #ownVariant(lookup: Lookup): Promise<Answer> {
    const { fill, joined } = this.#join(lookup, null, true);
    const head = await fill.head;
    if (head.kind === 'body' && head.vary && head.key !== this.#variantKey(lookup, head.vary)) {
      // The origin changed what it varies on meanwhile: not shared at all.
      return this.pass(lookup);
    }
    const parts: CacheStatusParts = joined && fill.bodyComplete ? { hit: true } : { fwd: 'miss', collapsed: joined };
    return this.#fillAnswer(lookup, fill, head, parts);
  }

  #revalidate(lookup: Lookup, entry: IndexEntry, background: boolean): Promise<{ fill: Fill; head: FillHead }> {
    const { fill } = this.#join(lookup, entry, !background);
    return fill.head.then((head) => ({ fill, head }));
  }

  /** The fill for a key: the one under way, or a new one (a revalidation when `stale` is given). */
  #join(lookup: Lookup, stale: IndexEntry | null, counted: boolean): { fill: Fill; joined: boolean } {
    const joining = this.#fills.join(lookup.key, this.#now(), (f) => void this.#filler.run(f, lookup, stale));
    if (joining.joined && counted) this.events.coalesced?.();
    return joining;
  }

  async #fillAnswer(lookup: Lookup, fill: Fill, head: FillHead, parts: CacheStatusParts): Promise<Answer> {
    if (head.kind === 'pass') {
      const response = head.claim() ?? (await this.#filler.fetchAlone(lookup));
      return passAnswer(response, { ...parts, collapsed: false, detail: head.reason, passed: true });
    }
    // Joined after the last byte: a hit as old as the response is by now, the Age it came with included.
    const ttl = (head.freshUntil - this.#now()) / 1000;
    const status: CacheStatusParts = parts.hit
      ? { hit: true, ttl }
      : {
          ...parts,
          ...(head.revalidated ? { fwd: 'stale', fwdStatus: 304 } : head.status >= 500 ? { fwdStatus: head.status } : {}),
          stored: head.stored,
          ttl: head.stored ? head.lifetimeSec : undefined,
          detail: head.reason,
        };
    return {
      status: head.status,
      headers: head.headers,
      size: head.size,
      age: parts.hit ? Math.floor(head.lifetimeSec - ttl) : head.revalidated ? 0 : undefined,
      cacheStatus: status,
      rangeable: head.size !== undefined,
      body: (start, end) => fill.body(start, end),
      discard: () => {},
    };
  }
}
