// Small objects that are read often, kept whole in memory (bounded by
// --memory-cache-bytes), so a hit on them costs no disk I/O. A copy of a
// stored object is keyed by its file name, which is unique per version: a
// replaced or purged object can never be served from here, because the index
// no longer names its file. Objects another replica owns are kept here only
// (borrowed, not on disk), keyed by cache key, and dropped by invalidation.
import { STATUS_CODES } from 'node:http';
import { LRUCache } from 'lru-cache';
import type { ObjectMeta } from './store.js';
import { KeysByPath } from './keys-by-path.js';
import { storedHeaders } from './stored-headers.js';
import { FIELD_NAME_CHAR, FIELD_VALUE_CHAR, type HeaderMap } from '../http/headers.js';
import { objectFields } from '../http/answer-head.js';

export interface HotObject {
  readonly meta: ObjectMeta;
  /** The stored headers as sent to clients, Age apart; never mutated. */
  readonly headers: Readonly<HeaderMap>;
  /** The object's part of a whole answer's head (answer-head.ts), as a flat [name, value, ...] list. */
  readonly wholeHeaders: readonly string[];
  /**
   * The status line and those headers as wire text, each line ending CRLF, for
   * answering straight onto a socket; null when a stored name or value is not
   * one HTTP allows (it then goes through Node's checks and is refused there).
   */
  readonly wholeHead: string | null;
  readonly body: Buffer;
}

const FIELD_NAME = new RegExp(`^${FIELD_NAME_CHAR}+$`);
const FIELD_VALUE = new RegExp(`^${FIELD_VALUE_CHAR}*$`);

function wireHead(status: number, headers: readonly string[]): string | null {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    if (!FIELD_NAME.test(headers[i]!) || !FIELD_VALUE.test(headers[i + 1]!)) return null;
    head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  }
  return head;
}

export function hotObject(meta: ObjectMeta, headers: HeaderMap, body: Buffer): HotObject {
  const whole = objectFields(headers, { length: body.length, ranges: meta.status === 200 });
  return { meta, headers: Object.freeze(headers), wholeHeaders: Object.freeze(whole), wholeHead: wireHead(meta.status, whole), body };
}

/** The in-memory copy of a stored object: its headers as stored. */
export function storedCopy(meta: ObjectMeta, body: Buffer): HotObject {
  return hotObject(meta, storedHeaders(meta), body);
}

const ENTRY_OVERHEAD_BYTES = 1024;
/** Borrowed objects share the LRU with stored ones: no file name starts with this, no key lacks it. */
const BORROWED = '/';

export class HotObjects {
  readonly #lru: LRUCache<string, HotObject> | null;
  /** The keys of borrowed objects by path, for invalidation by path and prefix. */
  readonly #borrowedByPath = new KeysByPath();
  /** Objects larger than this are always streamed from disk (or, borrowed, from their owner). */
  readonly maxObjectBytes: number;

  constructor(maxBytes: number) {
    this.maxObjectBytes = Math.min(1024 * 1024, Math.floor(maxBytes / 16));
    this.#lru =
      maxBytes > 0
        ? new LRUCache<string, HotObject>({
            maxSize: maxBytes,
            sizeCalculation: (hot) => hot.body.length + ENTRY_OVERHEAD_BYTES,
            dispose: (_hot, name, reason) => {
              if (reason !== 'set' && name.startsWith(BORROWED)) this.#borrowedByPath.delete(name);
            },
          })
        : null;
  }

  get(file: string): HotObject | undefined {
    return this.#lru?.get(file);
  }

  /** Like get, without counting as a use. */
  peek(file: string): HotObject | undefined {
    return this.#lru?.peek(file);
  }

  set(file: string, hot: HotObject): void {
    this.#lru?.set(file, hot);
  }

  delete(file: string): void {
    this.#lru?.delete(file);
  }

  /** Whether an object of this size is kept in memory: memory given, and small enough. */
  holds(bodyBytes: number): boolean {
    return this.#lru !== null && bodyBytes <= this.maxObjectBytes;
  }

  borrowed(key: string): HotObject | undefined {
    return this.#lru?.get(key);
  }

  keepBorrowed(key: string, hot: HotObject): void {
    if (!this.#lru) return;
    this.#lru.set(key, hot);
    if (this.#lru.has(key)) this.#borrowedByPath.add(key);
  }

  /** Drops the borrowed objects of these paths (every query; those `keep` names apart) and under these prefixes; returns how many. */
  dropBorrowed(paths: readonly string[], prefixes: readonly string[], keep: (key: string, object: HotObject) => boolean = () => false): number {
    const named = paths.flatMap((path) => this.#borrowedByPath.of(path)).filter((key) => {
      const object = this.#lru?.peek(key);
      return !object || !keep(key, object);
    });
    const keys = [...named, ...prefixes.flatMap((prefix) => this.#borrowedByPath.under(prefix))];
    let dropped = 0;
    for (const key of keys) if (this.#lru?.delete(key)) dropped++;
    return dropped;
  }

  dropBorrowedKey(key: string): void {
    this.#lru?.delete(key);
  }

  get bytes(): number {
    return this.#lru?.calculatedSize ?? 0;
  }
}
