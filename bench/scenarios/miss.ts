// c. Miss overhead: cold 256 KiB objects fetched one at a time through each
// cache, against the same straight from the origin. The origin waits 50 ms
// before its head, so the cache's own cost shows as the ratio to direct.
import http from 'node:http';
import { objectBody, objectPath } from '../origin.js';
import { percentile, timedGet, type Timed } from '../client.js';
import { startTarget, type TargetName } from '../targets.js';
import { fmt, goal, ratio, type ScenarioReport } from '../report.js';
import { errorText, warmUp, WARM_MISSES, type Context } from './context.js';

const SIZE = 256 * 1024;
const HEAD_MS = 50;

interface Measured {
  readonly label: string;
  readonly results: Timed[];
  readonly error?: string;
}

/** Fetches `count` cold objects in turn over one kept-alive connection. */
async function sequence(base: string, prefix: string, count: number): Promise<Timed[]> {
  // A connection opened beforehand, so the first object does not pay for it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await timedGet(`${base}/__ping`, { agent });
    const results: Timed[] = [];
    for (let i = 0; i < count; i++) {
      const name = `${prefix}-${i}`;
      results.push(await timedGet(base + objectPath({ name, size: SIZE, headMs: HEAD_MS }), { agent, expect: objectBody(name, SIZE) }));
    }
    return results;
  } finally {
    agent.destroy();
  }
}

export async function runMiss(ctx: Context): Promise<ScenarioReport> {
  const count = ctx.quick ? 10 : 30;
  const measured: Measured[] = [];
  ctx.log(`miss: direct from the origin, ${count} objects`);
  await warmUp(ctx.origin.base, `miss-${ctx.runId}-direct`, WARM_MISSES, SIZE);
  measured.push({ label: 'direct (origin)', results: await sequence(ctx.origin.base, `miss-${ctx.runId}-direct`, count) });
  for (const name of ctx.targets) {
    try {
      const target = await startTarget(name, { originPort: ctx.origin.port });
      try {
        ctx.log(`miss: ${name}, ${count} objects`);
        await warmUp(target.base, `miss-${ctx.runId}-${name}`, WARM_MISSES, SIZE);
        measured.push({ label: name, results: await sequence(target.base, `miss-${ctx.runId}-${name}`, count) });
      } finally {
        await target.stop();
      }
    } catch (error) {
      measured.push({ label: name, results: [], error: errorText(error) });
    }
  }
  return report(measured, count);
}

function report(measured: readonly Measured[], count: number): ScenarioReport {
  const stats = (m: Measured) => ({
    ttfb50: percentile(m.results.map((r) => r.firstByteMs), 50),
    ttfb90: percentile(m.results.map((r) => r.firstByteMs), 90),
    total50: percentile(m.results.map((r) => r.totalMs), 50),
    right: m.results.filter((r) => r.status === 200 && r.matches === true).length,
  });
  const direct = stats(measured[0]!);
  const own = measured.find((m) => m.label === ('imgedge' satisfies TargetName) && !m.error);
  const mine = own ? stats(own) : null;
  const rows = measured.map((m) => {
    if (m.error) return [m.label, `error: ${m.error}`, '', '', '', '', '', ''];
    const s = stats(m);
    return [
      m.label, fmt(s.ttfb50, 1), fmt(s.ttfb90, 1), fmt(s.total50, 1), ratio(s.ttfb50, direct.ttfb50),
      ratio(s.total50, direct.total50), mine ? ratio(s.ttfb50, mine.ttfb50) : '—', `${s.right}/${m.results.length}`,
    ];
  });
  return {
    title: 'c. Miss overhead',
    setup: [
      `${count} cold ${SIZE / 1024} KiB objects, one at a time over one kept-alive connection from core 1; the origin waits ${HEAD_MS} ms before its head. ` +
        `Each cache first takes ${WARM_MISSES} unrecorded misses (4 at a time, no delay), as a long-running one would have. TTFB is from the request to the first body byte; ratios are of medians.`,
    ],
    tables: [{
      columns: ['target', 'TTFB p50 ms', 'TTFB p90 ms', 'total p50 ms', 'TTFB ÷ direct', 'total ÷ direct', 'TTFB ÷ imgedge', 'bytes right'],
      rows,
    }],
    goals: [
      goal('TTFB ≤ 1.05× direct', mine ? mine.ttfb50 <= 1.05 * direct.ttfb50 : null,
        mine ? `${ratio(mine.ttfb50, direct.ttfb50, 3)} (p50 ${fmt(mine.ttfb50, 1)} vs ${fmt(direct.ttfb50, 1)} ms)` : 'imgedge not measured'),
    ],
    notes: [],
  };
}
