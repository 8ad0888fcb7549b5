// g. Peers: a 3-replica IDC under a Zipf workload (requests round-robin over
// the replicas, as a Service spreads them), once as three lone caches and once
// peering. What matters is how many fetches reach the origin (goal: one per
// distinct object) and the bytes that cross between replicas instead; then
// what a hit costs when it is served through its owner rather than locally.
import http from 'node:http';
import { objectPath } from '../origin.js';
import { getText, percentile, timedGet } from '../client.js';
import { freePort } from '../proc.js';
import { startTarget, type Running } from '../targets.js';
import { fmt, goal, mib, ratio, type ScenarioReport } from '../report.js';
import { errorText, warmUp, WARM_MISSES, type Context } from './context.js';
import { ownerOf } from '../../src/peers/ring.js';

const REPLICAS = 3;
const SIZE = 16 * 1024;
const CONCURRENCY = 16;
const SKEW = 1; // Zipf's s: the k-th most popular object is asked 1/k as often as the first

/** A seeded PRNG (mulberry32): both runs ask for the same objects in the same order. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function zipfSequence(requests: number, objects: number, seed: number): number[] {
  const weights = Array.from({ length: objects }, (_, k) => 1 / (k + 1) ** SKEW);
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let sum = 0;
  for (const w of weights) cumulative.push((sum += w / total));
  const next = random(seed);
  return Array.from({ length: requests }, () => {
    const r = next();
    let lo = 0;
    let hi = objects - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  });
}

async function scrape(adminBase: string, name: string, labels = ''): Promise<number> {
  const { body } = await getText(`${adminBase}/metrics`);
  let sum = 0;
  for (const line of body.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) if (line.includes(labels)) sum += Number(line.split(' ').pop());
  return sum;
}

async function startIdc(ctx: Context, peered: boolean): Promise<Running[]> {
  const port = await freePort();
  const adminPort = await freePort();
  const hosts = Array.from({ length: REPLICAS }, (_, i) => `127.0.0.${i + 1}`);
  const peers = hosts.map((h) => `http://${h}:${port}`).join(',');
  const replicas: Running[] = [];
  try {
    for (const host of hosts) {
      replicas.push(await startTarget('imgedge', {
        originPort: ctx.origin.port, host, port, adminPort,
        args: peered ? ['--peers', peers, '--admin-token', 'bench'] : [],
      }));
    }
    return replicas;
  } catch (error) {
    await Promise.all(replicas.map((r) => r.stop()));
    throw error;
  }
}

interface Run {
  readonly originFetches: number;
  readonly peerFetches: number;
  /** Object files the run added on disk, summed over the replicas. */
  readonly onDisk: number;
  readonly distinct: number;
  readonly failed: number;
  readonly seconds: number;
}

/** Good peer fetches so far, over the replicas. */
async function peerFetches(replicas: Running[]): Promise<number> {
  let peer = 0;
  for (const r of replicas) peer += await scrape(r.adminBase!, 'imgedge_peer_fetches_total', 'result="ok"');
  return peer;
}

/** Object files on disk over the replicas, once each has committed what it fetched. */
async function objectsOnDisk(replicas: Running[]): Promise<number> {
  let objects = 0;
  for (const r of replicas) {
    await committed(r);
    objects += await scrape(r.adminBase!, 'imgedge_cache_objects');
  }
  return objects;
}

async function zipfRun(ctx: Context, replicas: Running[], prefix: string, requests: number, objects: number): Promise<Run> {
  const before = await peerFetches(replicas);
  const onDiskBefore = await objectsOnDisk(replicas);
  const sequence = zipfSequence(requests, objects, 20);
  const agents = replicas.map(() => new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY }));
  let next = 0;
  let failed = 0;
  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < sequence.length) {
        const i = next++;
        const r = i % replicas.length;
        const path = objectPath({ name: `${prefix}-${sequence[i]}`, size: SIZE });
        const res = await timedGet(replicas[r]!.base + path, { agent: agents[r] });
        if (res.status !== 200 || res.error || res.bytes !== SIZE) failed++;
      }
    }));
  } finally {
    for (const a of agents) a.destroy();
  }
  const seconds = (performance.now() - started) / 1000;
  // Counted by the origin itself, per object asked.
  const distinct = [...new Set(sequence)];
  let originFetches = 0;
  for (const k of distinct) originFetches += await ctx.origin.count(objectPath({ name: `${prefix}-${k}`, size: SIZE }));
  const onDisk = (await objectsOnDisk(replicas)) - onDiskBefore;
  return { originFetches, peerFetches: (await peerFetches(replicas)) - before, onDisk, distinct: distinct.length, failed, seconds };
}

/** Until the replica has no origin fetch under way: what it fetched is committed. */
async function committed(replica: Running): Promise<void> {
  for (let i = 0; i < 500 && (await scrape(replica.adminBase!, 'imgedge_origin_fetches_in_flight')) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** Sequential GETs, one at a time: each object's local hit at its owner, and its first hit at another replica, served through the owner. */
async function throughOwner(replicas: Running[], prefix: string, count: number) {
  const urls = replicas.map((r) => r.base);
  const agents = replicas.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const local: number[] = [];
  const through: number[] = [];
  const miss: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const path = objectPath({ name: `${prefix}-${i}`, size: SIZE });
      const owner = urls.indexOf(ownerOf(path, urls)!);
      const other = (owner + 1 + (i % (urls.length - 1))) % urls.length;
      miss.push((await timedGet(urls[owner] + path, { agent: agents[owner] })).totalMs);
      // A hit at the owner is what the goal times: the object committed there first (an fsync), not still being written.
      await committed(replicas[owner]!);
      await timedGet(urls[owner] + path, { agent: agents[owner] }); // and held in its memory
      // Alternating which is measured first, so neither always meets a warmer machine.
      const measureLocal = async () => local.push((await timedGet(urls[owner] + path, { agent: agents[owner] })).totalMs);
      const measureThrough = async () => through.push((await timedGet(urls[other] + path, { agent: agents[other] })).totalMs);
      if (i % 2) {
        await measureLocal();
        await measureThrough();
      } else {
        await measureThrough();
        await measureLocal();
      }
    }
  } finally {
    for (const a of agents) a.destroy();
  }
  return { local, through, miss };
}

