// The soak's findings, as data (for the test) and as Markdown (for people).
import type { SoakOptions } from './harness.js';
import type { Catalog } from './catalog.js';
import { VIOLATIONS, type Checker, type Outcome, type Violation } from './checker.js';
import type { Sampler, Sample, DiskUse } from './sampler.js';
import type { Crash, Edge } from './edges.js';
import type { SoakOrigin } from './origin.js';
import type { Activity } from './workload.js';
import { FAULT_KINDS, type FaultKind, type FaultLog } from './faults.js';

export interface EdgeReport {
  readonly name: string;
  readonly role: string;
  readonly pids: readonly number[];
  readonly starts: number;
  readonly crashes: readonly Crash[];
  readonly finalExit: string | null;
  readonly samples: readonly Sample[];
  readonly peakRssMiB: number;
  readonly peakFds: number;
  readonly leak: { readonly flat: boolean | null; readonly detail: string };
  readonly evictions: number;
  readonly cacheMaxBytes: number;
  /** At the end, before SIGTERM; null when /metrics did not answer. */
  readonly disk: DiskUse | null;
  readonly logged: readonly string[];
}

export interface SoakReport {
  readonly startedAt: string;
  /** The run's temp dir (cache dirs), removed by the time the report is read. */
  readonly tempDir: string;
  readonly seed: number;
  readonly ranMs: number;
  readonly settings: string;
  readonly outcomes: Record<Outcome, number>;
  readonly byEdge: Record<string, Record<Outcome, number>>;
  readonly violations: Record<Violation, number>;
  readonly errorStatuses: Record<string, number>;
  readonly examples: readonly string[];
  readonly matched: { readonly current: number; readonly previous: number };
  readonly missingCacheStatus: number;
  readonly errorsWithObjectHeaders: number;
  readonly faults: Record<FaultKind | 'cache full (evictions on B)', number>;
  readonly faultEvents: readonly string[];
  readonly activity: Activity;
  readonly origin: SoakOrigin['stats'] & { readonly distinctRequested: number };
  readonly edges: readonly EdgeReport[];
  /** Any of these makes the run fail (exit 1). */
  readonly failures: readonly string[];
  readonly warnings: readonly string[];
}

const MiB = 1024 * 1024;
const mib = (kib: number) => Math.round(kib / 1024);

/** Flat after warm-up: the second half's peaks no higher than the first half's, within noise. */
function leakVerdict(samples: readonly Sample[], ranMs: number): EdgeReport['leak'] {
  const pids = new Set(samples.map((s) => s.pid));
  if (pids.size > 1) return { flat: null, detail: `n/a: ${pids.size} processes (restarted by the kill -9 fault)` };
  const warm = Math.min(120_000, ranMs * 0.25);
  const post = samples.filter((s) => s.t >= warm);
  if (post.length < 6) return { flat: null, detail: 'n/a: too few samples after warm-up' };
  const middle = post[0]!.t + (post[post.length - 1]!.t - post[0]!.t) / 2;
  const first = post.filter((s) => s.t < middle);
  const second = post.filter((s) => s.t >= middle);
  const peak = (list: Sample[], key: 'rssKiB' | 'fds' | 'heapUsedKiB' | 'externalKiB') => Math.max(0, ...list.map((s) => s[key] ?? 0));
  const rssGrowth = peak(second, 'rssKiB') - peak(first, 'rssKiB');
  const fdGrowth = peak(second, 'fds') - peak(first, 'fds');
  // Least-squares slope of RSS over time, in MiB per minute.
  const n = post.length;
  const mx = post.reduce((a, s) => a + s.t, 0) / n;
  const my = post.reduce((a, s) => a + s.rssKiB, 0) / n;
  const sxy = post.reduce((a, s) => a + (s.t - mx) * (s.rssKiB - my), 0);
  const sxx = post.reduce((a, s) => a + (s.t - mx) ** 2, 0) || 1;
  const slope = (sxy / sxx) * 60_000 / 1024;
  const flat = rssGrowth < Math.max(32 * 1024, peak(first, 'rssKiB') * 0.15) && fdGrowth <= 16;
  return {
    flat,
    detail: `${flat ? 'flat' : 'GROWING'} after ${Math.round(warm / 1000)} s warm-up: peak RSS ${mib(peak(first, 'rssKiB'))} → ${mib(peak(second, 'rssKiB'))} MiB, ` +
      `peak fds ${peak(first, 'fds')} → ${peak(second, 'fds')}, RSS slope ${slope.toFixed(1)} MiB/min; ` +
      `of which V8 heap used ${mib(peak(first, 'heapUsedKiB'))} → ${mib(peak(second, 'heapUsedKiB'))} MiB, ` +
      `Buffers (external) ${mib(peak(first, 'externalKiB'))} → ${mib(peak(second, 'externalKiB'))} MiB`,
  };
}

