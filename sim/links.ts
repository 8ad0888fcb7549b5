// The fleet's side of the WAN links, which run in a process of their own
// (link-host.ts): open one, cut and heal it, and read its figures for the
// report. A seed stands for the link's source of jitter and loss, so a run's
// draws are what they were in one process.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CutMode, LinkOptions, LinkStats } from './link.js';

const HOST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'link-host.js');

export type RemoteLinkOptions = Omit<LinkOptions, 'random'> & { readonly seed: number };

export type LinkCommand =
  | { readonly op: 'open'; readonly options: RemoteLinkOptions }
  | { readonly op: 'cut'; readonly link: number; readonly mode: CutMode }
  | { readonly op: 'heal'; readonly link: number }
  | { readonly op: 'figures' }
  | { readonly op: 'close' };

export type HostRequest = LinkCommand & { readonly id: number };

interface LinkFigures {
  readonly stats: LinkStats;
  readonly stallsAt: number[];
}

export interface HostReply {
  readonly id: number;
  readonly error?: string;
  readonly port?: number;
  readonly link?: number;
  readonly figures?: LinkFigures[];
}

/** A link as the fleet and the report see it; `stats` and `stallsAt` are as of the last `LinkHost.readFigures()`. */
export class RemoteLink {
  stats: LinkStats = { connections: 0, refused: 0, bytesDown: 0, bytesUp: 0, chunks: 0, stalls: 0 };
  /** When each stalled chunk was read (the machine's clock, as the harness's). */
  stallsAt: number[] = [];

  constructor(
    private readonly host: LinkHost,
    readonly index: number,
    readonly port: number,
  ) {}

  /** Drop: every connection is reset now. Freeze: nothing moves until heal. New connections are refused either way. */
  async cut(mode: CutMode): Promise<void> {
    await this.host.ask({ op: 'cut', link: this.index, mode });
  }

  async heal(): Promise<void> {
    await this.host.ask({ op: 'heal', link: this.index });
  }
}

export class LinkHost {
  readonly #links: RemoteLink[] = [];
  readonly #waiting = new Map<number, { resolve: (reply: HostReply) => void; reject: (error: Error) => void }>();
  #next = 0;

  private constructor(
    private readonly child: ChildProcess,
    /** How the host runs: its niceness, or why it could not raise its priority. */
    readonly priority: string,
  ) {
    child.on('message', (reply: HostReply) => {
      const waiter = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (reply.error) waiter?.reject(new Error(`link host: ${reply.error}`));
      else waiter?.resolve(reply);
    });
    child.once('exit', (code, signal) => {
      for (const waiter of this.#waiting.values()) waiter.reject(new Error(`link host exited (${signal ?? code})`));
      this.#waiting.clear();
    });
  }

  static async start(): Promise<LinkHost> {
    const child = fork(HOST, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const priority = await new Promise<string>((resolve, reject) => {
      child.once('message', (message: { ready: string }) => resolve(message.ready));
      child.once('exit', (code) => reject(new Error(`link host exited at start (${code})`)));
    });
    return new LinkHost(child, priority);
  }

  ask(command: LinkCommand): Promise<HostReply> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.child.send({ ...command, id });
    });
  }

  async open(options: RemoteLinkOptions): Promise<RemoteLink> {
    const reply = await this.ask({ op: 'open', options });
    const link = new RemoteLink(this, reply.link!, reply.port!);
    this.#links.push(link);
    return link;
  }

  /** Brings every link's stats and stalls up to now. */
  async readFigures(): Promise<void> {
    const { figures } = await this.ask({ op: 'figures' });
    for (const [i, link] of this.#links.entries()) {
      link.stats = figures![i]!.stats;
      link.stallsAt = figures![i]!.stallsAt;
    }
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.ask({ op: 'close' }).catch(() => undefined);
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }

  killNow(): void {
    this.child.kill('SIGKILL');
  }
}
