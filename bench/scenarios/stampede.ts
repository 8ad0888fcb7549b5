// b. Stampede: many clients ask at once for one cold 1 MiB object from a slow
// origin (300 ms to the head, the body spread over 1 s). What matters is how
// many fetches reach the origin and how long the waiters wait for a first
// byte: a cache that streams to waiters answers them as the origin does.
import http from 'node:http';
import { objectBody, objectPath } from '../origin.js';
import { percentile, timedGet, type Timed } from '../client.js';
import { startTarget, type TargetName } from '../targets.js';
import { fmt, goal, ratio, type Goal, type ScenarioReport } from '../report.js';
import { errorText, warmUp, WARM_MISSES, type Context } from './context.js';

const SIZE = 1024 * 1024;
const HEAD_MS = 300;
const BODY_MS = 1000;

interface Measured {
  readonly name: TargetName;
  readonly fetches: number[];
  readonly results: Timed[];
  readonly error?: string;
}

async function trial(ctx: Context, base: string, name: string, clients: number): Promise<{ fetches: number; results: Timed[] }> {
  const spec = { name, size: SIZE, headMs: HEAD_MS, bodyMs: BODY_MS };
  const path = objectPath(spec);
  const expect = objectBody(name, SIZE);
  // One socket per client, so no request queues behind another in the client.
  const agent = new http.Agent({ keepAlive: false, maxSockets: clients });
  try {
    const results = await Promise.all(Array.from({ length: clients }, () => timedGet(base + path, { agent, expect })));
    return { fetches: await ctx.origin.count(path), results };
  } finally {
    agent.destroy();
  }
}

export async function runStampede(ctx: Context): Promise<ScenarioReport> {
  const clients = 200;
  const trials = ctx.quick ? 1 : 3;
  const measured: Measured[] = [];
  for (const name of ctx.targets) {
    const fetches: number[] = [];
    const results: Timed[] = [];
    try {
      const target = await startTarget(name, { originPort: ctx.origin.port });
      try {
        await warmUp(target.base, `stampede-${ctx.runId}-${name}`, WARM_MISSES);
        // A long-running cache has served stampedes before: one unrecorded trial, so that a JIT's first
        // compilation of the coalescing paths is not what the first recorded waiters measure.
        await trial(ctx, target.base, `stampede-${ctx.runId}-${name}-warm`, clients);
        for (let t = 0; t < trials; t++) {
          ctx.log(`stampede: ${name} trial ${t + 1}/${trials}: ${clients} clients`);
          const one = await trial(ctx, target.base, `stampede-${ctx.runId}-${name}-${t}`, clients);
          fetches.push(one.fetches);
          results.push(...one.results);
        }
      } finally {
        await target.stop();
      }
      measured.push({ name, fetches, results });
    } catch (error) {
      measured.push({ name, fetches, results, error: errorText(error) });
    }
  }
  return report(measured, clients, trials);
}

interface Summary {
  readonly fbP50: number;
  readonly fbP99: number;
  readonly doneP50: number;
  readonly doneP99: number;
  readonly right: number;
  readonly total: number;
}

function summarise(results: readonly Timed[]): Summary {
  const ok = results.filter((r) => r.status === 200 && r.matches === true && !r.error);
  return {
    fbP50: percentile(results.map((r) => r.firstByteMs), 50),
    fbP99: percentile(results.map((r) => r.firstByteMs), 99),
    doneP50: percentile(ok.map((r) => r.totalMs), 50),
    doneP99: percentile(ok.map((r) => r.totalMs), 99),
    right: ok.length,
    total: results.length,
  };
}

function report(measured: readonly Measured[], clients: number, trials: number): ScenarioReport {
  const summaries = new Map(measured.filter((m) => !m.error).map((m) => [m.name, summarise(m.results)]));
  const imgedge = summaries.get('imgedge');
  const rows = measured.map((m) => {
    const s = summaries.get(m.name);
    if (!s) return [m.name, `error: ${m.error}`, '', '', '', '', '', ''];
    return [
      m.name, m.fetches.join(', '), fmt(s.fbP50, 0), fmt(s.fbP99, 0), fmt(s.doneP50, 0), fmt(s.doneP99, 0),
      `${s.right}/${s.total}`, imgedge ? ratio(s.fbP99, imgedge.fbP99) : '—',
    ];
  });

  const goals: Goal[] = [];
  const own = measured.find((m) => m.name === 'imgedge' && !m.error);
  goals.push(goal('one origin fetch', own ? own.fetches.every((f) => f === 1) : null,
    own ? `origin fetches per trial: ${own.fetches.join(', ')}` : 'imgedge not measured'));
  for (const [other, factor] of [['varnish', 1.1], ['nginx', 0.3]] as const) {
    const theirs = summaries.get(other);
    goals.push(goal(`first-byte p99 ≤ ${factor}× ${other === 'varnish' ? 'Varnish' : 'nginx'}'s`,
      imgedge && theirs ? imgedge.fbP99 <= factor * theirs.fbP99 : null,
      imgedge && theirs ? `${ratio(imgedge.fbP99, theirs.fbP99, 3)} (${fmt(imgedge.fbP99, 0)} vs ${fmt(theirs.fbP99, 0)} ms)` : `needs imgedge and ${other}`));
  }
  if (imgedge) {
    goals.push(goal('every waiter got every byte right', imgedge.right === imgedge.total, `${imgedge.right}/${imgedge.total}`));
  }
  return {
    title: 'b. Stampede',
    setup: [
      `${clients} concurrent GETs (node:http, one new connection each, from core 1) of one cold ${SIZE / 2 ** 20} MiB object; ` +
        `the origin takes ${HEAD_MS} ms to its head and spreads the body over ${BODY_MS} ms. ` +
        `${trials} trial(s) per target, each on a new object, after ${WARM_MISSES} unrecorded small misses and one unrecorded trial; percentiles over all waiters of all trials. ` +
        'First byte: from sending the request to the first body byte. Complete: to the last byte, for bodies that were whole and right.',
    ],
    tables: [{
      columns: ['target', 'origin fetches', 'first byte p50 ms', 'first byte p99 ms', 'complete p50 ms', 'complete p99 ms', 'bytes right', 'first-byte p99 ÷ imgedge'],
      rows,
    }],
    goals,
    notes: [
      'A cache that streams to waiters gives the first byte at about the origin\'s head time; nginx\'s `proxy_cache_lock` holds waiters ' +
        'until the object is complete and checks the lock every 500 ms.',
    ],
  };
}
