// A real HTTP origin for tests, on 127.0.0.1 and a free port. Each path is
// told what to answer; it counts requests, and can hold a body at a gate until
// the test opens it, so tests synchronise on events, never on sleeps.
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export class Gate {
  #open!: () => void;
  readonly opened = new Promise<void>((resolve) => {
    this.#open = resolve;
  });
  open(): void {
    this.#open();
  }
}

export interface OriginSpec {
  body?: Buffer | string;
  status?: number;
  /** Replaces the default headers (content-type, etag, last-modified, cache-control). */
  headers?: Record<string, string | string[]>;
  /** Added to the default headers. */
  extraHeaders?: Record<string, string | string[]>;
  /** Delay before the response head. */
  latencyMs?: number;
  /** Send this many body bytes, then wait for the gate before the rest. */
  gate?: Gate;
  gateAfter?: number;
  /** Send this many body bytes, then cut the connection. */
  breakAfter?: number;
  /** Send this many body bytes, then nothing more (a stalled origin). */
  stallAfter?: number;
  /** Spread the body over this long, in 10 pieces. */
  bodyMs?: number;
  /** Never answer. */
  hang?: boolean;
  /** Cut the connection before any answer (a process killed, a keep-alive connection closed under the request). */
  reset?: boolean;
  /** Send no Content-Length (chunked). */
  chunked?: boolean;
  /** false: no Date field (Node's server adds one otherwise). */
  date?: false;
  /** Answer If-None-Match / If-Modified-Since with 304 (default true). */
  conditional?: boolean;
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

export function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
}

export class TestOrigin {
  readonly requests: SeenRequest[] = [];
  readonly #specs = new Map<string, OriginSpec | ((req: http.IncomingMessage) => OriginSpec)>();
  readonly #sockets = new Set<import('node:net').Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #server: http.Server | null = null;
  port = 0;
  /** Called with each request as it arrives. */
  onRequest: ((req: SeenRequest) => void) | null = null;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestOrigin> {
    const origin = new TestOrigin();
    await origin.listen(0);
    return origin;
  }

  async listen(port: number): Promise<void> {
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 30_000;
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  set(path: string, spec: OriginSpec | ((req: http.IncomingMessage) => OriginSpec)): void {
    this.#specs.set(path, spec);
  }

  count(url: string): number {
    return this.requests.filter((r) => r.url === url).length;
  }

  /** Stops listening and cuts every connection: later requests are refused. */
  async stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Edges ask whether the origin keeps a change log; this one keeps none, and tests count object fetches.
    if (req.url?.startsWith('/.imgedge/changes')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no change log\n');
      return;
    }
    const seen = { method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers } };
    this.requests.push(seen);
    this.onRequest?.(seen);
    req.resume();
    const found = this.#specs.get(seen.url) ?? this.#specs.get(seen.url.split('?')[0]!);
    const spec: OriginSpec = typeof found === 'function' ? found(req) : (found ?? { status: 404, body: 'not found\n', headers: { 'content-type': 'text/plain' } });
    if (spec.hang) return;
    if (spec.reset) {
      res.socket?.resetAndDestroy();
      return;
    }
    const respond = () => void this.#respond(req, res, spec).catch(() => res.destroy());
    if (spec.latencyMs) this.#later(respond, spec.latencyMs);
    else respond();
  }

  async #respond(req: http.IncomingMessage, res: http.ServerResponse, spec: OriginSpec): Promise<void> {
    if (res.destroyed) return;
    const body = spec.body === undefined ? Buffer.alloc(0) : Buffer.from(spec.body);
    const status = spec.status ?? 200;
    const headers: Record<string, string | string[]> = spec.headers ?? {
      'content-type': 'image/jpeg',
      etag: etagOf(body),
      'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT',
      'cache-control': 'public, max-age=3600',
    };
    Object.assign(headers, spec.extraHeaders ?? {});
    const etag = headers.etag as string | undefined;
    if (status === 200 && spec.conditional !== false && req.headers['if-none-match'] && etag) {
      const tags = String(req.headers['if-none-match']).split(',').map((t) => t.trim());
      if (tags.includes(etag)) {
        const { 'content-type': _type, ...rest } = headers;
        res.writeHead(304, rest).end();
        return;
      }
    }
    // RFC 9110 §13.1.3: only without If-None-Match, and only with a Last-Modified to compare.
    const since = req.headers['if-modified-since'];
    const modified = headers['last-modified'] as string | undefined;
    if (status === 200 && spec.conditional !== false && !req.headers['if-none-match'] && since && modified) {
      const sinceMs = Date.parse(since);
      if (!Number.isNaN(sinceMs) && Date.parse(modified) <= sinceMs) {
        const { 'content-type': _type, ...rest } = headers;
        res.writeHead(304, rest).end();
        return;
      }
    }
    if (!spec.chunked) headers['content-length'] = String(body.length);
    if (spec.date === false) res.sendDate = false;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (spec.breakAfter !== undefined) {
      res.write(body.subarray(0, spec.breakAfter), () => res.socket?.destroy());
      return;
    }
    if (spec.stallAfter !== undefined) {
      res.write(body.subarray(0, spec.stallAfter));
      return;
    }
    if (spec.gate) {
      const first = spec.gateAfter ?? 0;
      if (first > 0) res.write(body.subarray(0, first));
      else res.flushHeaders();
      await spec.gate.opened;
      res.end(body.subarray(first));
      return;
    }
    if (spec.bodyMs && body.length > 0) {
      const pieces = 10;
      const size = Math.ceil(body.length / pieces);
      for (let at = 0; at < body.length; at += size) {
        await new Promise<void>((resolve) => this.#later(resolve, spec.bodyMs! / pieces));
        if (res.destroyed) return;
        res.write(body.subarray(at, at + size));
      }
      res.end();
      return;
    }
    res.end(body);
  }
}
