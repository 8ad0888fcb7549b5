// The simulation's report as data. The keys named in the README are a
// contract: idcs, invalidation.{p50,p99,max}_ms, staleAfterDeadline,
// originFetchesPerObjectPerIdc, crossIdcBytesRatio, partition.catchUpMs,
// wrongBodies. A figure this fleet cannot produce yet is null, with the
// reason under notMeasured under the same key.
import type { Read } from './workload.js';
import type { EdgeIdc } from './fleet.js';
import type { Network } from './netns.js';
import type { SimOptions } from './harness.js';

/** What one edge IDC's reads came to. */
export class Tally {
  reads = 0;
  ok = 0;
  wrong = 0;
  readonly statuses: Record<string, number> = {};
  /** Objects read whole and right at least once, with their sizes. */
  readonly objects = new Map<number, number>();
  readonly latencies: number[] = [];
  readonly duringCut = { reads: 0, served: 0, failed: 0, wrong: 0 };

  add(read: Read, size: number, duringCut: boolean): void {
    this.reads++;
    const status = read.status === null ? 'no answer' : String(read.status);
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    const ok = read.status === 200 && !read.wrong;
    if (read.wrong) this.wrong++;
    if (ok) {
      this.ok++;
      this.objects.set(read.object, size);
      this.latencies.push(read.endedAt - read.startedAt);
    }
    if (duringCut) {
      this.duringCut.reads++;
      if (ok) this.duringCut.served++;
      else this.duringCut.failed++;
      if (read.wrong) this.duringCut.wrong++;
    }
  }
}

export interface IdcReport {
  readonly name: string;
  readonly rttMs: number;
  readonly reads: number;
  readonly served: number;
  readonly statuses: Record<string, number>;
  readonly wrongBodies: number;
  readonly readP50Ms: number | null;
  readonly readP99Ms: number | null;
  readonly objectsRead: number;
  readonly originFetches: number;
  readonly objectsFetched: number;
  readonly originFetchesPerObject: number | null;
  readonly crossIdcBytes: number;
  readonly crossIdcBytesRatio: number | null;
  readonly linkStalls: number;
  readonly linkChunks: number;
}

export interface SimReport {
  readonly startedAt: string;
  readonly elapsedMs: number;
  readonly aborted: boolean;
  readonly network: { readonly kind: string; readonly note: string };
  readonly options: { readonly idcs: number; readonly minutes: number; readonly rttMs: readonly [number, number]; readonly lossPct: number; readonly readsPerSec: number; readonly objects: number; readonly replicas: number; readonly seed: number };
  readonly idcs: number;
  readonly invalidation: { readonly p50_ms: number | null; readonly p99_ms: number | null; readonly max_ms: number | null };
  readonly staleAfterDeadline: number | null;
  readonly originFetchesPerObjectPerIdc: number | null;
  readonly crossIdcBytesRatio: number | null;
  readonly partition: {
    readonly idc: string;
    readonly mechanism: string;
    readonly cutMs: number;
    readonly readsDuringCut: number;
    readonly servedDuringCut: number;
    readonly failedDuringCut: number;
    readonly wrongDuringCut: number;
    readonly firstOriginFetchAfterHealMs: number | null;
    readonly catchUpMs: number | null;
  };
  readonly wrongBodies: number;
  readonly readsSkipped: number;
  readonly perIdc: readonly IdcReport[];
  readonly notMeasured: Readonly<Record<string, string>>;
}

const NO_WRITES = 'no writes yet: the objects never change, because the origin that takes uploads and keeps a change log is not part of this fleet yet';

const round = (value: number, places = 3) => Math.round(value * 10 ** places) / 10 ** places;
const ratio = (a: number, b: number) => (b > 0 ? round(a / b) : null);

