// A WAN link between two IDCs as a TCP relay: every chunk read on one side is
// written to the other a one-way delay (plus jitter) later, bytes in order and
// intact. The kernel here has no netem, so the delay lives in user space.
// Loss is modelled as TCP shows it to an application: nothing is lost, but a
// chunk "lost" on the wire arrives one retransmission timeout late, and every
// chunk behind it waits too (head-of-line blocking). A link can be cut
// (connections dropped, or frozen until the heal; new ones refused) and healed.
// A link may lead to several replicas of a service (a Service's endpoints):
// each connection goes to the next in turn, and to the one after when that
// one refuses, so a killed replica costs only the requests it was serving.
import net from 'node:net';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface LinkOptions {
  readonly listenHost: string;
  /** 0 picks a free port. */
  readonly listenPort?: number;
  /** Tried in turn, one connection each; one that refuses is passed over. */
  readonly targets: readonly Endpoint[];
  /** One-way delay added to every chunk, in each direction. */
  readonly delayMs: number;
  /** Up to this much more, uniformly drawn per chunk (order is kept regardless). */
  readonly jitterMs?: number;
  /** Probability in percent that a chunk stalls for one retransmission timeout. */
  readonly lossPct?: number;
  /** Linux's minimum RTO (TCP_RTO_MIN) by default. */
  readonly rtoMs?: number;
  /** A source in [0, 1) for jitter and loss; Math.random by default. */
  readonly random?: () => number;
  /** Per direction and connection: the reading side is paused above this. */
  readonly maxQueuedBytes?: number;
}

export interface LinkStats {
  connections: number;
  refused: number;
  /** Bytes delivered from the target back to the connecting side ("down") and the other way ("up"). */
  bytesDown: number;
  bytesUp: number;
  chunks: number;
  stalls: number;
}

export type CutMode = 'drop' | 'freeze';

const END = Symbol('end');
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

interface Queued {
  readonly data: Buffer | typeof END;
  readonly at: number;
}

/** One direction of one connection: a time-ordered queue from `from` to `to`. */
class Pipe {
  readonly #queue: Queued[] = [];
  #queuedBytes = 0;
  #lastAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #waitingForDrain = false;

