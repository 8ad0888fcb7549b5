// `imgedge origin`: the store uploaders write to and edges fetch from, and
// its change log for edges to follow. One listener; errors become answers
// here and nowhere else.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OriginConfig } from '../../config.js';
import { BadRequest, ImgedgeError, MethodNotAllowed, NotFound, RangeNotSatisfiable } from '../../errors.js';
import { normaliseTarget } from '../../http/path.js';
import { CHANGES_PATH, parseChangesQuery } from '../../changelog/wire.js';
import { changesPage, CHANGES_HEADERS } from '../../changelog/serve.js';
import { createLog } from '../../log.js';
import type { ChangeEntry } from '../../changelog/log.js';
import { OriginStore } from './store.js';
import { S3Root } from './s3-root.js';
import { RedisAppender } from '../../changelog/redis-appender.js';
import { RedisFeed } from '../../changelog/redis-feed.js';
import { TAIL_WAIT_SEC } from './change-tail.js';
import { isRedisUrl, parseRedisUrl } from '../../changelog/redis-url.js';
import type { OriginRoot } from './root.js';
import { handleWrite, type WriteRules } from './upload.js';

export const ORIGIN_ALLOW = 'GET, HEAD, PUT, DELETE';

export interface OriginHandlerOptions extends WriteRules {
  readonly maxAgeSec: number;
  readonly onError?: (error: unknown) => void;
  /** One line per acknowledged write: the origin's audit trail beside its log. */
  readonly onWrite?: (entry: ChangeEntry, remote: string | undefined) => void;
}

export interface Handler {
  (req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Answers every long poll now, with what it has (shutdown). */
  endPolls(): void;
}

function fail(req: http.IncomingMessage, res: http.ServerResponse, error: unknown, onError?: (error: unknown) => void): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const known = error instanceof ImgedgeError;
  if (!known) onError?.(error);
  const status = known ? error.status : 500;
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8' };
  if (error instanceof MethodNotAllowed) headers.allow = error.allow;
  // Stored but not yet logged: the uploader should send it again shortly.
  if (status === 503) headers['retry-after'] = '1';
  if (error instanceof RangeNotSatisfiable) headers['content-range'] = `bytes */${error.size}`;
  // A refused upload's body is not read: close rather than drain it.
  if (req.method === 'PUT' && !req.readableEnded) headers.connection = 'close';
  res.writeHead(status, headers).end(req.method === 'HEAD' ? undefined : `${known ? error.code : 'INTERNAL'}\n`);
}

export function createOriginHandler(store: OriginRoot, options: OriginHandlerOptions): Handler {
  const route = async (req: http.IncomingMessage, res: http.ServerResponse, signal: AbortSignal) => {
    const method = req.method ?? '';
    if (!['GET', 'HEAD', 'PUT', 'DELETE'].includes(method)) throw new MethodNotAllowed(ORIGIN_ALLOW);
    const target = normaliseTarget(req.url ?? '/');
    if (target.path === CHANGES_PATH && (method === 'GET' || method === 'HEAD')) {
      // Its changes are on Redis: edges follow the stream there, and `auto` learns from this 404 that there is no log here.
      if (!store.fileLog) throw new NotFound('this origin appends its changes to a Redis stream');
      const page = await changesPage(store.fileLog, parseChangesQuery(target.query), signal);
      res.writeHead(200, CHANGES_HEADERS).end(method === 'HEAD' ? undefined : JSON.stringify(page));
      return;
    }
    if (method === 'PUT' || method === 'DELETE') {
      if (target.query) throw new BadRequest('a write takes no query string');
      const entry = await handleWrite(store, target.path, req, res, options);
      options.onWrite?.(entry, req.socket.remoteAddress);
      return;
    }
    await store.serve(target.path, req, res, options.maxAgeSec);
  };
  const requests = new Set<AbortController>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const aborter = new AbortController();
    requests.add(aborter);
    res.once('close', () => {
      requests.delete(aborter);
      aborter.abort();
    });
    route(req, res, aborter.signal).catch((error: unknown) => fail(req, res, error, options.onError));
  };
  return Object.assign(handler, { endPolls: () => requests.forEach((a) => a.abort()) });
}

export interface RunningOrigin {
  readonly url: string;
  readonly store: OriginRoot;
  readonly server: http.Server;
  close(): Promise<void>;
}

export async function startOrigin(config: OriginConfig): Promise<RunningOrigin> {
  const processLog = createLog(config.logLevel);
  const log = processLog.logger;
  const appender = isRedisUrl(config.changelog) ? new RedisAppender(parseRedisUrl(config.changelog), config.changelogMaxEntries) : null;
  const store: OriginRoot =
    config.s3 ? new S3Root(config.s3, appender!, new RedisFeed(parseRedisUrl(config.changelog), TAIL_WAIT_SEC), (error) => log.warn({ err: error.message }, 'change log not read: every miss reads the bucket until it is read again'))
    : await OriginStore.open(
        config.root,
        appender ? { kind: 'appender', appender } : { kind: 'file', options: { maxAgeMs: config.changelogMaxAgeSec * 1000, maxBytes: config.changelogMaxBytes } },
      );
  const handler = createOriginHandler(store, {
    uploadToken: config.uploadToken,
    maxUploadBytes: config.maxUploadBytes,
    maxAgeSec: config.maxAgeSec,
    onError: (error) => log.error({ err: error }, 'unexpected error'),
    onWrite: (entry, remote) => log.info({ op: entry.op, path: entry.path, seq: entry.seq, etag: entry.etag, remote }, 'write'),
  });
  const server = http.createServer({ requestTimeout: 0 }, handler);
  // Checked before the client sends the body: the handler sends 100 Continue itself.
  server.on('checkContinue', handler);
  const trim = setInterval(() => void store.fileLog?.trim().catch((error: unknown) => log.error({ err: error }, 'change log trim failed')), 60_000);
  trim.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const changes = store.fileLog ? { log: store.fileLog.id, first: store.fileLog.first, last: store.fileLog.last } : { changelog: parseRedisUrl(config.changelog).describe };
  log.info({ listen: address, root: store.describe, ...changes }, 'origin ready');
  let closing: Promise<void> | null = null;
  return {
    url,
    store,
    server,
    close: () =>
      (closing ??= (async () => {
        clearInterval(trim);
        // Uploads under way finish; long polls answer now; idle connections close as they become idle.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        handler.endPolls();
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const cut = setTimeout(() => server.closeAllConnections(), config.drainTimeoutMs);
        try {
          await closed;
        } finally {
          clearInterval(sweep);
          clearTimeout(cut);
        }
        await store.close();
        log.info('stopped');
        processLog.flush();
      })()),
  };
}
