// The origin side of the cache: the one fetch of a fill, written to a temp
// file as it arrives and committed when it may be stored; a 304 refreshing a
// stored object; and fetches of one's own for answers that may not be shared.
import type CachePolicy from 'http-cache-semantics';
import type { Fill } from './fill.js';
import { derivedParts, objectFileName, keyHash, primaryKey, variantKey, variantNames } from './key.js';
import { varyNames, varySpec, type VaryNormaliser } from '../http/vary.js';
import { readInto, CorruptObject, type Store, type ObjectMeta, type OpenObject, type TempObject } from './store.js';
import type { CacheIndex, IndexEntry } from './index.js';
import { storedCopy, type HotObjects } from './hot.js';
import { closeQuietly, openEntry } from './answer.js';
import { contentLength, refreshedHeaders, storableHeaders, storedHeaders, validators } from './stored-headers.js';
import { currentAge, decideStore, policyFor, privateReason, staleWindows, type FreshnessRules } from '../http/freshness.js';
import type { HeaderMap } from '../http/headers.js';
import { OriginFailed, OriginBodyBroken, StorageFailed, type ImgedgeError } from '../errors.js';
import { abandonedByUs, originError, type OriginFetcher, type OriginResponse } from '../origin-client.js';
import type { Lookup } from './cache.js';

export type OriginResult =
  | 'ok' | 'not_modified' | 'client_error' | 'server_error' | 'timeout' | 'unavailable' | 'broken' | 'storage_error';

export interface CacheEvents {
  originStarted?(): void;
  originFinished?(result: OriginResult, seconds: number): void;
  coalesced?(): void;
  staleServed?(reason: 'stale_while_revalidate' | 'stale_if_error'): void;
  /** An object fetched here (not a peer's answer, nor a copy) was stored whole under `target`'s own key. */
  stored?(target: string): void;
}

const NO_EVENTS: CacheEvents = {};

function resultOf(status: number): OriginResult {
  if (status === 304) return 'not_modified';
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  return 'ok';
}

function errorResult(error: ImgedgeError): OriginResult {
  if (error.code === 'ORIGIN_TIMEOUT') return 'timeout';
  if (error.code === 'ORIGIN_BODY_BROKEN') return 'broken';
  if (error.code === 'ORIGIN_ERROR') return 'server_error';
  if (error.code === 'STORAGE_ERROR') return 'storage_error';
  return 'unavailable';
}

export interface FillerOptions {
  readonly rules: FreshnessRules;
  /** Larger objects are streamed through, never stored. */
  readonly maxObjectBytes: number;
  readonly now: () => number;
  readonly varyNormalisers?: Readonly<Record<string, VaryNormaliser>>;
}

export class Filler {
  constructor(
    private readonly store: Store,
    private readonly index: CacheIndex,
    private readonly hot: HotObjects,
    private readonly origin: OriginFetcher,
    private readonly options: FillerOptions,
    private readonly events: CacheEvents,
  ) {}

