// The three caches under test, each started the same way: a temp dir for its
// config, logs and (unless handed one) its cache; pinned to core 0; ready when
// it answers. imgedge keeps its defaults but for ports, cache dir and log
// level; nginx and Varnish get the smallest config that caches like it.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type http from 'node:http';
import { freePort, hasCommand, runSync, spawnPinned, tempDir, waitFor, type Proc } from './proc.js';
import { getText } from './client.js';

export type TargetName = 'imgedge' | 'nginx' | 'varnish';
export const TARGET_NAMES: readonly TargetName[] = ['imgedge', 'nginx', 'varnish'];

/** Caches run on this core; the origin and the load generator on the other. */
export const TARGET_CORE = 0;
export const LOAD_CORE = 1;

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const IMGEDGE_BIN = path.join(REPO, 'bin', 'imgedge.js');
/** The node flags on the bin's `#!/usr/bin/env -S node …` line: imgedge runs as its bin runs it. */
const IMGEDGE_NODE_FLAGS = fs.readFileSync(IMGEDGE_BIN, 'utf8').split('\n')[0]!.split(' ').filter((word) => word.startsWith('--'));

export interface StartOptions {
  readonly originPort: number;
  /** An existing cache dir (restarts); a fresh temp one otherwise. */
  readonly cacheDir?: string;
  /** imgedge only: 'warn' for the comparison, 'info' for its access log. */
  readonly logLevel?: 'warn' | 'info';
  /** imgedge only: --cache-max-bytes (default: imgedge's own). */
  readonly cacheMaxBytes?: string;
  /** imgedge only: options for node itself, e.g. --cpu-prof. */
  readonly nodeArgs?: readonly string[];
  /** imgedge only: the address and ports to listen on (replicas share ports on addresses of their own). */
  readonly host?: string;
  readonly port?: number;
  readonly adminPort?: number;
  /** imgedge only: further options, e.g. --peers. */
  readonly args?: readonly string[];
}

export interface Launched {
  readonly name: TargetName;
  readonly proc: Proc;
  /** Public base URL, http://127.0.0.1:PORT. */
  readonly base: string;
  /** Where readiness is asked: imgedge's /readyz, else a request passed to the origin. */
  readonly readyUrl: string;
  readonly adminBase: string | undefined;
  readonly cacheDir: string;
  readonly logFile: string;
  /** performance.now() just before the spawn. */
  readonly spawnedAt: number;
}

export interface Running extends Launched {
  /** Milliseconds from spawn to ready. */
  readonly readyMs: number;
  stop(): Promise<void>;
}

export function unavailableReason(name: TargetName): string | null {
  switch (name) {
    case 'imgedge':
      return fs.existsSync(path.join(REPO, 'dist', 'src', 'cli.js')) ? null : 'dist/src/cli.js missing (npm run build)';
    case 'nginx':
      return hasCommand('nginx') ? null : 'nginx not installed';
    case 'varnish':
      return hasCommand('varnishd') ? null : 'varnishd not installed';
  }
}

export function versionOf(name: TargetName): string {
  switch (name) {
    case 'imgedge':
      return `imgedge ${runSync(process.execPath, [IMGEDGE_BIN, '--version']).output}`;
    case 'nginx':
      return runSync('nginx', ['-v']).output.replace(/^nginx version:\s*/, '');
    case 'varnish':
      return /varnish-[\d.]+/.exec(runSync('varnishd', ['-V']).output)?.[0] ?? 'varnish (unknown version)';
  }
}

/** Whether a response came from the cache, as each cache tells it. */
export function isHit(name: TargetName, headers: http.IncomingHttpHeaders): boolean {
  switch (name) {
    case 'imgedge':
      return /^imgedge;\s*hit\b/.test(String(headers['cache-status'] ?? ''));
    case 'nginx':
      return headers['x-cache-status'] === 'HIT';
    case 'varnish':
      // X-Varnish carries two transaction ids on a hit: this one and the one that stored it.
      return /^\d+ \d+$/.test(String(headers['x-varnish'] ?? ''));
  }
}

/** What the report says about how each target was run. */
export function configNotes(): string[] {
  return [
    '- **imgedge**: `node bin/imgedge.js edge --log-level warn`, its defaults otherwise (`--cache-max-bytes 2GiB` for the big object); stdout to a file.',
    '- **imgedge (info log)**: the same at the default `--log-level info`: one JSON access-log line per request, to a file, as operators run it.',
    '- **nginx**: `master_process on; worker_processes 1;` `proxy_cache_path … levels=1:2 keys_zone=bench:64m max_size=2g use_temp_path=off`, ' +
      '`proxy_cache_lock on` (lock timeout and age at their 5 s defaults), `proxy_cache_valid 200 1h`, `proxy_buffering on`, ' +
      '`sendfile on`, `access_log off`, HTTP/1.1 keep-alive to the origin (`keepalive 64`). RSS is the sum over its processes.',
    '- **Varnish**: `varnishd -F -j none -a … -b <origin> -s malloc,2G` (`-j none`: no privilege-dropping jail, which works as root here), built-in VCL (streaming and request coalescing are its defaults). ' +
      'RSS is the sum of the manager and the cache child; malloc storage keeps every object in memory by design.',
  ];
}

