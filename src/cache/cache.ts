// The cache as the HTTP layer sees it: a key in, an Answer out. Looks in the
// index, serves fresh objects from disk, revalidates stale ones, and sends
// misses to one coalesced fill. The sole user of store, index and fills.
import type { Readable } from 'node:stream';
import type CachePolicy from 'http-cache-semantics';
import { Fills, type Fill, type FillHead } from './fill.js';
import { BodyReader } from './reader.js';
import { HotObjects, hotObject, type HotObject } from './hot.js';
import { objectFileName, keyHash } from './key.js';
import { closeFd, readInto, CorruptObject, type Store, type ObjectMeta, type OpenObject, type TempObject } from './store.js';
import type { CacheIndex, IndexEntry } from './index.js';
import {
  currentAge, decideStore, policyFor, privateReason, staleWindows, type FreshnessRules, type StoreDecision,
} from '../http/freshness.js';
import type { HeaderMap } from '../http/headers.js';
import type { CacheStatusParts } from '../http/cache-status.js';
import { OriginFailed, OriginBodyBroken, type ImgedgeError } from '../errors.js';
import { originError, type OriginFetcher, type OriginResponse } from '../origin-client.js';

export interface Lookup {
  readonly key: string;
  /** What the origin is asked for: canonical path and query. */
  readonly target: string;
  /** The request headers a fill started by this request sends the origin. */
  readonly headers: HeaderMap;
}

/** One response the cache can give, whatever it came from. Exactly one of body() or discard() is called. */
export interface Answer {
  readonly status: number;
  /** Stored or origin headers to send, without Content-Length or Age. */
  readonly headers: HeaderMap;
  readonly size: number | undefined;
  /** Age in seconds, when the response comes from storage. */
  readonly age: number | undefined;
  readonly cacheStatus: CacheStatusParts;
  /** Set-Cookie fields of a response passed through unshared. */
  readonly setCookie?: readonly string[];
  /** Whether body() can give a slice. */
  readonly rangeable: boolean;
  /** The body, or the slice [start, end). */
  body(start?: number, end?: number): Readable | Buffer;
  discard(): void;
}

export interface CacheOptions {
  readonly rules: FreshnessRules;
  /** Larger objects are streamed through, never stored. */
  readonly maxObjectBytes: number;
  /** Memory for small hot objects; 0 serves every hit from disk. */
  readonly memoryBytes?: number;
  readonly now?: () => number;
}

export type OriginResult =
  | 'ok' | 'not_modified' | 'client_error' | 'server_error' | 'timeout' | 'unavailable' | 'broken' | 'storage_error';

export interface CacheEvents {
  originStarted?(): void;
  originFinished?(result: OriginResult, seconds: number): void;
  coalesced?(): void;
  staleServed?(reason: 'stale_while_revalidate' | 'stale_if_error'): void;
}

// RFC 9110 §7.6.1 and RFC 9111 §3.1: never stored, never replayed.
const UNSTORED_HEADERS = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'set-cookie', 'cache-status',
  'surrogate-control',
]);