export function buildReport(run: {
  tempDir: string; options: SoakOptions; startedAt: number; ranMs: number; catalog: Catalog; checker: Checker; sampler: Sampler;
  edges: readonly Edge[]; disk: readonly (DiskUse | null)[]; origin: SoakOrigin; activity: Activity; faults: FaultLog;
}): SoakReport {
  const { options, checker, edges, ranMs } = run;
  const roles: Record<string, string> = { A: 'big cache, never killed', B: `--cache-max-bytes ${options.smallCacheBytes / MiB} MiB`, C: 'big cache, kill -9 target' };
  const edgeReports = edges.map((edge, i): EdgeReport => {
    const samples = run.sampler.samples.get(edge.spec.name) ?? [];
    return {
      name: edge.spec.name,
      role: roles[edge.spec.name] ?? '',
      pids: edge.pids,
      starts: edge.starts,
      crashes: edge.crashes,
      finalExit: edge.finalExit,
      samples,
      peakRssMiB: mib(Math.max(0, ...samples.map((s) => s.rssKiB))),
      peakFds: Math.max(0, ...samples.map((s) => s.fds)),
      leak: leakVerdict(samples, ranMs),
      evictions: run.sampler.evictions(edge.spec.name),
      cacheMaxBytes: edge.spec.cacheMaxBytes,
      disk: run.disk[i] ?? null,
      logged: [...edge.logged.entries()].sort((a, b) => b[1].count - a[1].count).slice(0, 8)
        .map(([msg, seen]) => `${seen.count}× level ${seen.level} ${msg}${seen.level >= 50 ? `: ${seen.example}` : ''}`),
    };
  });
  const faults = { ...run.faults.counts, 'cache full (evictions on B)': run.sampler.evictions('B') };
  const failures: string[] = [];
  for (const kind of VIOLATIONS) if (checker.violations[kind] > 0) failures.push(`${checker.violations[kind]} × ${kind}`);
  if (checker.outcomes.hung > 0) failures.push(`${checker.outcomes.hung} requests hung (no end within ${options.requestDeadlineMs} ms)`);
  for (const edge of edgeReports) {
    if (edge.crashes.length) failures.push(`edge ${edge.name} crashed ${edge.crashes.length} times`);
    if (edge.disk && edge.disk.bytes > edge.cacheMaxBytes) failures.push(`edge ${edge.name}: ${edge.disk.bytes} bytes in objects/, over --cache-max-bytes ${edge.cacheMaxBytes}`);
    if (edge.finalExit !== 'exit 0') failures.push(`edge ${edge.name} did not drain and exit 0 on SIGTERM (${edge.finalExit ?? 'needed SIGKILL'})`);
  }
  const warnings: string[] = [];
  const least = ranMs >= 600_000 ? 5 : 1;
  for (const kind of FAULT_KINDS) if (faults[kind] < least) warnings.push(`fault "${kind}" injected ${faults[kind]} times (< ${least})`);
  if (faults['cache full (evictions on B)'] < least) warnings.push('edge B evicted nothing: the cache-full case was not exercised');
  for (const edge of edgeReports) if (edge.leak.flat === false) warnings.push(`edge ${edge.name}: ${edge.leak.detail}`);
  for (const edge of edgeReports) {
    const d = edge.disk;
    if (!d) warnings.push(`edge ${edge.name}: no /metrics at the end, disk use not checked`);
    else if (d.files !== d.indexObjects || d.bytes !== d.indexBytes) {
      warnings.push(`edge ${edge.name}: ${d.files} files (${d.bytes} bytes) in objects/ but the index counts ${d.indexObjects} (${d.indexBytes} bytes): ` +
        `${d.files - d.indexObjects} files nobody will evict`);
    }
  }
  if (checker.errorsWithObjectHeaders) {
    warnings.push(`${checker.errorsWithObjectHeaders} error answers (5xx) carried the object's ETag, Content-Range or Cache-Control: public (see the examples)`);
  }
  if (checker.missingCacheStatus) warnings.push(`${checker.missingCacheStatus} responses without Cache-Status`);
  return {
    startedAt: new Date(run.startedAt).toISOString(),
    tempDir: run.tempDir,
    seed: options.seed,
    ranMs,
    settings: `${options.clients} clients, ${run.catalog.objects.length} objects (1 KiB..${options.maxObjectBytes / MiB} MiB), ` +
      `window ${run.catalog.windowMs / 1000} s, change spacing ${run.catalog.spacingMs / 1000} s`,
    outcomes: { ...checker.outcomes },
    byEdge: Object.fromEntries(checker.byEdge),
    violations: { ...checker.violations },
    errorStatuses: Object.fromEntries(checker.errorStatuses),
    examples: checker.examples,
    matched: checker.matched,
    missingCacheStatus: checker.missingCacheStatus,
    errorsWithObjectHeaders: checker.errorsWithObjectHeaders,
    faults,
    faultEvents: run.faults.events,
    activity: run.activity,
    origin: { ...run.origin.stats, distinctRequested: checker.requestedPaths.size },
    edges: edgeReports,
    failures,
    warnings,
  };
}
