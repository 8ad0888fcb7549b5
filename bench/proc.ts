// Processes of a benchmark run: spawned pinned to a core, each in a process
// group of its own so that a stop reaches its workers too (nginx's worker,
// varnishd's cache child), and every one of them stopped, with every temp dir
// removed, however the run ends: normally, on an error, or on Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Proc {
  readonly name: string;
  /** The pid of the command itself: taskset execs it, so it is not taskset's. */
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited, with its code or signal. */
  readonly exited: Promise<string>;
  /** Whatever it wrote to stdout, when spawned with capture. */
  stdout(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  /** The core to pin to with taskset, or null to leave it unpinned. */
  readonly core: number | null;
  /** stdout and stderr go here (appended); without it they are discarded. */
  readonly logFile?: string;
  /** Collect stdout in memory (wrk's report). */
  readonly capture?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

const live = new Set<Proc>();
/** Every process group this run has started, for telling its CPU from others'. */
const groups = new Set<number>();
const tempDirs = new Set<string>();
/** Set once the run is being torn down: nothing new may start behind the cleanup's back. */
let closing = false;
let tasksetAvailable: boolean | null = null;

export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function canPin(): boolean {
  tasksetAvailable ??= hasCommand('taskset');
  return tasksetAvailable;
}

/** Runs everything unpinned (a one-core machine, or no taskset). */
export function disablePinning(): void {
  tasksetAvailable = false;
}

export function spawnPinned(name: string, command: string, args: readonly string[], options: SpawnOptions): Proc {
  if (closing) throw new Error(`not starting ${name}: the run is stopping`);
  const pinned = options.core !== null && canPin();
  const [file, argv] = pinned ? ['taskset', ['-c', String(options.core), command, ...args]] : [command, [...args]];
  const out = options.logFile ? fs.openSync(options.logFile, 'a') : 'ignore';
  let child: ChildProcess;
  try {
    child = spawn(file, argv, {
      // A group of its own: Ctrl-C in the terminal reaches only the harness,
      // which then stops each group in order instead of racing them.
      detached: true,
      stdio: ['ignore', options.capture ? 'pipe' : out, out],
      env: options.env ?? process.env,
    });
  } finally {
    if (typeof out === 'number') fs.closeSync(out);
  }
  let captured = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    captured += text;
  });
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`));
    child.once('error', (error) => resolve(`spawn error: ${error.message}`));
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  const pid = child.pid;
  let stopping: Promise<void> | null = null;
  const proc: Proc = {
    name,
    pid,
    child,
    exited,
    stdout: () => captured,
    stop: (signal = 'SIGTERM', graceMs = 10_000) =>
      (stopping ??= (async () => {
        killGroup(pid, signal);
        const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
        try {
          await exited;
        } finally {
          clearTimeout(timer);
        }
        // Workers may outlive a killed leader for a moment.
        killGroup(pid, 'SIGKILL');
        live.delete(proc);
      })()),
  };
  live.add(proc);
  groups.add(pid);
  void exited.then(() => {
    if (!stopping) live.delete(proc);
  });
  return proc;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export function ownGroups(): ReadonlySet<number> {
  return groups;
}

/** Runs a command to its end and returns its stdout and stderr together. */
export function runSync(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', env: env ?? process.env });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

/** Pins every thread of this process (the load generator) to `core`. */
export function pinSelf(core: number): boolean {
  return canPin() && runSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)]).ok;
}

/** A free port on 127.0.0.1: bound, read, released. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A temp dir removed when the run ends. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `imgedge-bench-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Resident set of a process and all its descendants, in bytes (0 once gone). */
export function treeRssBytes(rootPid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  let total = 0;
  const queue = [rootPid];
  while (queue.length) {
    const pid = queue.pop()!;
    total += rssBytes(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** A process's command name and the CPUs it may run on, to check the pinning took. */
export function describeProcess(pid: number): string {
  try {
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    const cpus = /^Cpus_allowed_list:\s*(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';
    return `pid ${pid} is \`${comm}\` on CPU ${cpus}`;
  } catch {
    return `pid ${pid} is gone`;
  }
}

function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples a process tree's RSS on a timer; the peak is what the scenario reports. */
export class RssSampler {
  readonly #timer: NodeJS.Timeout;
  peak = 0;
  samples = 0;

  constructor(private readonly pid: number, intervalMs = 50) {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): void {
    this.peak = Math.max(this.peak, treeRssBytes(this.pid));
    this.samples++;
  }

  stop(): { peak: number; samples: number } {
    clearInterval(this.#timer);
    this.#sample();
    return { peak: this.peak, samples: this.samples };
  }
}

/** Stops every live process and removes every temp dir. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...live].map((proc) => proc.stop('SIGTERM', 5_000)));
  for (const dir of [...tempDirs]) removeTempDir(dir);
}

/**
 * Ctrl-C, SIGTERM, an uncaught error or a plain exit all end in cleanup. The
 * synchronous 'exit' hook is the last resort: it can only SIGKILL, not wait.
 */
export function installCleanup(log: (line: string) => void): void {
  let cleaning = false;
  const bail = (why: string, code: number) => {
    if (cleaning) return;
    cleaning = true;
    closing = true;
    log(`${why}: stopping ${live.size} process(es) and removing temp dirs`);
    void cleanupAll().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => bail('interrupted', 130));
  process.once('SIGTERM', () => bail('terminated', 143));
  process.on('uncaughtException', (error) => {
    log(`uncaught error: ${error.stack ?? error.message}`);
    bail('error', 1);
  });
  process.on('unhandledRejection', (error) => {
    log(`unhandled rejection: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    bail('error', 1);
  });
  process.on('exit', () => {
    for (const proc of live) killGroup(proc.pid, 'SIGKILL');
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  });
}

/** Polls `probe` until it returns a value or `timeoutMs` passes. */
export async function waitFor<T>(probe: () => Promise<T | null>, timeoutMs: number, intervalMs = 10): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() >= deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
