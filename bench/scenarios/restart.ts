// e. Restart: a cache dir holding 100,000 small objects, filled through the
// cache itself; then the process is stopped and started again a few times.
// imgedge is timed from spawn to /readyz 200 (and to its first hit); nginx,
// which has no readiness of its own, from spawn to its first cached hit.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { objectPath } from '../origin.js';
import { getText } from '../client.js';
import { waitFor } from '../proc.js';
import { isHit, launch, startTarget, waitReady, type TargetName } from '../targets.js';
import { fmt, goal, ratio, type ScenarioReport } from '../report.js';
import { errorText, type Context } from './context.js';

const CONCURRENCY = 128;
const GOAL_OBJECTS = 100_000;

/** 1 to 4 KiB, spread over the objects by a multiplicative hash. */
const sizeOf = (i: number) => 1024 + (Math.imul(i, 2654435761) >>> 0) % 3073;
const pathOf = (ctx: Context, i: number) => objectPath({ name: `restart-${ctx.runId}-${i}`, size: sizeOf(i) });

interface Filled {
  readonly stored: number[];
  readonly seconds: number;
}

/** Pulls objects through the cache with many requests in flight until all are in or time runs out. */
async function populate(ctx: Context, base: string, count: number, budgetMs: number): Promise<Filled> {
  const pool = new Pool(base, { connections: CONCURRENCY, pipelining: 1 });
  const stored: number[] = [];
  const started = performance.now();
  const deadline = started + budgetMs;
  let next = 0;
  const worker = async () => {
    while (next < count && performance.now() < deadline) {
      const i = next++;
      try {
        const { statusCode, body } = await pool.request({ method: 'GET', path: pathOf(ctx, i) });
        await body.arrayBuffer();
        if (statusCode === 200) stored.push(i);
      } catch {
        // Counted by its absence from `stored`.
      }
      if (i > 0 && i % 20_000 === 0) ctx.log(`restart: ${i} objects requested`);
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    await pool.close();
  }
  return { stored: stored.sort((a, b) => a - b), seconds: (performance.now() - started) / 1000 };
}

interface Measured {
  readonly name: TargetName;
  readonly filled?: Filled;
  /** Spawn to ready: /readyz for imgedge, the first cached hit for nginx. */
  readonly readyMs: number[];
  readonly firstHitMs: number[];
  readonly objectsAfter: number[];
  readonly error?: string;
}

async function cachedObjects(adminBase: string): Promise<number> {
  const { body } = await getText(`${adminBase}/metrics`);
  return Number(/^imgedge_cache_objects(?:\{[^}]*\})? (\d+)/m.exec(body)?.[1] ?? NaN);
}

async function measure(ctx: Context, name: TargetName, count: number, restarts: number, budgetMs: number): Promise<Measured> {
  const first = await startTarget(name, { originPort: ctx.origin.port });
  let filled: Filled;
  try {
    ctx.log(`restart: ${name}: filling the cache with ${count} objects of 1-4 KiB, ${CONCURRENCY} in flight`);
    filled = await populate(ctx, first.base, count, budgetMs);
  } finally {
    await first.stop();
  }
  const readyMs: number[] = [];
  const firstHitMs: number[] = [];
  const objectsAfter: number[] = [];
  for (let r = 0; r < restarts; r++) {
    const target = await launch(name, { originPort: ctx.origin.port, cacheDir: first.cacheDir });
    try {
      // A different cached object on each probe, so no probe finds one an earlier probe brought in.
      let probe = 0;
      const hitAt = () => waitFor(async () => {
        const i = filled.stored[(probe++ * 7919) % filled.stored.length]!;
        const { headers } = await getText(target.base + pathOf(ctx, i), 2_000);
        return isHit(name, headers) ? performance.now() - target.spawnedAt : null;
      }, 30_000, 5);
      if (name === 'imgedge') {
        readyMs.push(await waitReady(target, 30_000, 5));
        firstHitMs.push((await hitAt()) ?? NaN);
        objectsAfter.push(await cachedObjects(target.adminBase!));
      } else {
        const hit = (await hitAt()) ?? NaN;
        readyMs.push(hit);
        firstHitMs.push(hit);
      }
      ctx.log(`restart: ${name} #${r + 1}: ready after ${fmt(readyMs[r]!, 0)} ms`);
    } finally {
      await target.proc.stop();
    }
  }
  return { name, filled, readyMs, firstHitMs, objectsAfter };
}

