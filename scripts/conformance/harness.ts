// Everything a conformance run needs, started and stopped as one: the suite's
// origin server (a child process), an imgedge edge in front of it (a child
// process, started the way an operator would), and the router the suite's
// client talks to. close() ends every one of them, whatever failed.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRouter, type Router } from './router.js';

/** The repository root (this file runs from dist/scripts/conformance/). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface HarnessOptions {
  /** Extra edge flags, after the harness's own. */
  readonly edgeArgs?: readonly string[];
  readonly logLevel?: string;
  readonly readyTimeoutMs?: number;
  /** A checkout of the suite whose server answers; the npm release when absent. */
  readonly suiteDir?: string;
}

export interface Harness {
  /** The base URL for the suite's client. */
  readonly baseUrl: string;
  readonly suiteUrl: string;
  readonly edgeUrl: string;
  readonly adminUrl: string;
  /** What the edge and the suite's server wrote, for a failure report. */
  output(): string;
  close(): Promise<void>;
}

interface Child {
  readonly process: ChildProcess;
  readonly output: () => string;
  stop(): Promise<void>;
}

function startChild(label: string, args: readonly string[]): Child {
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  // Bounded: a chatty child must not grow the harness without limit.
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-200_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.stdin!.on('error', () => {});
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    output: () => `--- ${label}\n${output}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin!.end();
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Waits for the suite server's {"port": N} line. */
function suitePort(child: Child, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`suite server not listening within ${timeoutMs} ms\n${child.output()}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /\{"port":(\d+)\}/.exec(buffered);
      if (!match) return;
      clearTimeout(timer);
      child.process.stdout!.off('data', onData);
      resolve(Number(match[1]));
    };
    child.process.stdout!.on('data', onData);
    child.process.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`suite server exited (${code}) before listening\n${child.output()}`));
    });
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls GET /readyz until 200: the contract's readiness signal. */
async function waitReady(adminUrl: string, edge: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (edge.process.exitCode !== null) throw new Error(`edge exited (${edge.process.exitCode})\n${edge.output()}`);
    try {
      const res = await fetch(`${adminUrl}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`edge not ready within ${timeoutMs} ms\n${edge.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-conformance-'));
  const here = path.dirname(fileURLToPath(import.meta.url));
  const children: Child[] = [];
  let router: Router | null = null;
  const close = async () => {
    await router?.close();
    await Promise.all(children.map((c) => c.stop()));
    fs.rmSync(cacheDir, { recursive: true, force: true });
  };
  try {
    const suite = startChild('suite server', [path.join(here, 'suite-server.js'), ...(options.suiteDir ? [options.suiteDir] : [])]);
    children.push(suite);
    const suiteUrl = `http://127.0.0.1:${await suitePort(suite, readyTimeoutMs)}`;

    const [listen, admin] = [await freePort(), await freePort()];
    // Tethered: the edge goes when this process does, however it ends.
    const edge = startChild('edge', [
      path.join(here, 'tether.js'), process.execPath, path.join(PROJECT_ROOT, 'bin', 'imgedge.js'), 'edge',
      '--origin', suiteUrl,
      '--listen', `127.0.0.1:${listen}`,
      '--admin-listen', `127.0.0.1:${admin}`,
      '--cache-dir', path.join(cacheDir, 'cache'),
      // freshness-none, on which most tests depend, wants nothing stored
      // without freshness or a validator.
      '--default-ttl', '0',
      '--log-level', options.logLevel ?? 'warn',
      ...(options.edgeArgs ?? []),
    ]);
    children.push(edge);
    const edgeUrl = `http://127.0.0.1:${listen}`;
    const adminUrl = `http://127.0.0.1:${admin}`;
    await waitReady(adminUrl, edge, readyTimeoutMs);

    router = await startRouter(suiteUrl, edgeUrl);
    return {
      baseUrl: router.url,
      suiteUrl,
      edgeUrl,
      adminUrl,
      output: () => children.map((c) => c.output()).join('\n'),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
