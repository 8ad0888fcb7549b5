// One origin fetch per key. Everyone who asks while it runs joins the Fill,
// not a promise of the whole body: each waiter gets the head as soon as the
// origin sends it, then reads the file from byte 0 as it grows, late joiners
// too. A fill that fails fails every reader, so no one gets a short body that
// looks complete.
import { BodyWriter, type BodySource } from './body-writer.js';
import { closeFd, readInto } from './store.js';
import type { HeaderMap } from '../http/headers.js';
import type { OriginResponse } from '../origin-client.js';

/** What the origin's answer turned out to be, as the waiters need it. */
export type FillHead =
  | {
      readonly kind: 'body';
      readonly status: number;
      readonly headers: HeaderMap;
      /** Body length when known (Content-Length, or the stored object's). */
      readonly size: number | undefined;
      readonly stored: boolean;
      /** The origin said 304: the body is the stored one, the headers refreshed. */
      readonly revalidated: boolean;
      readonly lifetimeSec: number;
      /** The key it is stored under: the primary key, or a variant's when it varies. */
      readonly key: string;
      /** The request headers it varies on (Vary), or null. */
      readonly vary: readonly string[] | null;
      /** Until when (ms) a request arriving now may reuse it: never, unless stored and fresh. */
      readonly freshUntil: number;
      readonly reason?: string;
    }
  | {
      /** Not to be shared (private, Set-Cookie, Vary, too large): each waiter asks the origin itself. */
      readonly kind: 'pass';
      readonly reason: string;
      /** The origin response, for the first caller only; later callers get null. */
      claim(): OriginResponse | null;
    };

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A fill nobody waits on must not become an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** A strong ETag, the only kind that names one version's bytes. */
export function etagOf(headers: Readonly<HeaderMap>): string | undefined {
  const etag = headers.etag;
  return typeof etag === 'string' && etag.startsWith('"') ? etag : undefined;
}

/** How much of the latest body a fill keeps in memory for readers at the tip. */
const RECENT_BYTES = 1024 * 1024;

export class Fill {
  readonly #head = deferred<FillHead>();
  readonly #done = deferred<void>();
  readonly abort = new AbortController();
  #fd: number | null = null;
  #bodyOffset = 0;
  /** Body bytes received, whether or not they are on disk yet. */
  #available = 0;
  /** Body bytes written to the file. */
  #onDisk = 0;
  /**
   * The latest chunks, in order, so readers at the tip take them from here
   * instead of reading the file back. Every byte not yet on disk is here.
   */
  readonly #recent: Array<{ readonly start: number; readonly chunk: Buffer }> = [];
  #recentBytes = 0;
  #complete = false;
  #finished = false;
  #failure: Error | null = null;
  #changed: Deferred<void> | null = null;
  #joinableUntil = Number.POSITIVE_INFINITY;
  #invalidated = false;
  #storing = false;
  #size: number | undefined;
  #etag: string | undefined;
  #announced = false;
  /** The ETag of the version an invalidation said replaced this key, while the head is awaited. */
  #replacement: string | undefined;
  /** The writer holds one reference; each reader one more. The fd closes at zero. */
  #refs = 1;

  get head(): Promise<FillHead> {
    return this.#head.promise;
  }

  /** Settles when the body is complete (and stored, when storable), or failed. */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** Committed (or discarded) or failed: nothing more will happen to it. */
  get settled(): boolean {
    return this.#finished || this.#failure !== null;
  }

  /**
   * Every body byte has arrived, though it may not be committed yet: a reader
   * of a known length has already ended, so a request now is answered as a hit.
   */
  get bodyComplete(): boolean {
    return this.#complete || (this.#size !== undefined && this.#available >= this.#size);
  }

  /**
   * Every body byte has arrived and the object is being written and
   * committed: a request that may not join it (not fresh) finds it in the
   * index once done.
   */
  get committing(): boolean {
    return this.bodyComplete && !this.settled && this.#storing;
  }

  /** The file the body is being written into (or, revalidated, the stored one). */
  attach(fd: number, bodyOffset: number): void {
    this.#fd = fd;
    this.#bodyOffset = bodyOffset;
  }

