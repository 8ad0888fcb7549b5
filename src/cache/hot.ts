// Small objects that are read often, kept whole in memory (bounded by
// --memory-cache-bytes), so a hit on them costs no disk I/O. Keyed by object
// file name, which is unique per version: a replaced or purged object can
// never be served from here, because the index no longer names its file.
import { STATUS_CODES } from 'node:http';
import { LRUCache } from 'lru-cache';
import type { ObjectMeta } from './store.js';
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

const ENTRY_OVERHEAD_BYTES = 1024;

export class HotObjects {
  readonly #lru: LRUCache<string, HotObject> | null;
  /** Objects larger than this are always streamed from disk. */
  readonly maxObjectBytes: number;

  constructor(maxBytes: number) {
    this.maxObjectBytes = Math.min(1024 * 1024, Math.floor(maxBytes / 16));
    this.#lru =
      maxBytes > 0
        ? new LRUCache<string, HotObject>({
            maxSize: maxBytes,
            sizeCalculation: (hot) => hot.body.length + ENTRY_OVERHEAD_BYTES,
          })
        : null;
  }

  get(file: string): HotObject | undefined {
    return this.#lru?.get(file);
  }

  set(file: string, hot: HotObject): void {
    this.#lru?.set(file, hot);
  }

  delete(file: string): void {
    this.#lru?.delete(file);
  }

  get bytes(): number {
    return this.#lru?.calculatedSize ?? 0;
  }
}
