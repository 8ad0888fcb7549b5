// Edges as real child processes (node bin/imgedge.js edge ...), on fixed ports
// so that a kill -9 and restart on the same cache dir is invisible to the
// clients' configuration. Everything an edge writes is scanned for warnings
// and errors, and an exit nobody asked for is recorded as a crash.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { exchange } from './client.js';

export interface EdgeSpec {
  readonly name: string;
  readonly bin: string;
  readonly port: number;
  readonly adminPort: number;
  readonly cacheDir: string;
  readonly cacheMaxBytes: number;
  /** Flags other than --listen, --admin-listen, --cache-dir and --cache-max-bytes. */
  readonly args: readonly string[];
}

export interface Crash {
  readonly at: number;
  readonly exit: string;
  readonly tail: string;
}

export class Edge {
  readonly pids: number[] = [];
  readonly crashes: Crash[] = [];
  /** Log lines at warn or above, by message. */
  readonly logged = new Map<string, { level: number; count: number; example: string }>();
  /** How the final SIGTERM went: exit code, or null if it needed SIGKILL. */
  finalExit: string | null = null;
  starts = 0;
  #child: ChildProcess | null = null;
  #exited: Promise<string> = Promise.resolve('not started');
  #expectExit = false;
  #queue: Promise<void> = Promise.resolve();
  readonly #tail: string[] = [];
  /** Called after an exit nobody asked for. */
  onCrash: ((edge: Edge) => void) | null = null;

  constructor(readonly spec: EdgeSpec) {}

  get url(): string {
    return `http://127.0.0.1:${this.spec.port}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.spec.adminPort}`;
  }

  /** The running process's pid, or undefined while it is down. */
  get pid(): number | undefined {
    const child = this.#child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** Lifecycle steps run one at a time: a crash restart never races a scheduled kill. */
  #serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step, step);
    this.#queue = run.then(() => {}, () => {});
    return run;
  }

  start(readyTimeoutMs = 30_000): Promise<void> {
    return this.#serial(() => (this.pid === undefined ? this.#start(readyTimeoutMs) : Promise.resolve()));
  }

  kill9(): Promise<void> {
    return this.#serial(() => this.#kill9());
  }

  /** SIGTERM (the drain), SIGKILL after `graceMs`; records how it ended. */
  stop(graceMs = 20_000): Promise<void> {
    return this.#serial(() => this.#stop(graceMs));
  }

  async #start(readyTimeoutMs: number): Promise<void> {
    const { spec } = this;
    const child = spawn(
      process.execPath,
      [
        spec.bin, 'edge', '--listen', `127.0.0.1:${spec.port}`, '--admin-listen', `127.0.0.1:${spec.adminPort}`,
        '--cache-dir', spec.cacheDir, '--cache-max-bytes', String(spec.cacheMaxBytes), ...spec.args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: withoutImgedgeVars(process.env) },
    );
    this.#child = child;
    this.#expectExit = false;
    this.starts++;
    if (child.pid !== undefined) this.pids.push(child.pid);
    let buffered = '';
    const onText = (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) this.#line(line);
    };
    child.stdout!.setEncoding('utf8').on('data', onText);
    child.stderr!.setEncoding('utf8').on('data', onText);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const exit = signal ?? `exit ${code}`;
        if (!this.#expectExit) {
          this.crashes.push({ at: Date.now(), exit, tail: this.#tail.slice(-20).join('\n') });
          this.onCrash?.(this);
        }
        resolve(exit);
      });
    });
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`edge ${spec.name} exited before it was ready:\n${this.#tail.join('\n')}`);
      const ready = await exchange(`${this.adminUrl}/readyz`, { timeoutMs: 1000 }).catch(() => null);
      if (ready?.status === 200) return;
      if (Date.now() > deadline) {
        await this.#kill9();
        throw new Error(`edge ${spec.name} not ready within ${readyTimeoutMs} ms:\n${this.#tail.join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async #kill9(): Promise<void> {
    if (this.pid === undefined) return;
    this.#expectExit = true;
    this.#child!.kill('SIGKILL');
    await this.#exited;
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.pid === undefined) return;
    this.#expectExit = true;
    this.#child!.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), graceMs)));
    const exit = await Promise.race([this.#exited, late]);
    clearTimeout(timer);
    this.finalExit = exit;
    if (exit === null) await this.#kill9();
  }

  /** Synchronous last resort (process exit): no waiting. */
  killNow(): void {
    this.#expectExit = true;
    if (this.pid !== undefined) this.#child!.kill('SIGKILL');
  }

  #line(line: string): void {
    if (!line.trim()) return;
    this.#tail.push(line.length > 2000 ? `${line.slice(0, 2000)}…` : line);
    if (this.#tail.length > 200) this.#tail.shift();
    let level = 50;
    let msg = line.slice(0, 200);
    try {
      const parsed = JSON.parse(line) as { level?: unknown; msg?: unknown; code?: unknown };
      level = typeof parsed.level === 'number' ? parsed.level : 50;
      msg = `${String(parsed.msg)}${typeof parsed.code === 'string' ? ` (${parsed.code})` : ''}`;
    } catch {
      // Not pino JSON: a stack trace or a crash message, the worst kind.
    }
    if (level < 40) return;
    const seen = this.logged.get(msg);
    if (seen) seen.count++;
    else this.logged.set(msg, { level, count: 1, example: line.slice(0, 1000) });
  }
}

/** Free TCP ports on 127.0.0.1, for edges that must come back on the same one. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function withoutImgedgeVars(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('IMGEDGE_')));
}