export function storableHeaders(headers: HeaderMap): HeaderMap {
  const connectionTokens = (headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
  const kept: HeaderMap = {};
  for (const [name, value] of Object.entries(headers)) {
    if (UNSTORED_HEADERS.has(name) || connectionTokens.includes(name)) continue;
    kept[name] = value;
  }
  return kept;
}

function contentLength(headers: HeaderMap): number | undefined {
  const raw = headers['content-length'];
  return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

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

export class Cache {
  readonly #fills = new Fills();
  readonly #hot: HotObjects;
  readonly #now: () => number;

  constructor(
    private readonly store: Store,
    private readonly index: CacheIndex,
    private readonly origin: OriginFetcher,
    private readonly options: CacheOptions,
    private readonly events: CacheEvents = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#hot = new HotObjects(options.memoryBytes ?? 0);
  }

  get fillsInProgress(): number {
    return this.#fills.size;
  }

  async get(lookup: Lookup): Promise<Answer> {
    const entry = this.index.get(lookup.key);
    const stored = entry ? await this.#stored(entry) : null;
    if (!stored) return this.#miss(lookup);

    const now = this.#now();
    const age = currentAge(stored.meta.policy, now);
    const ttl = stored.meta.lifetimeSec - age;
    if (ttl > 0) return storedAnswer(stored, age, { hit: true, ttl });

    const windows = staleWindows(stored.headers, this.options.rules);
    const staleness = -ttl;
    if (staleness < windows.whileRevalidateSec) {
      this.#revalidate(lookup, entry!, true).catch(() => {});
      this.events.staleServed?.('stale_while_revalidate');
      return storedAnswer(stored, age, { hit: true, ttl, detail: 'stale-while-revalidate' });
    }
    let head: FillHead;
    let fill: Fill;
    try {
      ({ fill, head } = await this.#revalidate(lookup, entry!, false));
    } catch (error) {
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
    const hot = entry && this.#hot.get(entry.file);
    if (!hot) return null;
    const age = currentAge(hot.meta.policy, this.#now());
    const ttl = hot.meta.lifetimeSec - age;
    if (ttl <= 0) return null;
    return { object: hot, age: Math.floor(age), ttl };
  }

  /** Straight to the origin and back, neither looked up, shared nor stored. */
  async pass(lookup: Lookup): Promise<Answer> {
    return passAnswer(await this.#fetchAlone(lookup), { fwd: 'bypass', passed: true });
  }

  /** Drops stored objects by key; returns how many were there. */
  purge(keys: Iterable<string>): number {
    let purged = 0;
    for (const key of keys) if (this.index.delete(key)) purged++;
    return purged;
  }

  /** Aborts fills under way (shutdown): their readers see an aborted body. */
  abortFills(): void {
    this.#fills.abortAll();
  }

  /** Drops a version's in-memory copy once the index lets go of its file. */
  forget(file: string): void {
    this.#hot.delete(file);
  }

  /** The stored copy of an entry: from memory when hot, else opened on disk. */
  async #stored(entry: IndexEntry): Promise<StoredCopy | null> {
    const hot = this.#hot.get(entry.file);
    if (hot) return hot;
    const object = await this.#open(entry);
    if (!object || object.meta.bodyBytes > this.#hot.maxObjectBytes) {
      return object && { ...object, headers: storedHeaders(object.meta) };
    }
    try {
      const body = await readWhole(object);
      const copy = hotObject(object.meta, storedHeaders(object.meta), body);
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

  async #open(entry: IndexEntry): Promise<OpenObject | null> {
    try {
      const object = await this.store.openObject(entry.file);
      // The file says which key it holds: an index entry that disagrees is not trusted.
      if (object.meta.key === entry.key) return object;
      closeQuietly(object.fd);
      throw new CorruptObject('object file holds another key');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof CorruptObject) {
        this.index.deleteIfCurrent(entry);
        return null;
      }
      throw error;
    }
  }

  async #miss(lookup: Lookup): Promise<Answer> {
    const { fill, joined } = this.#fills.join(lookup.key, this.#now(), (f) => void this.#run(f, lookup, null));
    if (joined) this.events.coalesced?.();
    const head = await fill.head;
    // Joined after the last byte arrived: served from what is stored, like a hit.
    const parts: CacheStatusParts = joined && fill.bodyComplete ? { hit: true } : { fwd: 'miss', collapsed: joined };
    return this.#fillAnswer(lookup, fill, head, parts);
  }

  #revalidate(lookup: Lookup, entry: IndexEntry, background: boolean): Promise<{ fill: Fill; head: FillHead }> {
    const { fill, joined } = this.#fills.join(lookup.key, this.#now(), (f) => void this.#run(f, lookup, entry));
    if (joined && !background) this.events.coalesced?.();
    return fill.head.then((head) => ({ fill, head }));
  }

  async #fillAnswer(lookup: Lookup, fill: Fill, head: FillHead, parts: CacheStatusParts): Promise<Answer> {
    if (head.kind === 'pass') {
      const response = head.claim() ?? (await this.#fetchAlone(lookup));
      return passAnswer(response, { ...parts, collapsed: false, detail: head.reason, passed: true });
    }
    const status: CacheStatusParts = parts.hit
      ? { hit: true, ttl: (head.freshUntil - this.#now()) / 1000 }
      : {
          ...parts,
          ...(head.revalidated ? { fwd: 'stale', fwdStatus: 304 } : {}),
          stored: head.stored,
          ttl: head.stored ? head.lifetimeSec : undefined,
          detail: head.reason,
        };
    return {
      status: head.status,
      headers: head.headers,
      size: head.size,
      age: head.revalidated || parts.hit ? 0 : undefined,
      cacheStatus: status,
      rangeable: head.size !== undefined,
      body: (start, end) => fill.reader(start, end),
      discard: () => {},
    };
  }

  /** An origin fetch of one's own, for a response that may not be shared. */
  async #fetchAlone(lookup: Lookup): Promise<OriginResponse> {
    const started = this.#now();
    this.events.originStarted?.();
    try {
      const response = await this.origin.fetch(lookup.target, lookup.headers);
      let result = resultOf(response.status);
      response.body.once('error', (error) => (result = errorResult(originError(error))));
      response.body.once('close', () => this.events.originFinished?.(result, (this.#now() - started) / 1000));
      return response;
    } catch (error) {
      const typed = originError(error);
      this.events.originFinished?.(errorResult(typed), (this.#now() - started) / 1000);
      throw typed;
    }
  }

  /** The one origin fetch of a fill: writes the body to a temp file, then stores it if it may. */
  async #run(fill: Fill, lookup: Lookup, staleEntry: IndexEntry | null): Promise<void> {
    const started = this.#now();
    let stale: OpenObject | null = null;
    let result: OriginResult = 'unavailable';
    this.events.originStarted?.();
    try {
      stale = staleEntry ? await this.#open(staleEntry) : null;
      const headers = stale ? { ...lookup.headers, ...validators(stale.meta) } : lookup.headers;
      const response = await this.origin.fetch(lookup.target, headers, fill.abort.signal);
      result = resultOf(response.status);
      if (response.status === 304 && stale) {
        response.body.resume();
        const refreshed = stale;
        stale = null; // the fill owns its fd now
        await this.#refresh(fill, lookup, staleEntry!, refreshed, response.headers);
        return;
      }
      if (response.status >= 500) {
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
      this.events.originFinished?.(result, (this.#now() - started) / 1000);
    }
  }

  /** Streams a fresh origin response into a temp file, and commits it when it may be stored. */
  async #receive(fill: Fill, lookup: Lookup, response: OriginResponse): Promise<void> {
    const now = this.#now();
    const headers = storableHeaders(response.headers);
    const policy = policyFor({ method: 'GET', url: lookup.target, headers: {} }, { status: response.status, headers }, now);
    const decision = decideStore(response.status, response.headers, this.options.rules, now);
    const length = contentLength(response.headers);
    const unshareable = privateReason(response.headers);
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
    const meta: ObjectMeta = {
      v: 1, key: lookup.key, status: response.status, lifetimeSec: decision.lifetimeSec,
      policy: policy.toObject(), bodyBytes: 0,
    };
    // The head goes out now, and the first chunks go to readers from memory:
    // the temp file is opened alongside, never in front of them.
    fill.announce({
      kind: 'body', status: response.status, headers, size: length, stored: store, revalidated: false,
      lifetimeSec: decision.lifetimeSec, freshUntil: freshUntil(decision, policy, now), reason: decision.reason,
    });
    const slot: { temp?: TempObject; attached: boolean; committed: boolean } = { attached: false, committed: false };
    const opening = (async () => {
      const temp = await this.store.createTemp();
      slot.temp = temp;
      await temp.begin(meta);
      fill.attach(temp.fd, temp.bodyOffset);
      slot.attached = true;
      return temp;
    })();
    opening.catch(() => {});
    try {
      let written = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        fill.received(chunk);
        const temp = await opening;
        await temp.writeBody(chunk, written);
        written += chunk.length;
        fill.written(written);
        // Only a body of unknown length can get here: it is still served, not kept.
        if (written > this.options.maxObjectBytes) store = false;
      }
      if (length !== undefined && written !== length) throw new OriginBodyBroken(`${written} of ${length} bytes`);
      const temp = await opening;
      fill.complete();
      if (store) {
        const file = objectFileName(keyHash(lookup.key));
        await temp.commit({ ...meta, bodyBytes: written }, file);
        slot.committed = true;
        this.index.set({ key: lookup.key, file, size: temp.bodyOffset + written });
      }
      fill.finish();
    } finally {
      await opening.catch(() => {});
      // The fill closes the fd once its readers are done; unattached, it is ours.
      if (slot.temp && !slot.attached) closeQuietly(slot.temp.fd);
      if (slot.temp && !slot.committed) await slot.temp.discard().catch(() => {});
    }
  }

  /** A 304: the stored body with refreshed headers, rewritten as a new version. */
  async #refresh(fill: Fill, lookup: Lookup, entry: IndexEntry, stale: OpenObject, notModified: HeaderMap): Promise<void> {
    const headers = refreshedHeaders(storedHeaders(stale.meta), notModified);
    const now = this.#now();
    const policy = policyFor({ method: 'GET', url: lookup.target, headers: {} }, { status: stale.meta.status, headers }, now);
    const surrogate = notModified['surrogate-control'];
    const decision = decideStore(stale.meta.status, surrogate ? { ...headers, 'surrogate-control': surrogate } : headers, this.options.rules, now);
    const meta: ObjectMeta = { ...stale.meta, policy: policy.toObject(), lifetimeSec: decision.lifetimeSec };
    fill.attach(stale.fd, stale.bodyOffset);
    fill.stored(stale.meta.bodyBytes);
    fill.announce({
      kind: 'body', status: stale.meta.status, headers: storedHeaders(meta), size: stale.meta.bodyBytes,
      stored: decision.store, revalidated: true, lifetimeSec: decision.lifetimeSec,
      freshUntil: freshUntil(decision, policy, now), reason: decision.reason,
    });
    if (decision.store) await this.#rewrite(stale, meta);
    else this.index.deleteIfCurrent(entry);
    fill.finish();
  }

  async #rewrite(stale: OpenObject, meta: ObjectMeta): Promise<void> {
    const temp = await this.store.createTemp();
    try {
      await temp.begin(meta);
      const buf = Buffer.allocUnsafe(256 * 1024);
      for (let at = 0; at < meta.bodyBytes; ) {
        const n = await readInto(stale.fd, buf, Math.min(buf.length, meta.bodyBytes - at), stale.bodyOffset + at);
        if (n === 0) throw new CorruptObject('short body while refreshing');
        await temp.writeBody(buf.subarray(0, n), at);
        at += n;
      }
      const file = objectFileName(keyHash(meta.key));
      await temp.commit(meta, file);
      this.index.set({ key: meta.key, file, size: temp.bodyOffset + meta.bodyBytes });
    } catch (error) {
      await temp.discard().catch(() => {});
      throw error;
    } finally {
      closeQuietly(temp.fd);
    }
  }
}

/** Until when a response just received may be reused: never unless stored. */
function freshUntil(decision: StoreDecision, policy: CachePolicy, now: number): number {
  if (!decision.store) return Number.NEGATIVE_INFINITY;
  return now + (decision.lifetimeSec - currentAge(policy.toObject(), now)) * 1000;
}

/** The headers an object was stored with, as a client gets them (Age apart). */
export function storedHeaders(meta: ObjectMeta): HeaderMap {
  const { age: _age, ...headers } = meta.policy.resh as HeaderMap;
  return headers;
}

// RFC 9111 §3.2: a 304 updates the stored header fields it carries, except
// those that describe the body it does not carry.
const KEPT_ON_REFRESH = new Set(['content-length', 'content-encoding', 'content-range', 'content-md5', 'etag']);

export function refreshedHeaders(stored: HeaderMap, notModified: HeaderMap): HeaderMap {
  const merged = { ...stored };
  for (const [name, value] of Object.entries(storableHeaders(notModified))) {
    if (!KEPT_ON_REFRESH.has(name)) merged[name] = value;
  }
  return merged;
}

function validators(meta: ObjectMeta): HeaderMap {
  const headers = meta.policy.resh as HeaderMap;
  const out: HeaderMap = {};
  if (headers.etag) out['if-none-match'] = headers.etag;
  if (headers['last-modified']) out['if-modified-since'] = headers['last-modified'];
  return out;
}

function closeQuietly(fd: number): void {
  void closeFd(fd).catch(() => {});
}

/** A stored object as a hit reads it: whole in memory, or open on disk. */
type StoredCopy = HotObject | (OpenObject & { readonly headers: HeaderMap });

function isHot(copy: StoredCopy): copy is HotObject {
  return 'body' in copy;
}

function releaseCopy(copy: StoredCopy): void {
  if (!isHot(copy)) closeQuietly(copy.fd);
}

/** The whole body of a small object: usually already read with its header. */
async function readWhole(object: OpenObject): Promise<Buffer> {
  const size = object.meta.bodyBytes;
  if (object.prefix.length === size) return Buffer.from(object.prefix);
  const body = Buffer.allocUnsafe(size);
  object.prefix.copy(body);
  for (let at = object.prefix.length; at < size; ) {
    const n = await readInto(object.fd, body.subarray(at), size - at, object.bodyOffset + at);
    if (n === 0) throw new CorruptObject('short body');
    at += n;
  }
  return body;
}

function storedAnswer(copy: StoredCopy, age: number, parts: CacheStatusParts): Answer {
  const size = copy.meta.bodyBytes;
  const base = {
    status: copy.meta.status,
    headers: copy.headers,
    size,
    age: Math.floor(age),
    cacheStatus: parts,
    rangeable: true,
  };
  if (isHot(copy)) {
    return { ...base, body: (start = 0, end = size) => copy.body.subarray(start, end), discard: () => {} };
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    closeQuietly(copy.fd);
  };
  return {
    ...base,
    body(start = 0, end = size) {
      if (end <= copy.prefix.length) {
        release();
        return copy.prefix.subarray(start, end);
      }
      released = true;
      return new BodyReader(
        {
          available: () => size,
          complete: () => true,
          failure: () => null,
          changed: () => Promise.resolve(),
          inMemory: (position, limit) =>
            position < copy.prefix.length ? copy.prefix.subarray(position, Math.min(limit, copy.prefix.length)) : null,
          readFile: (buf, length, position) => readInto(copy.fd, buf, length, copy.bodyOffset + position),
          release: () => closeQuietly(copy.fd),
        },
        start,
        end,
      );
    },
    discard: release,
  };
}

function passAnswer(response: OriginResponse, parts: CacheStatusParts): Answer {
  if (response.status >= 500) {
    response.body.resume();
    throw new OriginFailed(response.status);
  }
  return {
    status: response.status,
    headers: storableHeaders(response.headers),
    setCookie: response.setCookie,
    size: contentLength(response.headers),
    age: undefined,
    cacheStatus: parts,
    rangeable: false,
    body: () => response.body,
    discard: () => response.body.destroy(),
  };
}