  constructor(
    private readonly link: WanLink,
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly count: (bytes: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => this.#push(chunk));
    from.on('end', () => this.#push(END));
    to.on('drain', () => {
      this.#waitingForDrain = false;
      this.flush();
    });
  }

  #push(data: Buffer | typeof END): void {
    const o = this.link.options;
    let at = Date.now() + o.delayMs + (o.jitterMs ?? 0) * this.link.random();
    if (data !== END) {
      this.link.stats.chunks++;
      if (this.link.random() * 100 < (o.lossPct ?? 0)) {
        this.link.stats.stalls++;
        this.link.stallsAt.push(Date.now());
        at += o.rtoMs ?? 200;
      }
      this.#queuedBytes += data.length;
      if (this.#queuedBytes > (o.maxQueuedBytes ?? MAX_QUEUED_BYTES)) this.from.pause();
    }
    // TCP delivers in order: a chunk never overtakes the one before it.
    at = Math.max(at, this.#lastAt);
    this.#lastAt = at;
    this.#queue.push({ data, at });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer || this.link.frozen || this.#waitingForDrain) return;
    const head = this.#queue[0];
    if (!head) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.flush();
    }, Math.max(0, head.at - Date.now()));
  }

  /** Writes every chunk whose time has come, unless frozen or the target is full. */
  flush(): void {
    const now = Date.now();
    while (!this.link.frozen && !this.#waitingForDrain && this.#queue[0] && this.#queue[0].at <= now) {
      const { data } = this.#queue.shift()!;
      if (this.to.destroyed) return;
      if (data === END) {
        this.to.end();
        continue;
      }
      this.#queuedBytes -= data.length;
      this.count(data.length);
      if (!this.to.write(data)) this.#waitingForDrain = true;
      if (this.#queuedBytes <= (this.link.options.maxQueuedBytes ?? MAX_QUEUED_BYTES) / 2) this.from.resume();
    }
    this.#schedule();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#queue.length = 0;
  }
}

export class WanLink {
  readonly stats: LinkStats = { connections: 0, refused: 0, bytesDown: 0, bytesUp: 0, chunks: 0, stalls: 0 };
  /** When each stalled chunk was read (it arrives one RTO late, and every chunk behind it on its connection with it). */
  readonly stallsAt: number[] = [];
  readonly random: () => number;
  #cut: CutMode | null = null;
  readonly #pipes = new Set<Pipe>();
  readonly #sockets = new Set<net.Socket>();
  #turn = 0;

  private constructor(readonly options: LinkOptions, private readonly server: net.Server) {
    this.random = options.random ?? Math.random;
    server.on('connection', (client) => this.#accept(client));
  }

  static async open(options: LinkOptions): Promise<WanLink> {
    // Half-open both ways: a FIN is relayed after the bytes before it, not acted on early.
    const server = net.createServer({ noDelay: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listenPort ?? 0, options.listenHost, () => resolve());
    });
    return new WanLink(options, server);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get frozen(): boolean {
    return this.#cut === 'freeze';
  }

  get isCut(): boolean {
    return this.#cut !== null;
  }

  #accept(client: net.Socket): void {
    if (this.#cut) {
      // A cut link answers nothing: the connecting side sees a reset at once.
      this.stats.refused++;
      client.resetAndDestroy();
      return;
    }
    this.stats.connections++;
    // Held until the far side answers: bytes wait in the kernel, not in a queue bound to a dead target.
    client.pause();
    client.on('error', () => client.destroy());
    this.#connect(client, this.options.targets.length);
  }

  #connect(client: net.Socket, tries: number): void {
    const target = this.options.targets[this.#turn++ % this.options.targets.length]!;
    const upstream = net.connect({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true });
    const refused = () => {
      if (tries > 1 && !client.destroyed) this.#connect(client, tries - 1);
      else client.resetAndDestroy();
    };
    upstream.once('error', refused);
    upstream.once('connect', () => {
      upstream.off('error', refused);
      if (client.destroyed || this.#cut === 'drop') {
        upstream.destroy();
        if (!client.destroyed) client.resetAndDestroy();
        return;
      }
      this.#relay(client, upstream);
      client.resume();
    });
  }

  #relay(client: net.Socket, upstream: net.Socket): void {
    const pipes = [
      new Pipe(this, client, upstream, (n) => (this.stats.bytesUp += n)),
      new Pipe(this, upstream, client, (n) => (this.stats.bytesDown += n)),
    ];
    for (const pipe of pipes) this.#pipes.add(pipe);
    for (const socket of [client, upstream]) this.#sockets.add(socket);
    // An error (a reset) on either side ends both: the relay holds no half-dead pair.
    const close = () => {
      for (const pipe of pipes) {
        pipe.stop();
        this.#pipes.delete(pipe);
      }
      for (const socket of [client, upstream]) {
        this.#sockets.delete(socket);
        socket.destroy();
      }
    };
    for (const socket of [client, upstream]) {
      socket.on('error', close);
      // A clean close of one side leaves the other's queued bytes and FIN to arrive in their time.
      socket.on('close', () => {
        if (client.destroyed && upstream.destroyed) close();
      });
    }
  }

  /** Drop: every connection is reset now. Freeze: nothing moves until heal. New connections are refused either way. */
  cut(mode: CutMode): void {
    this.#cut = mode;
    if (mode === 'drop') for (const socket of [...this.#sockets]) socket.resetAndDestroy();
  }

  heal(): void {
    const wasFrozen = this.frozen;
    this.#cut = null;
    if (wasFrozen) for (const pipe of this.#pipes) pipe.flush();
  }

  async close(): Promise<void> {
    for (const socket of [...this.#sockets]) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
