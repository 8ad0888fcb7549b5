// a. Hits: wrk against an already cached 8 KiB and 1 MiB object. Each target
// is warmed (the object fetched, then seen to hit) and given an unrecorded
// wrk run first, so the measured one finds a steady state.
import fs from 'node:fs';
import path from 'node:path';
import { objectPath } from '../origin.js';
import { timedGet } from '../client.js';
import { spawnPinned, tempDir } from '../proc.js';
import { isHit, LOAD_CORE, startFloor, startTarget, type Running, type TargetName } from '../targets.js';
import { selfTimes } from '../profile.js';
import { fmt, goal, ratio, type Goal, type ScenarioReport } from '../report.js';
import { errorText, type Context } from './context.js';
import { foreignText, meterForeignCpu, type ForeignCpu } from '../cpu.js';

const CONNECTIONS = 64;

// wrk's own summary, as JSON: its text report rounds and mixes units.
export const WRK_SCRIPT = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCHJSON {\\"requests\\":%d,\\"bytes\\":%d,\\"us\\":%d,\\"p50\\":%d,\\"p99\\":%d,\\"errors\\":%d,\\"status\\":%d}\\n",
    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;

export interface WrkResult {
  readonly requests: number;
  readonly bytes: number;
  readonly us: number;
  readonly p50: number;
  readonly p99: number;
  /** connect, read, write and timeout errors */
  readonly errors: number;
  /** responses other than 2xx/3xx */
  readonly status: number;
}

export async function wrk(script: string, url: string, seconds: number): Promise<WrkResult> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '10s', '-s', script, url];
  const proc = spawnPinned('wrk', 'wrk', args, { core: LOAD_CORE, capture: true });
  const how = await proc.exited;
  const line = /^BENCHJSON (.*)$/m.exec(proc.stdout())?.[1];
  if (!line) throw new Error(`wrk gave no summary (${how}): ${proc.stdout().slice(-300)}`);
  return JSON.parse(line) as WrkResult;
}

interface Variant {
  readonly label: string;
  readonly name: TargetName;
  readonly logLevel?: 'warn' | 'info';
  /** Not a cache: bench/floor.ts, Node's HTTP server doing nothing else. */
  readonly floor?: boolean;
  /** node --cpu-prof into this dir; the profile is read after the run. */
  readonly profileDir?: string;
}

interface Measured {
  readonly label: string;
  readonly object: string;
  readonly result: WrkResult | null;
  readonly foreign?: ForeignCpu;
  readonly error?: string;
}

const OBJECTS = [
  { label: '8 KiB', size: 8 * 1024 },
  { label: '1 MiB', size: 1024 * 1024 },
] as const;