function imgedgeEnv(): NodeJS.ProcessEnv {
  // The operator's own IMGEDGE_* settings must not leak into a benchmark.
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('IMGEDGE_')));
}

function nginxConfig(dir: string, cacheDir: string, port: number, originPort: number): string {
  // Workers default to nobody, who cannot write into a root-owned temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `# written by bench/targets.ts
${user}daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${dir}/tmp/client;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  proxy_cache_path ${cacheDir} levels=1:2 keys_zone=bench:64m max_size=2g inactive=1d use_temp_path=off;
  upstream origin {
    server 127.0.0.1:${originPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache bench;
      proxy_cache_lock on;
      proxy_cache_valid 200 1h;
      proxy_buffering on;
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }
}
`;
}

/** Spawns a target without waiting for it: the restart scenario times readiness itself. */
export async function launch(name: TargetName, options: StartOptions): Promise<Launched> {
  const dir = tempDir(name);
  const cacheDir = options.cacheDir ?? path.join(dir, 'cache');
  const logFile = path.join(dir, `${name}.log`);
  const port = options.port ?? (await freePort());
  const host = options.host ?? '127.0.0.1';
  const base = `http://${host}:${port}`;
  const origin = `127.0.0.1:${options.originPort}`;
  switch (name) {
    case 'imgedge': {
      const adminPort = options.adminPort ?? (await freePort());
      const args = [
        ...IMGEDGE_NODE_FLAGS, ...(options.nodeArgs ?? []), IMGEDGE_BIN, 'edge', '--origin', `http://${origin}`, '--listen', `${host}:${port}`,
        '--admin-listen', `${host}:${adminPort}`, '--cache-dir', cacheDir, '--log-level', options.logLevel ?? 'warn',
        ...(options.cacheMaxBytes ? ['--cache-max-bytes', options.cacheMaxBytes] : []), ...(options.args ?? []),
      ];
      const adminBase = `http://${host}:${adminPort}`;
      // node itself, not npx: the pid is the server's, for RSS and signals.
      const spawnedAt = performance.now();
      const proc = spawnPinned(name, process.execPath, args, { core: TARGET_CORE, logFile, env: imgedgeEnv() });
      return { name, proc, base, readyUrl: `${adminBase}/readyz`, adminBase, cacheDir, logFile, spawnedAt };
    }
    case 'nginx': {
      for (const sub of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) fs.mkdirSync(path.join(dir, 'tmp', sub), { recursive: true });
      fs.mkdirSync(cacheDir, { recursive: true });
      const conf = path.join(dir, 'nginx.conf');
      fs.writeFileSync(conf, nginxConfig(dir, cacheDir, port, options.originPort));
      const spawnedAt = performance.now();
      const proc = spawnPinned(name, 'nginx', ['-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'error.log')], {
        core: TARGET_CORE, logFile,
      });
      return { name, proc, base, readyUrl: `${base}/__ping`, adminBase: undefined, cacheDir, logFile, spawnedAt };
    }
    case 'varnish': {
      const args = ['-F', '-j', 'none', '-T', 'none', '-a', `127.0.0.1:${port}`, '-b', origin, '-n', path.join(dir, 'varnish'), '-s', 'malloc,2G'];
      const spawnedAt = performance.now();
      const proc = spawnPinned(name, 'varnishd', args, { core: TARGET_CORE, logFile });
      return { name, proc, base, readyUrl: `${base}/__ping`, adminBase: undefined, cacheDir: '(memory)', logFile, spawnedAt };
    }
  }
}

function logTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** Waits until the target answers 200 where readiness is asked; rejects if it exits first. */
export async function waitReady(target: Launched, timeoutMs = 30_000, intervalMs = 10): Promise<number> {
  let exited: string | null = null;
  void target.proc.exited.then((how) => (exited = how));
  const ready = await waitFor(async () => {
    if (exited) return Number.NaN; // ends the wait: it will never be ready
    const { status } = await getText(target.readyUrl, 2_000);
    return status === 200 ? performance.now() : null;
  }, timeoutMs, intervalMs);
  if (ready === null || exited) {
    await target.proc.stop('SIGKILL', 1_000);
    throw new Error(`${target.name} did not become ready (${exited ?? `not within ${timeoutMs} ms`}): ${logTail(target.logFile)}`);
  }
  return ready - target.spawnedAt;
}

/** The bare node:http server of bench/floor.ts on core 0: the ceiling of Node's HTTP layer. */
export async function startFloor(): Promise<Running> {
  const dir = tempDir('floor');
  const logFile = path.join(dir, 'floor.log');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const spawnedAt = performance.now();
  const proc = spawnPinned('node:http floor', process.execPath, [fileURLToPath(new URL('./floor.js', import.meta.url)), '--port', String(port)], {
    core: TARGET_CORE,
    logFile,
  });
  const launched: Launched = { name: 'imgedge', proc, base, readyUrl: `${base}/__ping`, adminBase: undefined, cacheDir: '(none)', logFile, spawnedAt };
  const readyMs = await waitReady(launched);
  return { ...launched, readyMs, stop: () => proc.stop() };
}

export async function startTarget(name: TargetName, options: StartOptions): Promise<Running> {
  const launched = await launch(name, options);
  const readyMs = await waitReady(launched);
  return { ...launched, readyMs, stop: () => launched.proc.stop() };
}
