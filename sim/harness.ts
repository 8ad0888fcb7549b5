// One simulation run: the origin IDC and its first uploads, the edge IDCs,
// reads alone for a warm-up (every edge starts empty: their first misses all
// come at once, while 40 cold processes share the machine), then for the set
// time reads in every edge IDC, uploads and overwrites at the origin (each
// overwrite timed to every edge), and the scheduled faults:
// a Redis replica restarted, an edge killed and restarted, one edge IDC cut
// off and healed, an origin replica killed and restarted. Then the report.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Catalog } from './catalog.js';
import { Fleet, UPLOAD_TOKEN, type EdgeIdc } from './fleet.js';
import { InvalidationProbes } from './invalidation.js';
import { Uploader } from './uploader.js';
import { Workload, Zipf, type Read } from './workload.js';
import { buildReport, type FaultRecord, type SimReport } from './report.js';
import { Random } from '../soak/random.js';

export interface SimOptions {
  /** Edge IDCs; the origin IDC comes on top. */
  readonly idcs: number;
  readonly durationMs: number;
  /** Reads alone before the writes, the faults and the run's clock start. */
  readonly warmUpMs: number;
  readonly rttMs: readonly [number, number];
  readonly lossPct: number;
  /** How long the last edge IDC is cut off, from a third of the run. */
  readonly cutMs: number;
  readonly readsPerSec: number;
  /** Uploads and overwrites per second at the origin, together. */
  readonly writesPerSec: number;
  readonly objects: number;
  readonly replicas: number;
  readonly originReplicas: number;
  readonly seed: number;
  readonly allowNetns: boolean;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
}

export const DEFAULTS: SimOptions = {
  idcs: 9,
  durationMs: 5 * 60_000,
  warmUpMs: 30_000,
  rttMs: [20, 80],
  lossPct: 0.5,
  cutMs: 30_000,
  readsPerSec: 200,
  writesPerSec: 2,
  objects: 1000,
  replicas: 3,
  originReplicas: 2,
  seed: 1,
  allowNetns: true,
  log: () => {},
};

/** One write in four is a new object; the rest overwrite one already read (Zipf: the hot ones most). */
const NEW_SHARE = 0.25;
/** How long writes still being served are waited for at the end. */
const SETTLE_MS = 10_000;

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function inParallel(count: number, width: number, work: (k: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await work(next++);
  }));
}