function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface ReportInput {
  readonly options: SimOptions;
  readonly startedAt: Date;
  readonly elapsedMs: number;
  readonly network: Network;
  readonly idcs: readonly EdgeIdc[];
  readonly tallies: readonly Tally[];
  readonly partition: { readonly idc: string; readonly mechanism: string; readonly cutAt: number; readonly healAt: number };
  readonly skipped: number;
  readonly aborted: boolean;
}

export function buildReport(input: ReportInput): SimReport {
  const { options, idcs, tallies, partition } = input;
  const perIdc = idcs.map((idc, i): IdcReport => {
    const tally = tallies[i]!;
    const originFetches = [...idc.originFetches.values()].reduce((a, b) => a + b, 0);
    const crossIdcBytes = idc.link.stats.bytesDown + idc.link.stats.bytesUp;
    const readBytes = [...tally.objects.values()].reduce((a, b) => a + b, 0);
    return {
      name: idc.name,
      rttMs: round(idc.rttMs, 1),
      reads: tally.reads,
      served: tally.ok,
      statuses: tally.statuses,
      wrongBodies: tally.wrong,
      readP50Ms: percentile(tally.latencies, 50),
      readP99Ms: percentile(tally.latencies, 99),
      objectsRead: tally.objects.size,
      originFetches,
      objectsFetched: idc.originFetches.size,
      originFetchesPerObject: ratio(originFetches, idc.originFetches.size),
      crossIdcBytes,
      crossIdcBytesRatio: ratio(crossIdcBytes, readBytes),
      linkStalls: idc.link.stats.stalls,
      linkChunks: idc.link.stats.chunks,
    };
  });
  const sum = (pick: (r: IdcReport) => number) => perIdc.reduce((a, r) => a + pick(r), 0);
  const readBytes = tallies.reduce((a, t) => a + [...t.objects.values()].reduce((x, y) => x + y, 0), 0);
  const cut = tallies[idcs.findIndex((idc) => idc.name === partition.idc)];
  const cutIdc = idcs.find((idc) => idc.name === partition.idc);
  const firstFetch = partition.healAt > 0 ? cutIdc?.originFetchTimes.find((t) => t >= partition.healAt) : undefined;
  return {
    startedAt: input.startedAt.toISOString(),
    elapsedMs: input.elapsedMs,
    aborted: input.aborted,
    network: { kind: input.network.kind, note: input.network.note },
    options: {
      idcs: options.idcs, minutes: round(options.durationMs / 60_000), rttMs: options.rttMs, lossPct: options.lossPct,
      readsPerSec: options.readsPerSec, objects: options.objects, replicas: options.replicas, seed: options.seed,
    },
    idcs: idcs.length,
    invalidation: { p50_ms: null, p99_ms: null, max_ms: null },
    staleAfterDeadline: null,
    originFetchesPerObjectPerIdc: ratio(sum((r) => r.originFetches), sum((r) => r.objectsFetched)),
    crossIdcBytesRatio: ratio(sum((r) => r.crossIdcBytes), readBytes),
    partition: {
      idc: partition.idc,
      mechanism: partition.mechanism || 'not cut (the run was too short or stopped)',
      cutMs: partition.healAt > 0 ? partition.healAt - partition.cutAt : 0,
      readsDuringCut: cut?.duringCut.reads ?? 0,
      servedDuringCut: cut?.duringCut.served ?? 0,
      failedDuringCut: cut?.duringCut.failed ?? 0,
      wrongDuringCut: cut?.duringCut.wrong ?? 0,
      firstOriginFetchAfterHealMs: firstFetch === undefined ? null : firstFetch - partition.healAt,
      catchUpMs: null,
    },
    wrongBodies: sum((r) => r.wrongBodies),
    readsSkipped: input.skipped,
    perIdc,
    notMeasured: {
      invalidation: NO_WRITES,
      staleAfterDeadline: NO_WRITES,
      'partition.catchUpMs': 'no change log to catch up on yet: a healed IDC has nothing to replay, so only its first origin fetch after the heal is measured',
    },
  };
}
