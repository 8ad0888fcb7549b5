// The one connection pool to the origin (or parent edge). Failures become the
// typed errors the rest of the edge understands: refused → OriginUnavailable,
// no head in time → OriginTimeout. Body failures surface while reading. A
// GET whose connection is cut before any answer (the origin replica behind a
// Service was killed, or closed a kept-alive connection as the request went
// out) is sent once more, on another connection, as nginx's
// proxy_next_upstream does: it is idempotent, and nothing has been passed on.
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { OriginTimeout, OriginUnavailable, OriginBodyBroken, ImgedgeError, StorageFailed } from './errors.js';
import type { HeaderMap } from './http/headers.js';
import type { Position } from './changelog/position.js';
import { LOG_POSITION_HEADER, logPointField } from './changelog/log-point.js';

export interface OriginResponse {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly body: Readable;
  /** Set-Cookie fields as sent: they cannot be joined with commas. */
  readonly setCookie?: readonly string[];
  /** Answered by the replica that owns the key, which stores it: not written to disk here. */
  readonly fromPeer?: boolean;
  /** A replica's stored copy, which it asked this one to keep too (`--peer-copies 2`): stored here, and not copied on again. */
  readonly copied?: boolean;
}

export interface OriginClientOptions {
  readonly origin: URL;
  readonly timeoutMs: number;
  readonly maxConnections: number;
  readonly userAgent: string;
  /**
   * How far this edge has applied the change log, sent with every request:
   * an imgedge origin may then answer from a read of the bucket it shares
   * with other edges, once its own reading of the log is as far.
   */
  readonly logPosition?: () => Position | null;
}

/** An interim (1xx) response the origin sent before its final one. */
export type InterimListener = (status: number, headers: Readonly<Record<string, string | string[]>>) => void;

export interface OriginFetcher {
  fetch(target: string, headers: HeaderMap, signal?: AbortSignal, onInterim?: InterimListener): Promise<OriginResponse>;
}

export class OriginClient implements OriginFetcher {
  readonly #pool: Pool;
  readonly #basePath: string;
  readonly #userAgent: string;
  readonly #logPosition: () => Position | null;

  constructor(options: OriginClientOptions) {
    this.#pool = new Pool(options.origin.origin, {
      connections: options.maxConnections,
      pipelining: 1,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connectTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
    });
    this.#basePath = options.origin.pathname.replace(/\/+$/, '');
    this.#userAgent = options.userAgent;
    this.#logPosition = options.logPosition ?? (() => null);
  }

  /** GETs `target` ("/path?query") below the origin's base path. */
  async fetch(target: string, headers: HeaderMap, signal?: AbortSignal, onInterim?: InterimListener): Promise<OriginResponse> {
    try {
      // Ours or none: a position a client or a replica sent is not this edge's.
      const { [LOG_POSITION_HEADER]: _theirs, ...forwarded } = headers;
      const request = {
        method: 'GET' as const,
        path: this.#basePath + target,
        headers: { 'user-agent': this.#userAgent, ...forwarded, ...logPointField(this.#logPosition()) },
        signal,
        onInfo: onInterim && ((info: { statusCode: number; headers: Record<string, string | string[]> }) => onInterim(info.statusCode, info.headers)),
      };
      const cutBeforeAnswer = (error: unknown) => !signal?.aborted && CUT_BEFORE_ANSWER.has((error as { code?: string }).code ?? '');
      const response = await this.#pool.request(request).catch((error: unknown) => {
        if (!cutBeforeAnswer(error)) throw error;
        return this.#pool.request(request).catch((again: unknown) => {
          throw cutBeforeAnswer(again) ? new OriginUnavailable(`connection cut before an answer, twice (${(again as { code: string }).code})`) : again;
        });
      });
      const answer = guardedResponse(response);
      // RFC 9110 §15: a status is three digits, 100 to 599; anything else is
      // not an answer Node could pass on, nor one to trust (1xx never gets here).
      if (answer.status < 200 || answer.status > 599) {
        answer.body.destroy();
        throw new OriginUnavailable(`invalid status ${answer.status}`);
      }
      return answer;
    } catch (error) {
      throw originError(error);
    }
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** A connection cut with no answer begun: reset, or closed by the other side. */
const CUT_BEFORE_ANSWER = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);

function ignoreError(): void {}

/**
 * An undici response as the cache takes it, from the origin or a peer. Its
 * body is listened to from the moment it arrives: one abandoned (a HEAD, a
 * client gone, an answer not shared) is destroyed, and undici then emits an
 * abort error that must not find the process unguarded. Readers still see
 * every failure through their own listeners.
 */
export function guardedResponse(response: Dispatcher.ResponseData): OriginResponse {
  response.body.on('error', ignoreError);
  const setCookie = response.headers['set-cookie'];
  return {
    status: response.statusCode,
    headers: flattenHeaders(response.headers),
    body: response.body,
    setCookie: setCookie === undefined ? undefined : [setCookie].flat(),
  };
}

/** Whether a body failed because the edge itself let go of it, not the origin. */
export function abandonedByUs(error: unknown): boolean {
  return (error as { code?: string }).code === 'UND_ERR_ABORTED';
}

/** Multi-valued fields joined as RFC 9110 §5.3 allows (Set-Cookie is only tested for presence). */
export function flattenHeaders(headers: Record<string, string | string[] | undefined>): HeaderMap {
  const flat: HeaderMap = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

// Failures of the local disk, not of the origin.
const STORAGE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EMFILE', 'ENFILE', 'EACCES', 'EPERM', 'ENOENT']);

/** Any failure during an origin fetch, as a typed error. */
export function originError(error: unknown): ImgedgeError {
  if (error instanceof ImgedgeError) return error;
  const fsError = error as NodeJS.ErrnoException;
  if (fsError.path !== undefined && STORAGE_CODES.has(fsError.code ?? '')) return new StorageFailed(fsError.code!);
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError
  ) {
    return new OriginTimeout();
  }
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error)?.message ?? String(error);
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') {
    return new OriginBodyBroken(message);
  }
  return new OriginUnavailable(code || message);
}
