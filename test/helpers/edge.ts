// Edges for tests: in this process (startTestEdge) or as a real child process
// (spawnEdge), on 127.0.0.1 and free ports, with a fresh cache dir.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseEdgeConfig } from '../../src/config.js';
import { startEdge, type RunningEdge } from '../../src/edge/server.js';
import type { FollowerTiming } from '../../src/changelog/follower.js';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(PROJECT_ROOT, 'bin', 'imgedge.js');

const made: string[] = [];

/** A fresh dir under the OS's temp dir, removed when this test file's process exits, however its tests ended. */
export function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `imgedge-test-${label}-`));
  if (made.length === 0) process.once('exit', () => {
    for (const each of made) fs.rmSync(each, { recursive: true, force: true });
  });
  made.push(dir);
  return dir;
}

export interface TestEdge {
  readonly url: string;
  readonly adminUrl: string;
  readonly cacheDir: string;
  readonly edge: RunningEdge;
  close(): Promise<void>;
}

function urlOf(address: string | AddressInfo | null): string {
  if (!address || typeof address === 'string') throw new Error('not listening on TCP');
  return `http://127.0.0.1:${address.port}`;
}

export async function startTestEdge(
  origin: string,
  options: { args?: string[]; cacheDir?: string; now?: () => number; changelogTiming?: Partial<FollowerTiming> } = {},
): Promise<TestEdge> {
  const ownDir = options.cacheDir === undefined ? tempDir('edge') : null;
  const cacheDir = options.cacheDir ?? path.join(ownDir!, 'cache');
  const config = parseEdgeConfig(
    ['--origin', origin, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--cache-dir', cacheDir, '--log-level', 'silent', ...(options.args ?? [])],
    {},
  );
  const edge = await startEdge(config, { now: options.now, changelogTiming: options.changelogTiming });
  return {
    url: urlOf(edge.publicApp.server.address()),
    adminUrl: urlOf(edge.adminApp.server.address()),
    cacheDir,
    edge,
    close: async () => {
      await edge.close();
      if (ownDir) fs.rmSync(ownDir, { recursive: true, force: true });
    },
  };
}

export interface EdgeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminUrl: string;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** An `imgedge` child process that has logged it is ready, and what that line said. */
export interface ReadyProcess<Line> {
  readonly child: ChildProcess;
  readonly ready: Line;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Runs `imgedge <args>` as a child process, with no IMGEDGE_* variable but
 * `env`'s, and resolves once it logs `message` (its JSON line parsed).
 */
export function spawnReady<Line>(
  args: string[],
  message: string,
  { env = {}, readyTimeoutMs = 20_000 }: { env?: Record<string, string>; readyTimeoutMs?: number } = {},
): Promise<ReadyProcess<Line>> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...withoutImgedgeVars(process.env), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${message} not logged within ${readyTimeoutMs} ms:\n${output}`));
    }, readyTimeoutMs);
    const onLine = (text: string) => {
      output += text;
      for (const line of text.split('\n')) {
        if (!line.includes(`"${message}"`)) continue;
        clearTimeout(timer);
        resolve({
          child,
          ready: JSON.parse(line) as Line,
          output: () => output,
          exited,
          kill: (signal = 'SIGKILL') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          },
        });
      }
    };
    child.stdout!.on('data', (chunk: Buffer) => onLine(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${signal ?? code}) before "${message}":\n${output}`));
    });
  });
}

/** Runs `imgedge <args>` as a child process and resolves once it logs "edge ready". */
export async function spawnEdge(args: string[], options: { env?: Record<string, string>; readyTimeoutMs?: number } = {}): Promise<EdgeProcess> {
  const edge = await spawnReady<{ listen: AddressInfo; admin: AddressInfo }>(args, 'edge ready', options);
  const { listen, admin } = edge.ready;
  return { ...edge, url: `http://${listen.address}:${listen.port}`, adminUrl: `http://${admin.address}:${admin.port}` };
}

/** Runs `imgedge <args>` to its exit: for the configuration errors. */
export function runToExit(args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...withoutImgedgeVars(process.env), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function withoutImgedgeVars(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('IMGEDGE_')));
}

/** A clock a test moves by hand. */
export class TestClock {
  #now = Date.now();
  readonly now = (): number => this.#now;
  advance(seconds: number): void {
    this.#now += seconds * 1000;
  }
}

/** Polls `probe` until it returns a truthy value; fails after `ms`. */
export async function until<T>(probe: () => T | Promise<T>, what: string, ms = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The sum of a metric's samples (all label sets) in this edge's registry. */
export async function metricValue(edge: RunningEdge, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = edge.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
    .filter((v) => !('metricName' in v) || v.metricName === name)
    .reduce((sum, v) => sum + v.value, 0);
}
