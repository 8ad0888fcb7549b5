// The two Fastify apps of an edge, built apart from listen() so tests can
// inject requests. Errors become answers here and nowhere else.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Cache } from '../cache/cache.js';
import type { ImageRequests } from '../transform/request.js';
import type { Metrics } from '../metrics.js';
import { ImgedgeError, MethodNotAllowed, NotCached, RangeNotSatisfiable, OriginFailed, TransformBusy } from '../errors.js';
import { CACHE_NAME } from '../http/cache-status.js';
import { registerPublicRoutes, ALLOW } from './public.js';
import { newPseudonym } from '../http/forward.js';
import { registerAdminRoutes, type Readiness, type Purger } from './admin.js';
import { AccessLog, registerAccessLog, requestId } from './access.js';
import { fastHits, type FastPath } from './fast-hit.js';
import { HitLane, timeoutCheckMs } from './hit-lane.js';
import { registerRelayRoute } from './relay-route.js';
import type { ChangeSource } from '../changelog/serve.js';
import { peerLogGate, type PeerLogGate } from '../peers/log-position.js';

export interface AppOptions {
  readonly metrics: Metrics;
  /** A level for a new logger, or the logger to share. */
  readonly logger: FastifyBaseLogger | { level: string };
  readonly clientTimeoutMs?: number;
  readonly maxHeaderBytes?: number;
}

export interface PublicAppDeps extends AppOptions {
  readonly cache: Cache;
  readonly images: ImageRequests;
  /** How this edge names itself in Via; a new one when not given. */
  readonly pseudonym?: string;
  /** The change log this edge relays to edges below it; null when it follows none. */
  readonly relay?: ChangeSource | null;
  /** Where access lines go as finished JSON text; the logger when not given. */
  readonly accessLine?: (text: string) => void;
  /** Whether a peer's request is answered from here at once; always, when not given. */
  readonly peerLog?: PeerLogGate;
}

export interface AdminAppDeps extends AppOptions {
  readonly readiness: Readiness;
  readonly purger: Purger;
  readonly adminToken: string | undefined;
}

