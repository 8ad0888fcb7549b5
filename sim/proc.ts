// A child process of the simulation, run inside its IDC (the place's command
// prefix), with its output kept: the last lines for the report when it dies
// early, and every line to a listener (the origin's fetch log).
import { spawn, type ChildProcess } from 'node:child_process';

// Children die with the simulation, however it ends.
const running = new Set<Proc>();
process.once('exit', () => {
  for (const proc of running) proc.killNow();
});

export class Proc {
  readonly tail: string[] = [];
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly command: readonly string[],
    /** Every line of its output; one it returns true for is not kept in the tail (the fetch log). */
    private readonly onLine: (line: string) => boolean | void = () => {},
    /** Added to the environment it inherits (credentials). */
    private readonly extraEnv: Readonly<Record<string, string>> = {},
  ) {}

  get pid(): number | undefined {
    const child = this.#child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  start(): void {
    const [file, ...args] = this.command;
    // Only the variables a child needs: an IMGEDGE_* of the caller's must not change an edge's flags.
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('IMGEDGE_'))), ...this.extraEnv };
    // A restart is waited for on its own lines, not on the last life's.
    this.tail.length = 0;
    const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.#child = child;
    running.add(this);
    this.#exited = new Promise((resolve) => child.once('exit', () => {
      running.delete(this);
      resolve();
    }));
    let buffered = '';
    const onText = (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (this.onLine(line) === true) continue;
        this.tail.push(line.slice(0, 1000));
        if (this.tail.length > 50) this.tail.shift();
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onText);
    child.stderr!.setEncoding('utf8').on('data', onText);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.pid === undefined) return;
    this.#child!.kill('SIGTERM');
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort at process exit. */
  killNow(): void {
    if (this.pid !== undefined) this.#child!.kill('SIGKILL');
  }
}

/** Polls `url` until it answers 200, the process dies, or the time is up. */
export async function waitReady(proc: Proc, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.pid === undefined) throw new Error(`${proc.name} exited before it was ready:\n${proc.tail.join('\n')}`);
    const status = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => 0);
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} not ready within ${timeoutMs} ms:\n${proc.tail.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