export async function runHits(ctx: Context): Promise<ScenarioReport> {
  const seconds = ctx.quick ? 3 : 10;
  const warmSeconds = ctx.quick ? 1 : 2;
  const script = path.join(tempDir('wrk'), 'summary.lua');
  fs.writeFileSync(script, WRK_SCRIPT);
  const variants: Variant[] = [];
  for (const name of ctx.targets) {
    variants.push({ label: name, name, logLevel: 'warn' });
    // The access log costs what it costs; operators run with it.
    if (name === 'imgedge') {
      variants.push({ label: 'imgedge (info log)', name, logLevel: 'info' });
      variants.push({ label: FLOOR, name, floor: true });
      if (ctx.profile) variants.push({ label: PROFILED, name, logLevel: 'warn', profileDir: tempDir('cpu-prof') });
    }
  }
  const measured: Measured[] = [];
  for (const variant of variants) {
    let target: Running;
    try {
      target = variant.floor
        ? await startFloor()
        : await startTarget(variant.name, {
            originPort: ctx.origin.port,
            logLevel: variant.logLevel,
            nodeArgs: variant.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${variant.profileDir}`] : [],
          });
    } catch (error) {
      for (const object of OBJECTS) measured.push({ label: variant.label, object: object.label, result: null, error: errorText(error) });
      continue;
    }
    try {
      for (const object of variant.profileDir ? OBJECTS.slice(0, 1) : OBJECTS) {
        const url = target.base + objectPath({ name: `hits-${ctx.runId}-${object.size}`, size: object.size });
        try {
          await timedGet(url);
          const second = await timedGet(url);
          const hit = variant.floor || isHit(variant.name, second.headers);
          if (second.status !== 200 || !hit) throw new Error(`warm-up did not hit (status ${second.status})`);
          ctx.log(`hits: ${variant.label} ${object.label}: ${seconds} s of wrk -c${CONNECTIONS}`);
          await wrk(script, url, warmSeconds);
          const meter = meterForeignCpu();
          const result = await wrk(script, url, seconds);
          measured.push({ label: variant.label, object: object.label, result, foreign: meter() });
        } catch (error) {
          measured.push({ label: variant.label, object: object.label, result: null, error: errorText(error) });
        }
      }
    } finally {
      await target.stop();
    }
  }
  const profiled = variants.find((v) => v.profileDir);
  return report(measured, seconds, warmSeconds, profiled?.profileDir ? profileRows(profiled.profileDir) : null);
}

const FLOOR = 'node:http floor (no cache)';
const PROFILED = 'imgedge (--cpu-prof)';

/** Where imgedge's time went under 8 KiB hits; the profile is written when it stops. */
function profileRows(dir: string): string[][] {
  const file = fs.readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) return [['(no profile was written)', '']];
  return selfTimes(path.join(dir, file), 15).map(({ where, share }) => [`\`${where}\``, `${fmt(share * 100, 1)}%`]);
}

export const rps = (r: WrkResult) => r.requests / (r.us / 1e6);
const mibps = (r: WrkResult) => r.bytes / 2 ** 20 / (r.us / 1e6);

function report(measured: readonly Measured[], seconds: number, warmSeconds: number, profile: string[][] | null): ScenarioReport {
  const find = (label: string, object: string) => measured.find((m) => m.label === label && m.object === object)?.result ?? null;
  const rows = measured.map((m) => {
    const r = m.result;
    const base = find('imgedge', m.object);
    if (!r) return [m.label, m.object, `error: ${m.error ?? 'not run'}`, '', '', '', '', '', '', ''];
    return [
      m.label, m.object, fmt(rps(r), 0), fmt(mibps(r), 1), fmt(r.p50 / 1000, 2), fmt(r.p99 / 1000, 2),
      fmt(r.errors + r.status, 0), base ? ratio(rps(r), rps(base)) : '—', base ? ratio(r.p99, base.p99) : '—',
      m.foreign ? foreignText(m.foreign) : '—',
    ];
  });

  const goals: Goal[] = [];
  const i8 = find('imgedge', '8 KiB');
  const n8 = find('nginx', '8 KiB');
  const i1 = find('imgedge', '1 MiB');
  const n1 = find('nginx', '1 MiB');
  goals.push(goal('8 KiB req/s ≥ 0.5× nginx\'s', i8 && n8 ? rps(i8) >= 0.5 * rps(n8) : null,
    i8 && n8 ? `${ratio(rps(i8), rps(n8), 3)} (${fmt(rps(i8), 0)} vs ${fmt(rps(n8), 0)} req/s)` : 'needs imgedge and nginx'));
  goals.push(goal('1 MiB MiB/s ≥ 0.7× nginx\'s', i1 && n1 ? mibps(i1) >= 0.7 * mibps(n1) : null,
    i1 && n1 ? `${ratio(mibps(i1), mibps(n1), 3)} (${fmt(mibps(i1), 0)} vs ${fmt(mibps(n1), 0)} MiB/s)` : 'needs imgedge and nginx'));
  const p99Pairs = [[i8, n8, '8 KiB'], [i1, n1, '1 MiB']] as const;
  const p99Known = p99Pairs.every(([i, n]) => i && n);
  goals.push(goal('p99 ≤ 2× nginx\'s (both sizes)', p99Known ? p99Pairs.every(([i, n]) => i!.p99 <= 2 * n!.p99) : null,
    p99Known
      ? p99Pairs.map(([i, n, label]) => `${label}: ${ratio(i!.p99, n!.p99, 3)} (${fmt(i!.p99 / 1000, 2)} vs ${fmt(n!.p99 / 1000, 2)} ms)`).join('; ')
      : 'needs imgedge and nginx'));
  return {
    title: 'a. Hits (warm cache)',
    setup: [
      `\`wrk -t1 -c${CONNECTIONS} -d${seconds}s --latency\` on core 1 against one object already in the cache ` +
        `(fetched, then seen to hit, then ${warmSeconds} s of unrecorded wrk). MiB/s as wrk counts it, headers included; ` +
        'latency from wrk\'s histogram; errors are socket errors plus non-2xx answers.',
    ],
    tables: [
      {
        columns: ['target', 'object', 'req/s', 'MiB/s', 'p50 ms', 'p99 ms', 'errors', 'req/s ÷ imgedge', 'p99 ÷ imgedge', 'other processes\' CPU'],
        rows,
      },
      ...(profile ? [{ columns: ['imgedge under 8 KiB hits: self time (node --cpu-prof)', 'share of samples'], rows: profile }] : []),
    ],
    goals,
    notes: [
      'The "imgedge (info log)" row is imgedge at its default log level, writing one access-log line per request to a file.',
      `The "${FLOOR}" row is bench/floor.ts: Node's HTTP server answering every request with a fixed body and an imgedge hit's headers, ` +
        'nothing else: the most a cache could reach answering its hits through that server, on this core. ' +
        'imgedge answers plain hits on objects it holds in memory beneath it, on the socket (src/edge/hit-lane.ts).',
      ...(profile ? [`"${PROFILED}" ran the 8 KiB hits again under node --cpu-prof (slower for it); its profile is the second table.`] : []),
      '"Other processes\' CPU" is what processes outside this run used during that wrk run, in share of one core: ' +
        'well above 0% means the machine was shared and that row\'s figures are disturbed.',
    ],
  };
}