  /**
   * The origin events of a fetch: none for an image variant's, which reads
   * its source through the cache (that read, if it misses, is the origin fetch).
   */
  #eventsFor(lookup: Lookup): CacheEvents {
    return derivedParts(lookup.target) ? NO_EVENTS : this.events;
  }

  /** An origin fetch of one's own, for a response that may not be shared. */
  async fetchAlone(lookup: Lookup): Promise<OriginResponse> {
    const started = this.options.now();
    const events = this.#eventsFor(lookup);
    events.originStarted?.();
    try {
      const response = await this.origin.fetch(lookup.target, lookup.headers, undefined, lookup.onInterim);
      let result = resultOf(response.status);
      response.body.once('error', (error) => {
        if (!abandonedByUs(error)) result = errorResult(originError(error));
      });
      response.body.once('close', () => events.originFinished?.(result, (this.options.now() - started) / 1000));
      return response;
    } catch (error) {
      const typed = originError(error);
      events.originFinished?.(errorResult(typed), (this.options.now() - started) / 1000);
      throw typed;
    }
  }

  /** The one origin fetch of a fill: writes the body to a temp file, then stores it if it may. */
  async run(fill: Fill, lookup: Lookup, staleEntry: IndexEntry | null): Promise<void> {
    const started = this.options.now();
    let stale: OpenObject | null = null;
    let result: OriginResult = 'unavailable';
    const events = this.#eventsFor(lookup);
    events.originStarted?.();
    try {
      stale = staleEntry ? await openEntry(this.store, this.index, staleEntry) : null;
      const headers = stale ? { ...lookup.headers, ...validators(stale.meta) } : lookup.headers;
      // Interim answers go to the request that started the fetch, and are never stored.
      const response = await this.origin.fetch(lookup.target, headers, fill.abort.signal, lookup.onInterim);
      result = resultOf(response.status);
      if (response.status === 304 && stale) {
        response.body.resume();
        const refreshed = stale;
        stale = null; // the fill owns its fd now
        await this.#refresh(fill, lookup, staleEntry!, refreshed, response.headers);
        return;
      }
      // A stored copy within its stale-if-error window comes first: the
      // revalidation fails, and every waiter serves the copy it holds.
      // Without one, the origin's 5xx is an answer like any other.
      if (response.status >= 500 && stale && this.#mayStandIn(stale.meta)) {
        response.body.resume();
        throw new OriginFailed(response.status);
      }
      await this.#receive(fill, lookup, response);
    } catch (error) {
      const typed = originError(error);
      result = errorResult(typed);
      fill.fail(typed);
    } finally {
      if (stale) closeQuietly(stale.fd);
      fill.releaseWriter();
      events.originFinished?.(result, (this.options.now() - started) / 1000);
    }
  }

  /** Whether a stored copy may be served in place of an origin failure (RFC 5861 §4). */
  #mayStandIn(meta: ObjectMeta): boolean {
    const staleness = currentAge(meta.policy, this.options.now()) - meta.lifetimeSec;
    return staleness < staleWindows(storedHeaders(meta), this.options.rules).ifErrorSec;
  }

  /** Streams a fresh origin response into a temp file, and commits it when it may be stored. */
  async #receive(fill: Fill, lookup: Lookup, response: OriginResponse): Promise<void> {
    const now = this.options.now();
    const headers = storableHeaders(response.headers);
    // Only the policy's record of the response is read: the request is the library's default (GET).
    const policy = policyFor({ url: lookup.target, headers: {} }, { status: response.status, headers }, now);
    const decision = decideStore(response.status, response.headers, this.options.rules, now);
    const length = contentLength(response.headers);
    const unshareable = privateReason(response.headers, response.status);
    const tooLarge = length !== undefined && length > this.options.maxObjectBytes;
    if (unshareable || tooLarge) {
      let claimed = false;
      fill.announce({
        kind: 'pass',
        reason: unshareable ?? 'too-large',
        claim: () => (claimed ? null : ((claimed = true), response)),
      });
      // Hold the fill open until the claimant has the whole body, so that
      // the fetch's duration and result are what it was.
      await new Promise<void>((resolve) => {
        response.body.once('close', resolve);
        setImmediate(() => {
          if (!claimed) response.body.destroy();
        });
      });
      fill.finish();
      return;
    }

    let store = decision.store;
    // A response that varies is stored beside the primary key, under the
    // values this request presented for the headers it varies on.
    const vary = varyNames(response.headers);
    const names = vary === '*' ? null : vary;
    const primary = primaryKey(lookup.key);
    const key = names ? variantKey(primary, names, varySpec(names, lookup.request, this.options.varyNormalisers)) : primary;
    // What the key's owner answered is on disk there, once per IDC: here it
    // is kept in memory when small enough, else streamed through each time.
    const borrow = response.fromPeer === true && store && names === null && length !== undefined && this.hot.holds(length);
    if (response.fromPeer && !borrow) store = false;
    const meta: ObjectMeta = {
      v: 1, key, status: response.status, lifetimeSec: decision.lifetimeSec,
      policy: policy.toObject(), bodyBytes: 0,
    };
    // Body bytes that came in with the head go out with it: in a stampede,
    // each waiter's first write then carries body, not the head alone.
    const withHead = response.body.readableLength > 0 ? (response.body.read() as Buffer | null) : null;
    if (withHead) fill.received(withHead);
    // The head goes out now, and the first chunks go to readers from memory:
    // the temp file is opened alongside, never in front of them.
    fill.announce({
      kind: 'body', status: response.status, headers, size: length, stored: store, revalidated: false,
      lifetimeSec: decision.lifetimeSec, key, vary: names, freshUntil: freshUntil(store, decision.lifetimeSec, policy, now), reason: decision.reason,
    });
    if (borrow) {
      await this.#borrow(fill, response, meta, length);
      return;
    }
    const slot: { temp?: TempObject; attached: boolean; committed: boolean } = { attached: false, committed: false };
    const opening = (async () => {
      const temp = await this.store.createTemp();
      slot.temp = temp;
      temp.reserveHeader(meta);
      fill.attach(temp.fd, temp.bodyOffset);
      slot.attached = true;
      return temp;
    })();
    opening.catch(() => {});
    try {
      let written = 0;
      const write = async (chunk: Buffer) => {
        const temp = await opening;
        await temp.writeBody(chunk, written);
        written += chunk.length;
        fill.written(written);
        // Only a body of unknown length can get here: it is still served, not kept.
        if (written > this.options.maxObjectBytes) store = false;
      };
      if (withHead) await write(withHead);
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        fill.received(chunk);
        await write(chunk);
      }
      // undici refuses an HTTP body of the wrong length before this (test/e2e/short-body.test.ts);
      // any other fetcher is held to its Content-Length here (test/cache/cache-fills.test.ts).
      if (length !== undefined && written !== length) throw new OriginBodyBroken(`${written} of ${length} bytes`);
      const temp = await opening;
      fill.complete();
      if (store) {
        // A small body is still whole in memory: the first hits after the commit need no disk read.
        await this.#keep(fill, temp, { ...meta, bodyBytes: written }, this.hot.holds(written) ? fill.wholeBody() : null);
        slot.committed = true;
        if (response.status === 200 && !response.fromPeer && !response.copied && names === null && !fill.invalidated) this.#eventsFor(lookup).stored?.(lookup.target);
      }
      fill.finish();
    } finally {
      await opening.catch(() => {});
      // The fill closes the fd once its readers are done; unattached, it is ours.
      if (slot.temp && !slot.attached) closeQuietly(slot.temp.fd);
      if (slot.temp && !slot.committed) await slot.temp.discard().catch(() => {});
    }
  }

  /** An object another replica owns and stores, kept whole in memory here, never on disk. */
  async #borrow(fill: Fill, response: OriginResponse, meta: ObjectMeta, length: number): Promise<void> {
    for await (const chunk of response.body as AsyncIterable<Buffer>) fill.received(chunk);
    // Whole, never null: a borrowed body is not written to a file, so the fill lets go of none of it.
    const body = fill.wholeBody()!;
    if (body.length !== length) throw new OriginBodyBroken(`${body.length} of ${length} bytes`);
    fill.complete();
    if (!fill.invalidated) {
      const kept: ObjectMeta = { ...meta, bodyBytes: body.length };
      // A copy stored while this replica owned the key is superseded.
      this.index.delete(kept.key);
      this.hot.keepBorrowed(kept.key, storedCopy(kept, body));
    }
    fill.finish();
  }

  /** A 304: the stored body with refreshed headers, rewritten as a new version. */
  async #refresh(fill: Fill, lookup: Lookup, entry: IndexEntry, stale: OpenObject, notModified: HeaderMap): Promise<void> {
    const headers = refreshedHeaders(storedHeaders(stale.meta), notModified);
    const now = this.options.now();
    const policy = policyFor({ url: lookup.target, headers: {} }, { status: stale.meta.status, headers }, now);
    const surrogate = notModified['surrogate-control'];
    const decision = decideStore(stale.meta.status, surrogate ? { ...headers, 'surrogate-control': surrogate } : headers, this.options.rules, now);
    const meta: ObjectMeta = { ...stale.meta, policy: policy.toObject(), lifetimeSec: decision.lifetimeSec };
    fill.attach(stale.fd, stale.bodyOffset);
    fill.stored(stale.meta.bodyBytes);
    fill.announce({
      kind: 'body', status: stale.meta.status, headers: storedHeaders(meta), size: stale.meta.bodyBytes,
      stored: decision.store, revalidated: true, lifetimeSec: decision.lifetimeSec,
      key: stale.meta.key, vary: variantNames(stale.meta.key),
      freshUntil: freshUntil(decision.store, decision.lifetimeSec, policy, now), reason: decision.reason,
    });
    if (!decision.store) this.index.deleteIfCurrent(entry);
    else {
      try {
        await this.#rewrite(fill, stale, meta);
      } catch (error) {
        if (!(error instanceof CorruptObject)) throw error;
        // A file shorter than its record can never be served whole: it goes, and the next request fetches anew.
        this.index.deleteIfCurrent(entry);
        throw new StorageFailed(error.message);
      }
    }
    fill.finish();
  }

  /**
   * Commits a whole object under a new version name and records it in the
   * index, unless an invalidation named it meanwhile (then the temp file or
   * the committed one is deleted): checked again after the commit's last
   * await, so none can slip in between the check and the index. A body
   * given is held in memory under the new version's name.
   */
  async #keep(fill: Fill, temp: TempObject, meta: ObjectMeta, body: Buffer | null = null): Promise<void> {
    if (fill.invalidated) {
      await temp.discard();
      return;
    }
    const file = objectFileName(keyHash(meta.key));
    await temp.commit(meta, file);
    if (fill.invalidated) {
      await this.store.remove(file);
      return;
    }
    this.index.set({ key: meta.key, file, size: temp.bodyOffset + meta.bodyBytes });
    this.hot.dropBorrowedKey(meta.key);
    if (body && this.index.peek(meta.key)?.file === file) this.hot.set(file, storedCopy(meta, body));
  }

  async #rewrite(fill: Fill, stale: OpenObject, meta: ObjectMeta): Promise<void> {
    const temp = await this.store.createTemp();
    try {
      temp.reserveHeader(meta);
      const buf = Buffer.allocUnsafe(256 * 1024);
      for (let at = 0; at < meta.bodyBytes; ) {
        const n = await readInto(stale.fd, buf, Math.min(buf.length, meta.bodyBytes - at), stale.bodyOffset + at);
        if (n === 0) throw new CorruptObject('short body while refreshing');
        await temp.writeBody(buf.subarray(0, n), at);
        at += n;
      }
      await this.#keep(fill, temp, meta);
    } catch (error) {
      await temp.discard().catch(() => {});
      throw error;
    } finally {
      closeQuietly(temp.fd);
    }
  }
}

/** Until when a response just received may be reused: never unless stored. */
function freshUntil(stored: boolean, lifetimeSec: number, policy: CachePolicy, now: number): number {
  if (!stored) return Number.NEGATIVE_INFINITY;
  return now + (lifetimeSec - currentAge(policy.toObject(), now)) * 1000;
}