export async function runSim(options: SimOptions): Promise<SimReport> {
  const random = new Random(options.seed);
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-sim-'));
  const startedAt = new Date();
  options.log(`work dir ${tempDir}`);
  const catalog = new Catalog(random.fork());
  let uploader: Uploader | undefined;
  let fleet: Fleet | undefined;
  try {
    const fleetRandom = random.fork();
    fleet = await Fleet.start({ ...options, dir: tempDir, random: fleetRandom }, async (origins) => {
      uploader = new Uploader(origins, UPLOAD_TOKEN);
      const began = Date.now();
      await inParallel(options.objects, 8, async (k) => {
        const body = catalog.body();
        const version = catalog.add(k, body);
        const ack = await uploader!.put(catalog.entries[k]!.path, body);
        if (!ack) throw new Error(`the first upload of ${catalog.entries[k]!.path} was not acknowledged`);
        version.ackedAt = ack.ackedAt;
      });
      catalog.initial = options.objects;
      options.log(`uploaded ${options.objects} objects in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    });
    const idcs = fleet.idcs;
    const reads: Read[] = [];
    const onRead = (read: Read) => reads.push(read);
    const probes = new InvalidationProbes(idcs, catalog, onRead);
    const workload = new Workload(idcs, catalog, { readsPerSec: options.readsPerSec, maxInFlight: 64, timeoutMs: 15_000, random: random.fork() }, onRead);

    // Writes: an open loop at the set rate, never two at once to one object.
    const writeRandom = random.fork();
    const zipf = new Zipf(catalog.initial);
    const writing = new Set<number>();
    const openWrites = new Set<Promise<void>>();
    const write = () => {
      let object = catalog.entries.length;
      if (!writeRandom.chance(NEW_SHARE)) {
        object = zipf.sample(writeRandom.next());
        if (writing.has(object)) return;
      }
      writing.add(object);
      const body = catalog.body();
      const version = catalog.add(object, body);
      const index = catalog.entries[object]!.versions.length - 1;
      const done = uploader!.put(catalog.entries[object]!.path, body).then((ack) => {
        if (!ack) return;
        version.ackedAt = ack.ackedAt;
        version.etag = ack.etag;
        if (index > 0) probes.track(object, index, ack.ackedAt);
      }).finally(() => {
        writing.delete(object);
        openWrites.delete(done);
      });
      openWrites.add(done);
    };

    workload.start();
    if (options.warmUpMs > 0) options.log(`warm-up: reads alone for ${options.warmUpMs / 1000} s`);
    await sleep(options.warmUpMs, options.signal);
    const began = Date.now();
    const writer = setInterval(write, 1000 / options.writesPerSec);
    options.log(`reads: ${options.readsPerSec}/s in each of ${idcs.length} edge IDCs, writes: ${options.writesPerSec}/s, for ${options.durationMs / 1000} s`);

    const faults: FaultRecord[] = [];
    const at = (share: number) => began + options.durationMs * share;
    const downMs = Math.min(10_000, options.durationMs / 10);
    const pick = (n: number): EdgeIdc => idcs[n % idcs.length]!;
    const cutIdc = idcs[idcs.length - 1]!;
    const partition = { idc: cutIdc.name, mechanism: '', cutAt: 0, healAt: 0 };
    const schedule = async () => {
      const signal = options.signal;
      await sleep(at(0.15) - Date.now(), signal);
      if (signal?.aborted) return;
      const redisIdc = pick(0);
      const redisAt = Date.now();
      await fleet!.restartRedis(redisIdc);
      faults.push({ kind: 'redis-replica-restart', idc: redisIdc.name, target: `${redisIdc.name}-redis`, at: redisAt, backAt: Date.now(), how: 'SIGTERM (it writes its RDB), started again over it, waited until its link to the primary was up' });
      options.log(`restarted ${redisIdc.name}'s Redis replica in ${Date.now() - redisAt} ms`);

      await sleep(at(0.25) - Date.now(), signal);
      if (signal?.aborted) return;
      const edgeIdc = pick(Math.min(1, idcs.length - 1));
      const edge = edgeIdc.edges[0]!;
      const killedAt = Date.now();
      fleet!.killEdge(edge);
      options.log(`killed ${edge.name}`);
      await sleep(downMs, signal);
      await fleet!.restartEdge(edge);
      faults.push({ kind: 'edge-killed', idc: edgeIdc.name, target: edge.name, at: killedAt, backAt: Date.now(), how: `SIGKILL, out of the load balancer at once, started again over its cache dir ${downMs / 1000} s later` });
      options.log(`restarted ${edge.name}`);

      const cutMs = Math.min(options.cutMs, options.durationMs * 0.4);
      await sleep(at(1 / 3) - Date.now(), signal);
      if (signal?.aborted || cutMs <= 0) return;
      partition.mechanism = await fleet!.cut(cutIdc);
      partition.cutAt = Date.now();
      options.log(`cut ${partition.idc} off for ${cutMs / 1000} s: ${partition.mechanism}`);
      // A timer may fire a millisecond before Date.now() says its time has come: the cut lasts its whole time.
      while (!signal?.aborted && Date.now() < partition.cutAt + cutMs) await sleep(partition.cutAt + cutMs - Date.now(), signal);
      await fleet!.heal(cutIdc);
      partition.healAt = Date.now();
      probes.healed(cutIdc, partition.healAt);
      options.log(`healed ${partition.idc}`);

      await sleep(at(0.8) - Date.now(), signal);
      if (signal?.aborted) return;
      const origin = fleet!.origins[fleet!.origins.length - 1]!;
      const originAt = Date.now();
      const retriesBefore = uploader!.retries;
      fleet!.killOrigin(origin);
      options.log(`killed origin${fleet!.origins.length - 1}`);
      await sleep(downMs, signal);
      await fleet!.restartOrigin(origin);
      faults.push({
        kind: 'origin-killed', idc: 'origin', target: `origin${fleet!.origins.length - 1}`, at: originAt, backAt: Date.now(),
        how: `SIGKILL, started again ${downMs / 1000} s later; uploads retried elsewhere: ${uploader!.retries - retriesBefore}`,
      });
      options.log(`restarted origin${fleet!.origins.length - 1}`);
    };
    const scheduled = schedule();
    await sleep(began + options.durationMs - Date.now(), options.signal);
    clearInterval(writer);
    await Promise.all(openWrites);
    await scheduled;
    // The last writes are given time to reach every edge while the readers go on.
    await probes.settle(options.signal?.aborted ? 0 : SETTLE_MS);
    await workload.stop();
    const endedAt = Date.now();
    const counters = await Promise.all(idcs.map((idc) => fleet!.counters(idc)));
    await fleet.links.readFigures();
    return buildReport({
      options, startedAt, began, elapsedMs: endedAt - began, network: fleet.network, idcs, catalog, reads, writes: probes.writes, partition, faults, counters,
      skipped: workload.skipped, uploadFailures: uploader!.failures, aborted: options.signal?.aborted ?? false, bucketReads: fleet.bucket.reads,
    });
  } finally {
    await uploader?.close();
    await fleet?.close();
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}
