// The soak origin: a node:http server over the catalog, in the harness's own
// process so the checker sees exactly what it sent and when. Faults are modes
// with an end time, switched on by the fault schedule: slow (head delays and
// body stalls, some beyond the edge's --origin-timeout-ms), 500s, bodies cut
// short after their Content-Length went out, and a restart on the same port
// that cuts whatever is in flight.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Catalog, State } from './catalog.js';
import type { Content } from './content.js';
import type { Random } from './random.js';

export interface OriginStats {
  requests: number;
  ok: number;
  notModified: number;
  notFound: number;
  injected500: number;
  cut: number;
  delayed: number;
  /** Delays or stalls longer than the edge's origin timeout. */
  beyondTimeout: number;
  /** Responses the edge (or a restart) abandoned before their end. */
  abandoned: number;
  readonly fetchedPaths: Set<string>;
}

type Mode = 'slow' | 'fail' | 'cut';

export class SoakOrigin {
  readonly stats: OriginStats = {
    requests: 0, ok: 0, notModified: 0, notFound: 0, injected500: 0, cut: 0, delayed: 0, beyondTimeout: 0, abandoned: 0,
    fetchedPaths: new Set(),
  };
  readonly #until: Record<Mode, number> = { slow: 0, fail: 0, cut: 0 };
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #server: http.Server | null = null;
  port = 0;

  constructor(
    private readonly catalog: Catalog,
    private readonly content: Content,
    private readonly rng: Random,
    private readonly timing: { readonly maxAgeSec: number; readonly originTimeoutMs: number },
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    const server = http.createServer((req, res) => void this.#handle(req, res).catch(() => res.destroy()));
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops listening and cuts every connection, in-flight bodies included. */
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

  /** Down for `downMs`, then back on the same port. */
  async restart(downMs: number): Promise<void> {
    await this.stop();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.listen();
  }

  /** Turns a fault mode on for `ms` from `now`. */
  fault(mode: Mode, now: number, ms: number): void {
    this.#until[mode] = now + ms;
  }

  #on(mode: Mode): boolean {
    return Date.now() < this.#until[mode];
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  /** A delay for slow mode: mostly under the edge's timeout, a third of them beyond it. */
  #slowDelay(): number {
    const timeout = this.timing.originTimeoutMs;
    const ms = this.rng.chance(0.33) ? timeout * (1.2 + this.rng.next() * 0.6) : timeout * this.rng.next() * 0.6;
    this.stats.delayed++;
    if (ms > timeout) this.stats.beyondTimeout++;
    return Math.round(ms);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume();
    this.stats.requests++;
    const path = (req.url ?? '/').split('?')[0]!;
    this.stats.fetchedPaths.add(path);
    if (this.#on('fail') && this.rng.chance(0.6)) {
      this.stats.injected500++;
      res.writeHead(500, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('injected failure\n');
      return;
    }
    const slow = this.#on('slow');
    if (slow) await this.#sleep(this.#slowDelay());
    if (res.destroyed) return;

    // The version is the one current when the head goes out, after any delay.
    const object = this.catalog.get(path);
    const state = object ? this.catalog.current(object) : undefined;
    const now = Date.now();
    const common = { 'cache-control': `public, max-age=${this.timing.maxAgeSec}` };
    if (!object || !state?.present) {
      if (state) this.catalog.served(state, now);
      this.stats.notFound++;
      res.writeHead(404, { ...common, 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const validators = { etag: state.etag, 'last-modified': state.lastModified };
    // RFC 9110 §13.1.2: If-None-Match alone decides when present (the edge sends both).
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && inm.split(',').map((t) => t.trim()).includes(state.etag)) {
      this.catalog.served(state, now);
      this.stats.notModified++;
      res.writeHead(304, { ...common, ...validators }).end();
      return;
    }
    const headers: http.OutgoingHttpHeaders = { ...common, ...validators, 'content-type': 'image/jpeg' };
    if (!object.chunked) headers['content-length'] = String(state.size);
    this.catalog.served(state, now);
    res.writeHead(200, headers);
    const cutAt = this.#on('cut') && this.rng.chance(0.5) ? this.rng.int(0, state.size - 1) : -1;
    const stallAt = slow && this.rng.chance(0.3) ? this.rng.int(0, state.size - 1) : -1;
    await this.#sendBody(res, path, state, cutAt, stallAt);
  }

  async #sendBody(res: http.ServerResponse, path: string, state: State, cutAt: number, stallAt: number): Promise<void> {
    const end = cutAt >= 0 ? cutAt : state.size;
    let at = 0;
    for (const chunk of this.content.chunks(path, state.version, 0, end)) {
      if (stallAt >= at && stallAt < at + chunk.length) {
        res.write(chunk.subarray(0, stallAt - at));
        await this.#sleep(this.#slowDelay());
        if (!(await write(res, chunk.subarray(stallAt - at)))) return this.#abandoned();
      } else if (!(await write(res, chunk))) {
        return this.#abandoned();
      }
      at += chunk.length;
    }
    if (cutAt >= 0) {
      // Content-Length (or chunked framing) promised more: close without it.
      this.stats.cut++;
      await new Promise<void>((resolve) => res.write('', () => resolve()));
      res.socket?.destroy();
      return;
    }
    res.end();
    if (!res.closed) await new Promise<void>((resolve) => res.once('close', resolve));
    if (res.writableFinished) {
      this.stats.ok++;
      this.catalog.served(state, Date.now());
    } else {
      this.#abandoned();
    }
  }

  #abandoned(): void {
    this.stats.abandoned++;
  }
}

/** Writes with backpressure; false when the response is gone. */
function write(res: http.ServerResponse, chunk: Buffer): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok && !res.destroyed);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