export async function runPeers(ctx: Context): Promise<ScenarioReport> {
  const requests = ctx.quick ? 2_000 : 10_000;
  const objects = ctx.quick ? 200 : 1_000;
  const latencySamples = ctx.quick ? 100 : 400;
  const setup = [
    `${REPLICAS} imgedge replicas on 127.0.0.1-3 (same ports, as pods), all on the target core; ${requests} GETs of ${SIZE / 1024} KiB objects, Zipf (s=${SKEW}) over ${objects} objects, round-robin over the replicas, ${CONCURRENCY} at a time.`,
    `Through the owner: ${latencySamples} objects, one GET at a time: the object's first GET at its owner (a miss, from the origin), once it is committed there a hit there, and its first GET at another replica (a miss there, a hit at the owner), the last two in alternating order.`,
  ];
  if (!ctx.targets.includes('imgedge')) return { title: 'Peers: a 3-replica IDC', setup, tables: [], goals: [], notes: ['imgedge not selected'] };
  const runs: { peered: boolean; run?: Run; error?: string }[] = [];
  let latency: { local: number[]; through: number[]; miss: number[] } | undefined;
  let latencyError: string | undefined;
  for (const peered of [false, true]) {
    let replicas: Running[] = [];
    try {
      replicas = await startIdc(ctx, peered);
      for (const r of replicas) await warmUp(r.base, `peers-${ctx.runId}-${peered}-${r.base}`, WARM_MISSES);
      ctx.log(`peers: ${peered ? 'peering' : 'lone'} replicas: ${requests} Zipf requests`);
      runs.push({ peered, run: await zipfRun(ctx, replicas, `peers-${ctx.runId}-${peered}`, requests, objects) });
      if (peered) {
        ctx.log(`peers: ${latencySamples} hits through the owner`);
        try {
          latency = await throughOwner(replicas, `peers-${ctx.runId}-lat`, latencySamples);
        } catch (error) {
          latencyError = errorText(error);
        }
      }
    } catch (error) {
      runs.push({ peered, error: errorText(error) });
    } finally {
      await Promise.all(replicas.map((r) => r.stop()));
    }
  }
  const lone = runs.find((r) => !r.peered)?.run;
  const peered = runs.find((r) => r.peered)?.run;
  const rows = runs.map(({ peered: p, run, error }) => run
    ? [p ? 'peering' : 'lone replicas', String(run.distinct), String(run.originFetches), ratio(run.originFetches, run.distinct), mib(run.peerFetches * SIZE), String(run.onDisk), String(run.failed), fmt(requests / run.seconds, 0)]
    : [p ? 'peering' : 'lone replicas', '—', '—', '—', '—', '—', error ?? '', '—']);
  const p50 = (v: number[] | undefined) => (v && v.length ? percentile(v, 50) : Number.NaN);
  const p99 = (v: number[] | undefined) => (v && v.length ? percentile(v, 99) : Number.NaN);
  const added = p50(latency?.through) - p50(latency?.local);
  return {
    title: 'Peers: a 3-replica IDC',
    setup,
    tables: [
      {
        columns: ['IDC', 'distinct objects', 'origin fetches', '÷ distinct', 'MiB between replicas', 'objects on disk (all replicas)', 'failed', 'req/s'],
        rows,
      },
      {
        caption: 'A hit at the owner, and the same object at another replica (through the owner), ms',
        columns: ['served', 'p50', 'p99'],
        rows: [
          ['at the owner (local hit)', fmt(p50(latency?.local), 2), fmt(p99(latency?.local), 2)],
          ['at another replica, through the owner', fmt(p50(latency?.through), 2), fmt(p99(latency?.through), 2)],
          ['for comparison: a miss at the owner, from the origin', fmt(p50(latency?.miss), 2), fmt(p99(latency?.miss), 2)],
          ['added by the hop', fmt(added, 2), '—'],
        ],
      },
    ],
    goals: [
      goal('peering: origin fetches = distinct objects requested', peered ? peered.originFetches === peered.distinct : null,
        peered ? `${peered.originFetches} fetches for ${peered.distinct} objects (lone replicas: ${lone?.originFetches ?? '—'})` : 'not run'),
      goal('a hit through the owner adds ≤ 1 ms at p50 on loopback', latency ? added <= 1 : null,
        latency ? `${fmt(added, 2)} ms (${fmt(p50(latency.through), 2)} vs ${fmt(p50(latency.local), 2)})` : (latencyError ?? 'not run')),
    ],
    notes: [
      'Non-owners keep what they got through the owner in memory only (within --memory-cache-bytes): an object is on disk once per IDC, at its owner, and only its first GET at each replica crosses between replicas while the copy stays in memory.',
      'The three replicas share one core with each other: the req/s compare the two runs, not a replica with a lone edge (see Hits for those).',
    ],
  };
}
