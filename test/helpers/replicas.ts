// Replica groups for tests: real edge processes peering on loopback. Each
// replica gets its own address (127.0.0.1, .2, .3...) and every replica the
// same two ports, as the pods of a Deployment do: a replica's peers, and its
// admin port for purges, are then known before any of them starts.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { spawnEdge, tempDir, type EdgeProcess } from './edge.js';
import { ownerOf } from '../../src/peers/ring.js';

export interface ReplicaGroup {
  readonly replicas: EdgeProcess[];
  /** The replicas' URLs, as --peers names them. */
  readonly urls: string[];
  close(): Promise<void>;
}

function hostOf(i: number): string {
  return `127.0.0.${i + 1}`;
}

async function bindable(host: string, port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A port free on every one of `hosts`, found by asking the first for any, then trying the rest. */
export async function portFreeOn(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = net.createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, hosts[0], () => resolve((server.address() as net.AddressInfo).port));
    });
    await new Promise((resolve) => server.close(resolve));
    const free = await Promise.all(hosts.map((h) => bindable(h, port)));
    if (free.every(Boolean)) return port;
  }
  throw new Error('no port free on every replica address');
}

/** A group's addresses, chosen before any replica starts, for tests that start each one themselves (late, or again). */
export interface ReplicaPlan {
  readonly dir: string;
  /** The replicas' URLs, as --peers names them. */
  readonly urls: string[];
  /** `imgedge edge` arguments for replica i, peering with the others. */
  argsOf(i: number, origin: string, extra?: string[]): string[];
}

export async function planReplicas(hosts: string[], name: string): Promise<ReplicaPlan> {
  const dir = tempDir(name);
  const port = await portFreeOn(hosts);
  const adminPort = await portFreeOn(hosts);
  const urls = hosts.map((host) => `http://${host}:${port}`);
  return {
    dir,
    urls,
    argsOf: (i, origin, extra = []) => [
      'edge', '--origin', origin, '--listen', `${hosts[i]}:${port}`, '--admin-listen', `${hosts[i]}:${adminPort}`,
      '--cache-dir', path.join(dir, `r${i}`), '--peers', urls.join(','), ...extra,
    ],
  };
}

/** `origin` is every replica's, or one per replica. */
export async function startReplicas(count: number, origin: string | readonly string[], args: string[] = []): Promise<ReplicaGroup> {
  const hosts = Array.from({ length: count }, (_, i) => hostOf(i));
  const dir = tempDir('replicas');
  // A port found free may be taken before the replicas bind it: then all start again.
  for (let attempt = 0; ; attempt++) {
    const port = await portFreeOn(hosts);
    const adminPort = await portFreeOn(hosts);
    const urls = hosts.map((h) => `http://${h}:${port}`);
    const started = await Promise.allSettled(
      hosts.map((host, i) =>
        spawnEdge([
          'edge', '--origin', typeof origin === 'string' ? origin : origin[i]!, '--listen', `${host}:${port}`, '--admin-listen', `${host}:${adminPort}`,
          '--cache-dir', path.join(dir, `r${i}-${attempt}`), '--peers', urls.join(','), '--admin-token', 'peer-test-token', ...args,
        ]),
      ),
    );
    const replicas = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (!failed) {
      return {
        replicas,
        urls,
        close: async () => {
          for (const r of replicas) r.kill('SIGKILL');
          await Promise.all(replicas.map((r) => r.exited));
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    for (const r of replicas) r.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
    if (attempt >= 2 || !String(failed.reason).includes('EADDRINUSE')) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw failed.reason;
    }
  }
}

/** The sum of a metric's samples matching `labels`, scraped from a process's admin port. */
export async function scrape(adminUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) sum += Number(match[3]);
  }
  return sum;
}

/** A path `owner` owns among `members`, which `next` owns when `owner` is left out. */
export function keyOwnedThenTaken(members: readonly string[], owner: string, next: string, prefix: string): string {
  for (let i = 0; ; i++) {
    const target = `/${prefix}-${i}.jpg`;
    if (ownerOf(target, members) === owner && ownerOf(target, members.filter((m) => m !== owner)) === next) return target;
  }
}