const DEFAULT_CLIENT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
const HEAD_TIMEOUT = Object.assign(new Error('request head too slow'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
const HEAD_CUT_OFF = Object.assign(new Error('request head cut off by the end of the stream'), { code: 'HPE_INVALID_EOF_STATE' });

function baseOptions(deps: AppOptions, fastPath?: FastPath): FastifyServerOptions {
  const timeout = deps.clientTimeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;
  return {
    ...('info' in deps.logger ? { loggerInstance: deps.logger } : { logger: deps.logger }),
    // access.ts writes the one access-log line per request.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: requestId,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    clientErrorHandler: (error, socket) => refuseClient(deps.metrics, error, socket),
    serverFactory: (handler) => {
      // The client limits: a head must arrive, and a kept-alive or stalled
      // connection is cut, within --client-timeout-ms (slowloris).
      const server = http.createServer(
        {
          maxHeaderSize: deps.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
          headersTimeout: timeout,
          requestTimeout: timeout,
          keepAliveTimeout: timeout,
          // How often those limits are checked: a head dripped a byte at a
          // time resets the idle timer, so only this check cuts it.
          connectionsCheckingInterval: timeoutCheckMs(timeout),
        },
        fastPath ? (req, res) => fastPath(req, res) || handler(req, res) : handler,
      );
      server.setTimeout(timeout);
      return server;
    },
  };
}

/** What a refusal by the HTTP parser is answered with, and counted as. */
function clientErrorKind(error: Error & { code?: string }): { status: number; reason: string } {
  if (error.code === 'HPE_HEADER_OVERFLOW') return { status: 431, reason: 'header_too_large' };
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, reason: 'timeout' };
  return { status: 400, reason: 'bad_request' };
}

/**
 * Requests the HTTP parser refuses (oversized head, bad syntax, smuggling
 * attempts, a head too slow to arrive) get a short answer and a closed
 * connection, with Cache-Status like every other answer.
 */
function refuseClient(metrics: Metrics, error: Error & { code?: string }, socket: Duplex): void {
  const { status, reason } = clientErrorKind(error);
  metrics.rejectedRequests.inc({ reason });
  // As Node's own handler: answered unless an answer on this connection has
  // its head out already (a refusal then would land inside its body). Earlier
  // answers, the lane's or the app's, being complete, do not stop it.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent: boolean } | null })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  // No body: the request's method is not known, and the answer to a HEAD has none.
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n` +
      `Cache-Status: ${CACHE_NAME}; detail=${error.code ?? 'BAD_REQUEST'}\r\nContent-Length: 0\r\n\r\n`,
  );
}

function originStatusOf(error: ImgedgeError): string {
  return error instanceof OriginFailed ? `; fwd-status=${error.originStatus}` : '';
}

/** The one place an error becomes a response. */
function setErrorHandler(app: FastifyInstance): void {
    app.setErrorHandler((error, request, reply) => {
      // Headers staged for the answer that failed (an object's ETag, its
      // Content-Length) must not describe the error that replaces it.
      for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
      if (error instanceof ImgedgeError) {
        if (error instanceof MethodNotAllowed) reply.header('allow', error.allow);
        if (error instanceof RangeNotSatisfiable) reply.header('content-range', `bytes */${error.size}`);
        if (error instanceof TransformBusy) reply.header('retry-after', String(error.retryAfterSec));
        const notCached = error instanceof NotCached;
        const fromOrigin = !notCached && (error.status === 502 || error.status === 504);
        request.cacheLabel ??= notCached ? 'not_cached' : error.status >= 500 ? 'error' : 'none';
        // A failure replaces whatever the chosen answer claimed (stored, hit).
        const chosen = error.status < 500 ? request.cacheStatus : undefined;
        reply.header('cache-status', chosen ?? (fromOrigin
          ? `${CACHE_NAME}; fwd=miss${originStatusOf(error)}; detail=${error.code}`
          : `${CACHE_NAME}; detail=${error.code}`));
        if (error.status >= 500 && !notCached) request.log.warn({ code: error.code, err: error.message }, 'request failed');
        return reply.code(error.status).type('text/plain; charset=utf-8').send(`${error.status} ${error.code}: ${error.message}\n`);
      }
      // Fastify's own errors (bad URL, body too large, ...) carry a status.
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== undefined && status >= 400 && status < 500) {
        reply.header('cache-status', `${CACHE_NAME}; detail=${(error as { code?: string }).code ?? 'BAD_REQUEST'}`);
        return reply.code(status).type('text/plain; charset=utf-8').send(`${status} ${(error as Error).message}\n`);
      }
      request.log.error({ err: error }, 'unexpected error');
      reply.header('cache-status', `${CACHE_NAME}; detail=INTERNAL`);
      return reply.code(500).type('text/plain; charset=utf-8').send('500 INTERNAL\n');
    });
}

export function buildPublicApp(deps: PublicAppDeps): FastifyInstance {
  // The fast path needs the app's logger, so it is put in place once the app exists.
  let fast: FastPath = () => false;
  const publicApp = Fastify(baseOptions(deps, (req, res) => fast(req, res)));
  const access = new AccessLog(deps.metrics, publicApp.log, deps.accessLine);
  const accepting = () => publicApp.server.listening;
  const peerLog = deps.peerLog ?? peerLogGate(null);
  fast = fastHits(deps.cache, deps.images, access, accepting, peerLog);
  const lane = HitLane.install(publicApp.server, {
    cache: deps.cache,
    images: deps.images,
    access,
    accepting,
    vouches: peerLog.vouches,
    maxHeadBytes: deps.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
    timeoutMs: deps.clientTimeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS,
    refuse: (socket, reason) => refuseClient(deps.metrics, reason === 'timeout' ? HEAD_TIMEOUT : HEAD_CUT_OFF, socket),
  });
  publicApp.addHook('preClose', (done) => {
    lane.drain();
    done();
  });
  setErrorHandler(publicApp);
  publicApp.setNotFoundHandler(() => {
    throw new MethodNotAllowed(ALLOW);
  });

  registerAccessLog(publicApp, access);
  registerPublicRoutes(publicApp, deps.cache, deps.images, deps.pseudonym ?? newPseudonym(), peerLog);
  // A long poll must end before the connection's idle limit cuts it.
  const timeoutSec = (deps.clientTimeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS) / 1000;
  registerRelayRoute(publicApp, deps.relay ?? null, Math.max(0, Math.min(25, Math.floor(timeoutSec / 2))));
  return publicApp;
}

export function buildAdminApp(deps: AdminAppDeps): FastifyInstance {
  const adminApp = Fastify(baseOptions(deps));
  setErrorHandler(adminApp);
  registerAdminRoutes(adminApp, deps);
  return adminApp;
}
