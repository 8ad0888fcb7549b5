// What the cache answers with, from storage (memory or disk) or passed
// through from the origin, and the opening of stored objects.
import type { Readable } from 'node:stream';
import { BodyWriter } from './body-writer.js';
import type { HotObject } from './hot.js';
import { closeFd, readInto, CorruptObject, type Store, type OpenObject } from './store.js';
import type { CacheIndex, IndexEntry } from './index.js';
import { contentLength, storableHeaders } from './stored-headers.js';
import type { HeaderMap } from '../http/headers.js';
import type { CacheStatusParts } from '../http/cache-status.js';
import type { OriginResponse } from '../origin-client.js';

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
  /**
   * The body, or the slice [start, end): in memory, to be written from
   * storage or a fill, or a stream passed through from the origin.
   */
  body(start?: number, end?: number): Buffer | BodyWriter | Readable;
  discard(): void;
}

/** Opens an entry's file; an entry whose file is gone or not its own is dropped. */
export async function openEntry(store: Store, index: CacheIndex, entry: IndexEntry): Promise<OpenObject | null> {
  try {
    const object = await store.openObject(entry.file);
    // The file says which key it holds: an index entry that disagrees is not trusted.
    if (object.meta.key === entry.key) return object;
    closeQuietly(object.fd);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !(error instanceof CorruptObject)) throw error;
  }
  index.deleteIfCurrent(entry);
  return null;
}

export function closeQuietly(fd: number): void {
  void closeFd(fd).catch(() => {});
}

/** A stored object as a hit reads it: whole in memory, or open on disk. */
export type StoredCopy = HotObject | (OpenObject & { readonly headers: HeaderMap });

function isHot(copy: StoredCopy): copy is HotObject {
  return 'body' in copy;
}

export function releaseCopy(copy: StoredCopy): void {
  if (!isHot(copy)) closeQuietly(copy.fd);
}

/** The whole body of a small object: usually already read with its header. */
export async function readWhole(object: OpenObject): Promise<Buffer> {
  const size = object.meta.bodyBytes;
  const body = Buffer.allocUnsafe(size);
  object.prefix.copy(body);
  for (let at = object.prefix.length; at < size; ) {
    const n = await readInto(object.fd, body.subarray(at), size - at, object.bodyOffset + at);
    if (n === 0) throw new CorruptObject('short body');
    at += n;
  }
  return body;
}

export function storedAnswer(copy: StoredCopy, age: number, parts: CacheStatusParts): Answer {
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
      return new BodyWriter(
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

export function passAnswer(response: OriginResponse, parts: CacheStatusParts): Answer {
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
