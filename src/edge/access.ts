// One access-log line and one set of metric samples per public request,
// written when the response closes: complete, failed or cut off by the
// client alike. Bytes are those written to the socket, head included. Other
// replicas' requests (marked with PEER_HEADER) are counted apart from
// clients', so that a request passed to its owner counts once in the
// fleet's request rate and hit ratio, and are not timed: no client waits on
// them as such.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from '../metrics.js';
import { statusClass } from '../metrics.js';
import { PEER_HEADER } from '../peers/peer-client.js';
import { redactTarget } from './redact.js';

const processTag = randomBytes(3).toString('hex');
/** Levels at which the access line is written: built only then, it is not free. */
const LOGGED_LEVELS = new Set(['info', 'debug', 'trace']);
let sequence = 0;

/** The client's X-Request-Id when it is a sane token, else one of ours. */
export function requestId(request: IncomingMessage): string {
  return requestIdFrom(request.headers['x-request-id']);
}

export function requestIdFrom(given: string | string[] | undefined): string {
  if (typeof given === 'string' && /^[\w.:-]{1,64}$/.test(given)) return given;
  return `${processTag}-${(++sequence).toString(36)}`;
}

/**
 * Where an access line's request id comes from: a function for an id already
 * made (Fastify's), or the client's X-Request-Id field (absent: undefined),
 * made into an id only when a line is written.
 */
export type RequestIdSource = (() => string) | string | undefined;

interface Samples {
  readonly requests: { inc(value: number): void };
  readonly bytes: { inc(value: number): void };
  /** Null for other replicas' requests. */
  readonly duration: { observe(value: number): void } | null;
  /** Counted since the last scrape: a number is cheaper than a counter call per request. */
  pendingRequests: number;
  pendingBytes: number;
}

export class AccessLog {
  // Label sets are few: their children are looked up once, not hashed per request.
  readonly #clients = new Map<string, Map<number, Samples>>();
  readonly #peers = new Map<string, Map<number, Samples>>();

  readonly #prefix = `{"level":30,"time":`;
  readonly #origin = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;

  /**
   * `line`, when given, takes the access lines as finished JSON text: built
   * here by hand, in pino's shape, they cost a fraction of a logger call.
   */
  constructor(
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
    private readonly line?: (text: string) => void,
  ) {
    metrics.beforeScrape.add(() => {
      for (const byStatus of [...this.#clients.values(), ...this.#peers.values()]) {
        for (const samples of byStatus.values()) {
          if (samples.pendingRequests) samples.requests.inc(samples.pendingRequests);
          if (samples.pendingBytes) samples.bytes.inc(samples.pendingBytes);
          samples.pendingRequests = 0;
          samples.pendingBytes = 0;
        }
      }
    });
  }

  /**
   * Records the exchange when `res` closes. `label` is read then, since the
   * cache outcome is known only once the answer is chosen.
   */
  watch(
    req: IncomingMessage,
    res: ServerResponse,
    started: number,
    label: () => string,
    reqId: () => string,
  ): void {
    const socket: Socket = req.socket;
    const bytesBefore = socket.bytesWritten;
    const fromPeer = req.headers[PEER_HEADER] !== undefined;
    res.once('close', () => {
      this.record(req.method ?? '', req.url ?? '', res.statusCode, label(), socket.bytesWritten - bytesBefore, started, res.writableFinished, reqId, fromPeer);
    });
  }

  /**
   * Records one finished exchange: its metric samples, and its access line
   * when the level logs it. `bytes` were written to the socket, head
   * included; `started` is performance.now() at the request; `target` is
   * redacted before it is logged. Arguments, not an object: hits call this
   * a hundred thousand times a second.
   */
  record(
    method: string,
    target: string,
    status: number,
    cache: string,
    bytes: number,
    started: number,
    complete: boolean,
    reqId: RequestIdSource,
    fromPeer: boolean,
  ): void {
    const seconds = (performance.now() - started) / 1000;
    const samples = this.#samples(fromPeer, cache, status);
    samples.pendingRequests++;
    samples.pendingBytes += bytes;
    samples.duration?.observe(seconds);
    if (!complete) this.metrics.incompleteResponses.inc({ cache_status: cache });
    if (!LOGGED_LEVELS.has(this.log.level)) return;
    const path = redactTarget(target);
    const ms = Math.round(seconds * 10_000) / 10;
    const id = typeof reqId === 'function' ? reqId() : requestIdFrom(reqId);
    if (this.line) {
      this.line(
        `${this.#prefix}${Date.now()}${this.#origin},"reqId":${JSON.stringify(id)},"method":${JSON.stringify(method)},` +
          `"path":${JSON.stringify(path)},"status":${status},"cache":"${cache}","bytes":${bytes},"ms":${ms},` +
          `"complete":${complete},"msg":"request"}\n`,
      );
      return;
    }
    this.log.info({ reqId: id, method, path, status, cache, bytes, ms, complete }, 'request');
  }

  #samples(fromPeer: boolean, label: string, status: number): Samples {
    // Two levels, not one "label status" key: no string is built per request.
    const children = fromPeer ? this.#peers : this.#clients;
    let byStatus = children.get(label);
    if (!byStatus) children.set(label, (byStatus = new Map()));
    let samples = byStatus.get(status);
    if (!samples) {
      const { requests, bytes } = fromPeer
        ? { requests: this.metrics.peerRequests, bytes: this.metrics.peerResponseBytes }
        : { requests: this.metrics.requests, bytes: this.metrics.responseBytes };
      samples = {
        requests: requests.labels({ cache_status: label, status_class: statusClass(status) }),
        bytes: bytes.labels({ cache_status: label }),
        duration: fromPeer ? null : this.metrics.requestDuration.series(label),
        pendingRequests: 0,
        pendingBytes: 0,
      };
      byStatus.set(status, samples);
    }
    return samples;
  }
}

export function registerAccessLog(app: FastifyInstance, access: AccessLog): void {
  app.addHook('onRequest', (request, reply, done) => {
    access.watch(request.raw, reply.raw, performance.now(), () => request.cacheLabel ?? 'none', () => request.id);
    done();
  });
}
