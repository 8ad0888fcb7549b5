// One soak run: the origin, three edges as child processes, the clients, the
// writer, the purger, the fault schedule and the sampler, for a set time;
// then everything stopped and removed, whatever happened, and a report.
//
// Edges: A (big cache, never killed: its memory and fds tell leaks), B (small
// --cache-max-bytes: eviction all the time), C (big cache, the kill -9 target,
// restarted on the same cache dir and ports).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from './random.js';
import { Content } from './content.js';
import { Catalog } from './catalog.js';
import { SoakOrigin } from './origin.js';
import { Edge, freePorts } from './edges.js';
import { Sampler, diskUse } from './sampler.js';
import { Checker } from './checker.js';
import { client, writer, purger, type Activity, type WorkloadDeps } from './workload.js';
import { runFaults, emptyFaultLog } from './faults.js';
import { buildReport, type SoakReport } from './report.js';

export interface SoakOptions {
  readonly durationMs: number;
  readonly seed: number;
  readonly clients: number;
  readonly objects: number;
  readonly maxObjectBytes: number;
  readonly smallCacheBytes: number;
  readonly sampleEveryMs: number;
  /** A request with no end by then counts as hung. */
  readonly requestDeadlineMs: number;
  readonly log?: (line: string) => void;
  /** Aborting ends the run early (Ctrl-C); cleanup and the report still happen. */
  readonly signal?: AbortSignal;
}

export const DEFAULTS: SoakOptions = {
  durationMs: 60_000,
  seed: 1,
  clients: 32,
  objects: 3000,
  maxObjectBytes: 32 * 1024 * 1024,
  smallCacheBytes: 64 * 1024 * 1024,
  sampleEveryMs: 3000,
  requestDeadlineMs: 30_000,
};

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/imgedge.js');

/** Small on purpose: the shorter the freshness, the more revalidation and staleness the edges go through. */
export const TIMING = { maxAgeSec: 3, negativeTtlSec: 3, staleIfErrorSec: 3, originTimeoutMs: 1500, slackMs: 5000 };

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-soak-'));
  const rng = new Random(options.seed);
  const content = new Content(options.seed);
  // The longest legitimate origin transfer bounds how long an old version may still be on the wire.
  const transferMs = options.maxObjectBytes > 4 * 1024 * 1024 ? 20_000 : 5_000;
  const catalog = new Catalog(options.objects, options.maxObjectBytes, rng.fork(), Date.now(), { ...TIMING, transferMs });
  const origin = new SoakOrigin(catalog, content, rng.fork(), TIMING);
  const adminToken = `soak-${options.seed}`;
  const edges: Edge[] = [];
  const agents = new Map<Edge, http.Agent>();
  let shuttingDown = false;
  const killAll = () => edges.forEach((e) => e.killNow());
  process.on('exit', killAll);
  try {
    await origin.listen();
    const ports = await freePorts(6);
    const common = [
      '--origin', origin.url, '--admin-token', adminToken, '--log-level', 'warn',
      '--default-ttl', String(TIMING.maxAgeSec), '--negative-ttl', String(TIMING.negativeTtlSec),
      '--stale-if-error', String(TIMING.staleIfErrorSec), '--origin-timeout-ms', String(TIMING.originTimeoutMs),
    ];
    const specs = [
      { name: 'A', cacheBytes: 4 * 1024 ** 3 },
      { name: 'B', cacheBytes: options.smallCacheBytes },
      { name: 'C', cacheBytes: 4 * 1024 ** 3 },
    ];
    for (const [i, spec] of specs.entries()) {
      edges.push(new Edge({
        name: spec.name, bin: BIN, port: ports[2 * i]!, adminPort: ports[2 * i + 1]!,
        cacheDir: path.join(root, `cache-${spec.name}`), cacheMaxBytes: spec.cacheBytes, args: common,
      }));
    }
    const restarts: Promise<void>[] = [];
    for (const edge of edges) {
      edge.onCrash = (crashed) => {
        log(`edge ${crashed.spec.name} exited unexpectedly: ${crashed.crashes.at(-1)?.exit}`);
        if (!shuttingDown) restarts.push(new Promise((r) => setTimeout(r, 200)).then(() => crashed.start()).catch((e: unknown) => log(String(e))));
      };
    }
    await Promise.all(edges.map((e) => e.start()));
    for (const edge of edges) agents.set(edge, new http.Agent({ keepAlive: true, maxSockets: options.clients }));
    log(`origin ${origin.url}; edges ${edges.map((e) => `${e.spec.name}=${e.url}`).join(' ')}; ${catalog.objects.length} objects; ${options.durationMs / 1000} s`);

    const startedAt = Date.now();
    const deadline = startedAt + options.durationMs;
    const stopped = () => Date.now() >= deadline || options.signal?.aborted === true;
    const checker = new Checker(catalog, content, startedAt);
    const sampler = new Sampler(edges, startedAt);
    const activity: Activity = { overwrites: 0, deletes: 0, purges: 0, purgesRefused: 0, purgesUnreachable: 0, purgeErrors: [] };
    const faults = emptyFaultLog();
    const deps: WorkloadDeps = { catalog, checker, edges, agents, adminToken, requestDeadlineMs: options.requestDeadlineMs, stopped };
    await sampler.sample();
    sampler.start(options.sampleEveryMs);
    const progress = setInterval(() => log(`${Math.round((Date.now() - startedAt) / 1000)} s: ${JSON.stringify(checker.outcomes)}`), 30_000);
    try {
      await Promise.all([
        ...Array.from({ length: options.clients }, () => client(deps, rng.fork())),
        writer(deps, rng.fork(), activity, 100),
        purger(deps, rng.fork(), activity, 700),
        runFaults(origin, edges[2]!, rng.fork(), options.durationMs, faults, stopped),
      ]);
      await Promise.all(restarts);
    } finally {
      clearInterval(progress);
      sampler.stop();
    }
    await sampler.sample();
    const ranMs = Date.now() - startedAt;
    // Quiet now: deletes the edges started have had time to happen.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const disk = await Promise.all(edges.map((e) => diskUse(e)));
    shuttingDown = true;
    // SIGTERM: each edge drains and must exit 0.
    await Promise.all(edges.map((e) => e.stop()));
    return buildReport({ tempDir: root, options, startedAt, ranMs, catalog, checker, sampler, edges, disk, origin, activity, faults });
  } finally {
    shuttingDown = true;
    for (const agent of agents.values()) agent.destroy();
    await Promise.all(edges.map((e) => e.kill9().catch(() => {})));
    process.off('exit', killAll);
    await origin.stop().catch(() => {});
    fs.rmSync(root, { recursive: true, force: true });
  }
}
