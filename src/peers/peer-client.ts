// Fetches from the owner of a key, one of this IDC's replicas. The request is
// marked (PEER_HEADER), so the owner fetches from its origin and never asks a
// peer again. The owner acknowledges a peer request at once with a 102, so a
// dead or stopped peer is told apart from a slow origin within a short
// timeout: without the acknowledgement the fetch fails as PeerUnreachable,
// and the caller asks the member next in line instead. Acknowledged, the
// owner is alive: no answer in time is the origin's timeout (the IDC's way
// to the origin is the same from every replica), and only a connection cut
// means the owner is gone.
import { Agent } from 'undici';
import { OriginTimeout, PeerUnreachable } from '../errors.js';
import type { HeaderMap } from '../http/headers.js';
import { guardedResponse, type InterimListener, type OriginResponse } from '../origin-client.js';
import type { Position } from '../changelog/position.js';
import { logPointField } from '../changelog/log-point.js';

/** Marks a request as coming from a peer; its value is the asking replica. */
export const PEER_HEADER = 'imgedge-peer';
/** With PEER_HEADER: the asking replica holds the object and asks this one to keep a copy of it (`--peer-copies 2`). */
export const COPY_HEADER = 'imgedge-copy';

export interface PeerClientOptions {
  /** This replica, sent as the marker's value. */
  readonly self: string;
  /** Until the owner acknowledges (a 102, or its answer). */
  readonly ackTimeoutMs: number;
  /** Once acknowledged: the owner has its own origin timeout, so a little more than it. */
  readonly timeoutMs: number;
  readonly userAgent: string;
  /** How far this replica has read the change log (null: it follows none, or not yet): the owner reads as far first. */
  readonly logPosition: () => Position | null;
}

export class PeerClient {
  readonly #agent: Agent;

  constructor(private readonly options: PeerClientOptions) {
    this.#agent = new Agent({
      connectTimeout: options.ackTimeoutMs,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
  }

  async fetch(peer: string, target: string, headers: HeaderMap, signal?: AbortSignal, onInterim?: InterimListener): Promise<OriginResponse> {
    const ack = new AbortController();
    const timer = setTimeout(() => ack.abort(), this.options.ackTimeoutMs);
    const abort = signal ? AbortSignal.any([signal, ack.signal]) : ack.signal;
    let acknowledged = false;
    try {
      const response = await this.#agent.request({
        origin: peer,
        method: 'GET',
        path: target,
        headers: { 'user-agent': this.options.userAgent, ...headers, ...this.#marks() },
        signal: abort,
        onInfo: (info) => {
          acknowledged = true;
          clearTimeout(timer);
          // The acknowledgement is between the replicas; the origin's own interim answers pass on.
          if (info.statusCode !== 102) onInterim?.(info.statusCode, info.headers);
        },
      });
      clearTimeout(timer);
      const answer = guardedResponse(response);
      // A replica that is closing answers new requests 503 without a Cache-Status:
      // not an answer about the object, so the origin is asked instead.
      if (answer.status === 503 && answer.headers['cache-status'] === undefined) {
        answer.body.destroy();
        throw new PeerUnreachable(peer, 'closing');
      }
      return answer;
    } catch (error) {
      if (error instanceof PeerUnreachable || signal?.aborted) throw error;
      if (ack.signal.aborted) throw new PeerUnreachable(peer, `no acknowledgement within ${this.options.ackTimeoutMs} ms`);
      const code = (error as { code?: string }).code;
      if (acknowledged && code === 'UND_ERR_HEADERS_TIMEOUT') throw new OriginTimeout();
      throw new PeerUnreachable(peer, code ?? (error as Error).message, code === 'ECONNREFUSED');
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Asks `peer` to keep a copy of what this replica has just stored under
   * `target`: it takes the copy from here, from storage only. A HEAD, so
   * nothing comes back but the status: 200 when it is taking the copy (or
   * holds one already).
   */
  async copy(peer: string, target: string): Promise<number> {
    const response = await this.#agent.request({
      origin: peer,
      method: 'HEAD',
      path: target,
      headers: { 'user-agent': this.options.userAgent, [COPY_HEADER]: '1', ...this.#marks() },
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    response.body.resume();
    return response.statusCode;
  }

  /** What marks every request to a peer: the asker, and how far it has read the change log. */
  #marks(): Record<string, string> {
    return { [PEER_HEADER]: this.options.self, ...logPointField(this.options.logPosition()) };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