export async function runRestart(ctx: Context): Promise<ScenarioReport> {
  const count = ctx.quick ? 10_000 : GOAL_OBJECTS;
  const restarts = ctx.quick ? 2 : 3;
  const budgetMs = (ctx.quick ? 45 : 150) * 1000;
  const measured: Measured[] = [];
  for (const name of ctx.targets) {
    if (name === 'varnish') {
      measured.push({ name, readyMs: [], firstHitMs: [], objectsAfter: [], error: 'not measured: malloc storage does not survive a restart' });
      continue;
    }
    try {
      measured.push(await measure(ctx, name, count, restarts, budgetMs));
    } catch (error) {
      measured.push({ name, readyMs: [], firstHitMs: [], objectsAfter: [], error: errorText(error) });
    }
  }
  return report(measured, count, restarts, budgetMs);
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN;

function report(measured: readonly Measured[], count: number, restarts: number, budgetMs: number): ScenarioReport {
  const own = measured.find((m) => m.name === 'imgedge' && !m.error);
  const rows = measured.map((m) => {
    if (m.error || !m.filled) return [m.name, m.error ?? 'not run', '', '', '', '', '', ''];
    const rate = m.filled.stored.length / m.filled.seconds;
    return [
      m.name,
      fmt(m.filled.stored.length, 0),
      `${fmt(m.filled.seconds, 1)} s (${fmt(rate, 0)}/s)`,
      m.name === 'imgedge' ? '/readyz 200' : 'first cached hit',
      m.readyMs.map((v) => fmt(v, 0)).join(', '),
      fmt(median(m.firstHitMs), 0),
      m.objectsAfter.length ? m.objectsAfter.map((v) => fmt(v, 0)).join(', ') : 'loaded in the background',
      own ? ratio(median(m.readyMs), median(own.readyMs)) : '—',
    ];
  });
  const worst = own ? Math.max(...own.readyMs) : NaN;
  const loaded = own ? Math.min(...own.objectsAfter) : NaN;
  const enough = own !== undefined && loaded >= GOAL_OBJECTS;
  return {
    title: 'e. Restart',
    setup: [
      `The cache is filled through the cache itself with ${fmt(count, 0)} objects of 1–4 KiB (${CONCURRENCY} requests in flight ` +
        `from core 1, at most ${budgetMs / 1000} s), then stopped with SIGTERM and started ${restarts} times on the same cache dir. ` +
        'Times run from spawning the process (node start-up included) and are polled every 5 ms. The page cache is warm (no cache drop between runs).',
    ],
    tables: [{
      columns: ['target', 'objects cached', 'fill time', 'ready means', 'spawn → ready ms (each start)', 'spawn → first hit ms (median)', 'objects after restart', 'ready ÷ imgedge'],
      rows,
    }],
    goals: [
      goal(`/readyz within 2 s with ${fmt(GOAL_OBJECTS, 0)} objects`, enough ? worst <= 2000 : null,
        own ? `slowest of ${own.readyMs.length} starts: ${fmt(worst, 0)} ms with ${fmt(loaded, 0)} objects indexed` : 'imgedge not measured'),
    ],
    notes: [
      'nginx answers from the start and looks cached files up on disk while its cache loader is still cold; the loader starts ' +
        'a minute after start and indexes the cache in the background (100 files per 50 ms by default), so there is no "ready" to time.',
      'Varnish: malloc storage lives in memory and does not survive a restart, so there is nothing to measure.',
    ],
  };
}