  /**
   * A purge (or a change) named this fill's key after it began: its bytes may
   * be the old ones, so it is never joined again nor stored. Those already
   * reading it asked before the invalidation and read on. When the change
   * named the version that replaced the key (its strong ETag) and the head
   * is yet to come, a head with that ETag is that version: it is stored.
   */
  invalidate(replacement?: string): void {
    // Only the latest change counts, and a change that named no version (a purge) for good.
    this.#replacement = this.#invalidated && this.#replacement === undefined ? undefined : replacement;
    this.#invalidated = true;
    this.#storing = false;
    this.#joinableUntil = Number.NEGATIVE_INFINITY;
  }

  get invalidated(): boolean {
    return this.#invalidated;
  }

  get awaitingHead(): boolean {
    return !this.#announced && this.#failure === null;
  }

  /** The ETag of the body this fill brings, once its head is known. */
  get etag(): string | undefined {
    return this.#etag;
  }

  announce(head: FillHead): void {
    if (this.#invalidated && this.#replacement !== undefined && head.kind === 'body' && etagOf(head.headers) === this.#replacement) {
      this.#invalidated = false;
    }
    this.#announced = true;
    if (this.#invalidated) head = head.kind === 'body' ? { ...head, stored: false, freshUntil: Number.NEGATIVE_INFINITY } : head;
    this.#storing = head.kind === 'body' && head.stored;
    this.#joinableUntil = head.kind === 'body' ? head.freshUntil : Number.NEGATIVE_INFINITY;
    this.#size = head.kind === 'body' ? head.size : undefined;
    this.#etag = head.kind === 'body' ? etagOf(head.headers) : undefined;
    this.#head.resolve(head);
  }

  /**
   * Whether a request arriving at `now` may wait on this fill. Before the
   * head, anyone may (that is the coalescing); after it, only while the
   * response is stored and fresh, as a hit would be (RFC 9111 §4).
   */
  joinable(now: number): boolean {
    return !this.settled && now < this.#joinableUntil;
  }

  /** A chunk arrived from the origin: readers may take it before it is written. */
  received(chunk: Buffer): void {
    this.#recent.push({ start: this.#available, chunk });
    this.#recentBytes += chunk.length;
    this.#available += chunk.length;
    this.#notify();
  }

  /** The whole body, when every byte of it is still held in memory (a small one), else null. */
  wholeBody(): Buffer | null {
    const first = this.#recent[0];
    if (first ? first.start !== 0 : this.#available !== 0) return null;
    return Buffer.concat(this.#recent.map((r) => r.chunk), this.#available);
  }

  /** The body is on disk up to `bytes`; chunks held for readers beyond the budget go. */
  written(bytes: number): void {
    this.#onDisk = bytes;
    while (this.#recentBytes > RECENT_BYTES && this.#recent.length > 1) {
      const oldest = this.#recent[0]!;
      if (oldest.start + oldest.chunk.length > this.#onDisk) break;
      this.#recent.shift();
      this.#recentBytes -= oldest.chunk.length;
    }
  }

  /** A body already on disk in full (a 304 refresh serves the stored file). */
  stored(bytes: number): void {
    this.#available = bytes;
    this.#onDisk = bytes;
    this.#notify();
  }

  /**
   * The whole body is written and its length checked: readers may end. The
   * commit (fsync, rename) follows; a client need not wait for it.
   */
  complete(): void {
    this.#complete = true;
    this.#notify();
  }

  finish(): void {
    this.complete();
    this.#finished = true;
    this.#done.resolve();
  }

  fail(error: Error): void {
    if (this.settled || this.#complete) {
      this.#done.reject(error);
      return;
    }
    this.#failure = error;
    this.#head.reject(error);
    this.#notify();
    this.#done.reject(error);
  }

  /** The writer is done with the file; it closes once the readers are too. */
  releaseWriter(): void {
    this.#release();
  }

  /** A writer of [start, end) of the body to one client, following the fill. */
  body(start = 0, end?: number): BodyWriter {
    this.#refs++;
    const fill = this;
    const source: BodySource = {
      available: () => fill.#available,
      complete: () => fill.#complete,
      failure: () => fill.#failure,
      changed: () => (fill.#changed ??= deferred<void>()).promise,
      inMemory: (position, limit) => fill.#inMemory(position, limit),
      readFile: (buf, length, position) => {
        // Everything not on disk is in #recent, so a read that gets here starts
        // on disk (of a fill that has a file) and stops where the disk does.
        return readInto(fill.#fd!, buf, Math.min(length, fill.#onDisk - position), fill.#bodyOffset + position);
      },
      release: () => fill.#release(),
    };
    return new BodyWriter(source, start, end);
  }

  #inMemory(position: number, limit: number): Buffer | null {
    const recent = this.#recent;
    // Readers are nearly always at the tip: search from the newest chunk. A
    // reader never asks past the bytes received, so the chunk found holds `position`.
    for (let i = recent.length - 1; i >= 0; i--) {
      const { start, chunk } = recent[i]!;
      if (position >= start) return chunk.subarray(position - start, Math.min(chunk.length, limit - start));
    }
    return null;
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = null;
    changed?.resolve();
  }

  #release(): void {
    if (--this.#refs > 0 || this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    void closeFd(fd).catch(() => {});
  }
}

/** The fills under way, by key. */
export class Fills {
  readonly #active = new Map<string, Fill>();
  /**
   * Fills let go by an invalidation that named the version replacing their
   * key before their head came: they may still turn out to be that version
   * and be stored, so later invalidations reach them too.
   */
  readonly #letGo = new Map<Fill, string>();
  /** Fills an invalidation named, until done. */
  readonly #invalidatedFills = new Set<Fill>();

  /** The running fill for `key` if it may be joined at `now`, or a new one from `start`. */
  join(key: string, now: number, start: (fill: Fill) => void): { fill: Fill; joined: boolean } {
    const running = this.#active.get(key);
    if (running?.joinable(now)) {
      return { fill: running, joined: true };
    }
    const fill = new Fill();
    this.#active.set(key, fill);
    // Forget it once settled, so the next request finds the index or starts afresh.
    void fill.done
      .catch(() => {})
      .finally(() => {
        if (this.#active.get(key) === fill) this.#active.delete(key);
      });
    start(fill);
    return { fill, joined: false };
  }

  /**
   * A fill of `key` let go by a change that named the version replacing it,
   * its head still to come: a request may wait for that head rather than
   * fetch the same version again beside it.
   */
  awaitingReplacement(key: string): Fill | undefined {
    for (const [fill, of] of this.#letGo) if (of === key && fill.awaitingHead && fill.invalidated) return fill;
    return undefined;
  }

  /** The fill under way for `key`, if any. */
  running(key: string): Fill | undefined {
    return this.#active.get(key);
  }

  get size(): number {
    return this.#active.size;
  }

  /** Invalidates every fill under way that `matches` (with the version that replaced its key, if known), and lets go of it; returns how many. */
  invalidate(matches: (key: string, fill: Fill) => boolean, replacementOf: (key: string) => string | undefined = () => undefined): number {
    for (const [fill, key] of this.#letGo) if (matches(key, fill)) this.#invalidate(fill, replacementOf(key));
    let count = 0;
    for (const [key, fill] of this.#active) {
      if (!matches(key, fill)) continue;
      const replacement = replacementOf(key);
      this.#invalidate(fill, replacement);
      this.#active.delete(key);
      if (replacement !== undefined) {
        this.#letGo.set(fill, key);
        void fill.done.catch(() => {}).finally(() => this.#letGo.delete(fill));
        // The new version after all: joined again, as if never let go.
        void fill.head.then(() => {
          if (!fill.invalidated && !this.#active.has(key)) this.#active.set(key, fill);
        }, () => {});
      }
      count++;
    }
    return count;
  }

  #invalidate(fill: Fill, replacement: string | undefined): void {
    fill.invalidate(replacement);
    if (this.#invalidatedFills.has(fill)) return;
    this.#invalidatedFills.add(fill);
    void fill.done.catch(() => {}).finally(() => this.#invalidatedFills.delete(fill));
  }

  /** Resolves once every fill invalidated so far is done: one that committed meanwhile has removed its file again. */
  async invalidatedSettled(): Promise<void> {
    await Promise.allSettled([...this.#invalidatedFills].map((fill) => fill.done));
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.#active.values(), ...this.#letGo.keys()].map((fill) => fill.done));
  }

  abortAll(): void {
    for (const fill of [...this.#active.values(), ...this.#letGo.keys()]) fill.abort.abort();
  }
}
