// d. Big object: four clients pull one cold 256 MiB object at once. A cache
// that streams through a file should hold little of it in memory, so the
// figure is the cache's peak RSS against its idle RSS, with every client's
// SHA-256 checked against the origin's deterministic bytes.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { objectDigest, objectPath } from '../origin.js';
import { getText, timedGet, type Timed } from '../client.js';
import { RssSampler, treeRssBytes } from '../proc.js';
import { startTarget, type TargetName } from '../targets.js';
import { fmt, goal, mib, ratio, type Goal, type ScenarioReport } from '../report.js';
import { errorText, sleep, type Context } from './context.js';

const CLIENTS = 4;
const SAMPLE_MS = 50;

interface Measured {
  readonly name: TargetName;
  readonly idle: number;
  readonly peak: number;
  readonly samples: number;
  readonly fetches: number;
  readonly seconds: number;
  readonly results: Timed[];
  readonly error?: string;
}

const STORAGE: Record<TargetName, string> = {
  imgedge: 'disk, `--cache-max-bytes 2GiB`',
  nginx: 'disk, `max_size=2g`',
  varnish: '`-s malloc,2G` (memory)',
};

/** Idle RSS: the median of a second of samples, after one small miss and hit. */
async function idleRss(pid: number, base: string, warmPath: string): Promise<number> {
  await getText(base + warmPath);
  await getText(base + warmPath);
  await sleep(300);
  const samples: number[] = [];
  for (let i = 0; i < 20; i++) {
    samples.push(treeRssBytes(pid));
    await sleep(SAMPLE_MS);
  }
  return samples.sort((a, b) => a - b)[samples.length >> 1]!;
}

async function measure(ctx: Context, name: TargetName, size: number, digest: string, objectName: string): Promise<Measured> {
  const target = await startTarget(name, { originPort: ctx.origin.port, cacheMaxBytes: '2GiB' });
  try {
    const idle = await idleRss(target.proc.pid, target.base, objectPath({ name: `big-${ctx.runId}-${name}-warm`, size: 8192 }));
    const path = objectPath({ name: objectName, size });
    const agent = new http.Agent({ keepAlive: false, maxSockets: CLIENTS });
    const sampler = new RssSampler(target.proc.pid, SAMPLE_MS);
    const started = performance.now();
    let got: Timed[];
    try {
      got = await Promise.all(Array.from({ length: CLIENTS }, () => timedGet(target.base + path, { agent, hash: true, timeoutMs: 120_000 })));
    } finally {
      agent.destroy();
    }
    const seconds = (performance.now() - started) / 1000;
    // Memory a cache holds on to after the transfer counts too.
    await sleep(1000);
    const { peak, samples } = sampler.stop();
    const fetches = await ctx.origin.count(path);
    const results = got.map((r) => (r.sha256 === digest || r.error ? r : { ...r, error: 'SHA-256 differs' }));
    return { name, idle, peak, samples, fetches, seconds, results };
  } finally {
    await target.stop();
  }
}

export async function runBig(ctx: Context): Promise<ScenarioReport> {
  const size = (ctx.quick ? 64 : 256) * 2 ** 20;
  const measured: Measured[] = [];
  for (const name of ctx.targets) {
    const objectName = `big-${ctx.runId}-${name}`;
    try {
      ctx.log(`big: ${name}: ${CLIENTS} clients × ${size / 2 ** 20} MiB`);
      measured.push(await measure(ctx, name, size, objectDigest(objectName, size), objectName));
    } catch (error) {
      measured.push({ name, idle: NaN, peak: NaN, samples: 0, fetches: NaN, seconds: NaN, results: [], error: errorText(error) });
    }
  }
  return report(measured, size);
}

function right(m: Measured): number {
  return m.results.filter((r) => r.status === 200 && !r.error).length;
}

function report(measured: readonly Measured[], size: number): ScenarioReport {
  const own = measured.find((m) => m.name === 'imgedge' && !m.error);
  const rows = measured.map((m) => {
    if (m.error) return [m.name, STORAGE[m.name], `error: ${m.error}`, '', '', '', '', '', ''];
    return [
      m.name, STORAGE[m.name], mib(m.idle), mib(m.peak), mib(m.peak - m.idle), fmt(m.fetches, 0), fmt(m.seconds, 1),
      `${right(m)}/${CLIENTS}`, own ? ratio(m.peak - m.idle, own.peak - own.idle) : '—',
    ];
  });
  const errors = measured.flatMap((m) => m.results.filter((r) => r.error).map((r) => `${m.name}: ${r.error} (${r.bytes} bytes)`));
  const goals: Goal[] = [
    goal('peak RSS ≤ idle RSS + 64 MiB', own ? own.peak - own.idle <= 64 * 2 ** 20 : null,
      own ? `+${mib(own.peak - own.idle)} MiB (idle ${mib(own.idle)}, peak ${mib(own.peak)} MiB, ${own.samples} samples)` : 'imgedge not measured'),
    goal('every byte right', own ? right(own) === CLIENTS : null, own ? `${right(own)}/${CLIENTS} clients' SHA-256 matched` : 'imgedge not measured'),
  ];
  return {
    title: 'd. Big object',
    setup: [
      `${CLIENTS} clients (node:http, core 1) GET one cold ${size / 2 ** 20} MiB object at once, each hashing what it gets with SHA-256 ` +
        'and comparing with the digest of the origin\'s deterministic bytes. RSS (VmRSS of the process tree) is sampled every ' +
        `${SAMPLE_MS} ms from just before the requests to 1 s after the last one ended; idle is the median of 1 s of samples after one small miss and hit.`,
    ],
    tables: [{
      columns: ['target', 'storage', 'idle RSS MiB', 'peak RSS MiB', 'peak − idle MiB', 'origin fetches', 'seconds', 'bytes right', 'peak − idle ÷ imgedge'],
      rows,
    }],
    goals,
    notes: [
      'Varnish\'s malloc storage holds the object in its own memory by design, so its growth includes the object itself.',
      'nginx writes the body to a file in its cache dir as it arrives; a waiter on `proxy_cache_lock` that is still waiting after ' +
        '`proxy_cache_lock_timeout` (5 s by default) is passed to the origin, uncached: that shows as more origin fetches.',
      ...errors.slice(0, 8),
    ],
  };
}
