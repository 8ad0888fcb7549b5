// One simulation run: a catalog of objects at the origin, the fleet, reads in
// every edge IDC for the set time, one edge IDC cut off and healed in the
// middle, then the report. What the fleet cannot do yet (writes, a change
// log) is reported as not measured, with the reason, never as a number.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Fleet } from './fleet.js';
import { Workload, type CatalogEntry, type Read } from './workload.js';
import { buildReport, Tally, type SimReport } from './report.js';
import { Random } from '../soak/random.js';

export interface SimOptions {
  /** Edge IDCs; the origin IDC comes on top. */
  readonly idcs: number;
  readonly durationMs: number;
  readonly rttMs: readonly [number, number];
  readonly lossPct: number;
  /** How long the last edge IDC is cut off, from a third of the run. */
  readonly cutMs: number;
  readonly readsPerSec: number;
  readonly objects: number;
  readonly replicas: number;
  readonly seed: number;
  readonly allowNetns: boolean;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
}

export const DEFAULTS: SimOptions = {
  idcs: 9,
  durationMs: 5 * 60_000,
  rttMs: [20, 80],
  lossPct: 0.5,
  cutMs: 30_000,
  readsPerSec: 200,
  objects: 1000,
  replicas: 3,
  seed: 1,
  allowNetns: true,
  log: () => {},
};

/** Objects of 2 KiB to 256 KiB, log-uniform: as many small as large per octave. */
async function makeCatalog(dir: string, count: number, random: Random): Promise<CatalogEntry[]> {
  await fsp.mkdir(path.join(dir, 'o'), { recursive: true });
  const catalog: CatalogEntry[] = [];
  for (let k = 0; k < count; k++) {
    const body = randomBytes(random.logUniform(2048, 256 * 1024));
    const name = `/o/${k}.bin`;
    await fsp.writeFile(path.join(dir, name), body);
    catalog.push({ path: name, size: body.length, sha: createHash('sha256').update(body).digest('hex') });
  }
  return catalog;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export async function runSim(options: SimOptions): Promise<SimReport> {
  const random = new Random(options.seed);
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-sim-'));
  const startedAt = new Date();
  options.log(`work dir ${tempDir}`);
  let fleet: Fleet | undefined;
  try {
    const catalog = await makeCatalog(path.join(tempDir, 'origin'), options.objects, random.fork());
    fleet = await Fleet.start({ ...options, dir: tempDir, originDir: path.join(tempDir, 'origin'), random: random.fork() });
    const tallies = fleet.idcs.map(() => new Tally());
    const cutIdc = fleet.idcs.length - 1;
    const partition = { idc: fleet.idcs[cutIdc]!.name, mechanism: '', cutAt: 0, healAt: 0 };
    const onRead = (read: Read) => {
      const during = partition.cutAt > 0 && read.startedAt >= partition.cutAt && (partition.healAt === 0 || read.startedAt < partition.healAt);
      tallies[read.idc]!.add(read, catalog[read.object]!.size, during);
    };
    const workload = new Workload(fleet.idcs.map((idc) => idc.edges.map((e) => e.url)), catalog, {
      readsPerSec: options.readsPerSec, maxInFlight: 64, timeoutMs: 15_000, random: random.fork(),
    }, onRead);
    const began = Date.now();
    workload.start();
    options.log(`reads: ${options.readsPerSec}/s in each of ${fleet.idcs.length} edge IDCs for ${options.durationMs / 1000} s`);
    const cutFrom = Math.floor(options.durationMs / 3);
    const cutMs = Math.min(options.cutMs, options.durationMs - cutFrom - 1000);
    await sleep(cutFrom, options.signal);
    if (!options.signal?.aborted && cutMs > 0) {
      partition.mechanism = await fleet.cut(fleet.idcs[cutIdc]!);
      partition.cutAt = Date.now();
      options.log(`cut ${partition.idc} off for ${cutMs / 1000} s: ${partition.mechanism}`);
      await sleep(cutMs, options.signal);
      await fleet.heal(fleet.idcs[cutIdc]!);
      partition.healAt = Date.now();
      options.log(`healed ${partition.idc}`);
    }
    await sleep(began + options.durationMs - Date.now(), options.signal);
    await workload.stop();
    const endedAt = Date.now();
    return buildReport({
      options, startedAt, elapsedMs: endedAt - began, network: fleet.network, idcs: fleet.idcs, tallies, partition,
      skipped: workload.skipped, aborted: options.signal?.aborted ?? false,
    });
  } finally {
    await fleet?.close();
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}
