// The simulation's report as data. The keys named in the README are a
// contract: idcs, invalidation.{p50,p99,max}_ms, staleAfterDeadline,
// originFetchesPerObjectPerIdc, crossIdcBytesRatio, partition.catchUpMs,
// wrongBodies. A figure the run could not produce is null, with the reason
// under notMeasured under the same key.
import type { Catalog } from './catalog.js';
import type { EdgeCounters, EdgeIdc } from './fleet.js';
import { completedAt, type WriteRecord } from './invalidation.js';
import type { Network } from './netns.js';
import type { SimOptions } from './harness.js';
import type { Read } from './workload.js';

export interface FaultRecord {
  readonly kind: 'redis-replica-restart' | 'edge-killed' | 'origin-killed';
  /** The edge IDC it happened in, or "origin". */
  readonly idc: string;
  readonly target: string;
  readonly at: number;
  /** When it was back (ready, or its link to the primary up). */
  readonly backAt: number;
  readonly how: string;
}

/**
 * An overwrite's way to an IDC in three parts, each a median: from the
 * acknowledgement to the origin receiving the IDC's request for the new
 * version (the change log's replication, the purge, a read's miss, the hop
 * to the owner, half a round trip); at the origin (the bucket, and the bytes
 * handed to the link); from there to every edge serving it (half a round
 * trip, the owner and the other edges, the probes' next asks).
 */
export interface Phases {
  readonly overwrites: number;
  readonly toOriginMs: number;
  readonly atOriginMs: number;
  readonly afterOriginMs: number;
}

export interface Latency {
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
  readonly max_ms: number | null;
}

/** A fetch of a version its IDC had fetched before: the path and ETag, when, and whether the same edge process sent both. */
export interface RepeatFetch {
  readonly key: string;
  readonly atMs: number;
  readonly afterFirstMs: number;
  readonly inFaultWindow: boolean;
  readonly sameEdge: boolean;
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
  readonly probes: number;
  readonly invalidation: Latency & {
    readonly goalMs: number;
    readonly timed: number;
    readonly unfinished: number;
    /** Overwrites served everywhere here later than the goal; and of them, those while which a chunk stalled on one of this IDC's links (on their path, or beside it). */
    readonly overGoal: number;
    readonly overGoalWithStall: number;
    /** Where the time went (medians), over every overwrite whose new version the origin served this IDC, and over those later than the goal. */
    readonly phases: { readonly all: Phases | null; readonly overGoal: Phases | null };
  };
  readonly staleAfterDeadline: number;
  /** Reads that got an older version than the newest acknowledged one: within the deadline, the lag the invalidation figure times. */
  readonly oldBeforeDeadline: number;
  readonly objectsRead: number;
  /** The distinct versions of objects served in this IDC, by reads or probes, times their sizes. */
  readonly readBytes: number;
  readonly originFetches: number;
  readonly objectsFetched: number;
  readonly originFetchesPerObject: number | null;
  /** Fetches of a version this IDC had fetched before: all of them, those within a second of the first, those in a fault's window (or the cut's) here. */
  readonly repeatFetches: { readonly all: number; readonly withinOneSecond: number; readonly inFaultWindows: number; readonly first: readonly RepeatFetch[] };
  /** The origin's own time per GET from this IDC (the bucket's included, the WAN's not). */
  readonly originFetchP50Ms: number | null;
  readonly originFetchP99Ms: number | null;
  readonly crossIdcBytes: number;
  readonly redisBytes: number;
  readonly crossIdcBytesRatio: number | null;
  readonly linkStalls: number;
  readonly linkChunks: number;
  /** The IDC's edges' own counts at the end (a restarted edge's since its restart). */
  readonly edgeCounters: EdgeCounters;
}

export interface FaultReport {
  readonly kind: string;
  readonly idc: string;
  readonly target: string;
  /** From the first write, after the warm-up. */
  readonly atMs: number;
  readonly downMs: number;
  readonly how: string;
  /** Reads in the IDC (every IDC for the origin) from the fault to 5 s after it was back with no answer or a 5xx. */
  readonly readsFailed: number;
  readonly readsInWindow: number;
  /** The slowest invalidation in that IDC (every IDC) of the writes acknowledged in that window. */
  readonly invalidationMaxMs: number | null;
  readonly writesInWindow: number;
}

/** One overwrite's time to every edge of one IDC, and when it was acknowledged: where a tail comes from. */
export interface SlowOverwrite {
  readonly idc: string;
  /** From the first write, after the warm-up. */
  readonly atMs: number;
  readonly ms: number;
}

export interface SimReport {
  readonly startedAt: string;
  readonly elapsedMs: number;
  readonly aborted: boolean;
  readonly network: { readonly kind: string; readonly note: string };
  readonly options: {
    readonly idcs: number; readonly minutes: number; readonly warmUpSec: number; readonly rttMs: readonly [number, number]; readonly lossPct: number; readonly readsPerSec: number;
    readonly writesPerSec: number; readonly objects: number; readonly replicas: number; readonly originReplicas: number; readonly seed: number;
  };
  readonly idcs: number;
  readonly invalidation: Latency & { readonly timed: number; readonly unfinished: number; readonly slowest: readonly SlowOverwrite[] };
  readonly staleAfterDeadline: number;
  readonly originFetchesPerObjectPerIdc: number | null;
  /** Bucket GETs per object version fetched by any IDC: about the number of IDCs when each IDC's fetch reads the bucket, about 1 when they share reads. */
  readonly bucketReadsPerVersion: number | null;
  readonly crossIdcBytesRatio: number | null;
  readonly partition: {
    readonly idc: string;
    readonly mechanism: string;
    readonly cutMs: number;
    readonly readsDuringCut: number;
    readonly servedDuringCut: number;
    readonly failedDuringCut: number;
    readonly wrongDuringCut: number;
    /** Served while cut, an older version than the newest acknowledged: what it held. */
    readonly oldDuringCut: number;
    /** Overwrites it had not served when the cut began, acknowledged before the heal. */
    readonly writesCaught: number;
    readonly firstOriginFetchAfterHealMs: number | null;
    /** From the heal to every edge of the IDC serving every one of those writes. */
    readonly catchUpMs: number | null;
  };
  readonly wrongBodies: number;
  readonly writes: { readonly uploads: number; readonly overwrites: number; readonly failed: number };
  readonly readsSkipped: number;
  readonly faults: readonly FaultReport[];
  readonly perIdc: readonly IdcReport[];
  readonly notMeasured: Readonly<Record<string, string>>;
}

const round = (value: number, places = 3) => Math.round(value * 10 ** places) / 10 ** places;
const ratio = (a: number, b: number) => (b > 0 ? round(a / b) : null);
const WINDOW_AFTER_MS = 5000;
/** Repeated fetches listed per IDC, the earliest first. */
const LISTED_REPEATS = 20;
const SLOWEST = 10;

function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function phasesOf(spans: readonly number[][]): Phases | null {
  if (spans.length === 0) return null;
  const median = (part: number) => percentile(spans.map((span) => span[part]!), 50)!;
  return { overwrites: spans.length, toOriginMs: median(0), atOriginMs: median(1), afterOriginMs: median(2) };
}

/** How long before the uploader hears the acknowledgement the write's entry may already be on its way to the replicas. */
const ENTRY_BEFORE_ACK_MS = 20;

function latency(values: readonly number[]): Latency {
  return { p50_ms: percentile(values, 50), p99_ms: percentile(values, 99), max_ms: values.length ? Math.max(...values) : null };
}

export interface ReportInput {
  readonly options: SimOptions;
  readonly startedAt: Date;
  /** When the writes began, after the warm-up: the run's clock. */
  readonly began: number;
  readonly elapsedMs: number;
  readonly network: Network;
  readonly idcs: readonly EdgeIdc[];
  readonly catalog: Catalog;
  readonly reads: readonly Read[];
  readonly writes: readonly WriteRecord[];
  readonly partition: { readonly idc: string; readonly mechanism: string; readonly cutAt: number; readonly healAt: number };
  readonly faults: readonly FaultRecord[];
  readonly counters: readonly EdgeCounters[];
  readonly skipped: number;
  readonly uploadFailures: number;
  readonly aborted: boolean;
  /** GETs of objects the bucket answered over the whole run, the warm-up included. */
  readonly bucketReads: number;
}

export function buildReport(input: ReportInput): SimReport {
  const { options, idcs, catalog, reads, writes, partition } = input;
  const cutIndex = idcs.findIndex((idc) => idc.name === partition.idc);
  const wasCut = partition.healAt > 0;
  /** A write the cut IDC had not served when the cut began: its time is the catch-up's, not an invalidation's. */
  const caught = (write: WriteRecord, idc: number) => {
    if (!wasCut || idc !== cutIndex || write.ackedAt >= partition.healAt) return false;
    const done = completedAt(write, idc);
    return done === null || done > partition.cutAt;
  };

  // When each IDC served each write everywhere: the deadline after which no read there may get anything older.
  const deadlines = idcs.map(() => new Map<number, { version: number; at: number }[]>());
  for (const write of writes) {
    for (const idc of idcs) {
      const at = completedAt(write, idc.index);
      if (at === null) continue;
      const list = deadlines[idc.index]!.get(write.object) ?? [];
      list.push({ version: write.version, at });
      deadlines[idc.index]!.set(write.object, list);
    }
  }
  const newestAcked = (object: number, at: number) => {
    const versions = catalog.entries[object]!.versions;
    for (let v = versions.length - 1; v >= 0; v--) if (versions[v]!.ackedAt !== null && versions[v]!.ackedAt! <= at) return v;
    return -1;
  };
  const isStale = (read: Read) =>
    read.version !== null && read.version >= 0 && (deadlines[read.idc]!.get(read.object) ?? []).some((d) => d.version > read.version! && d.at < read.startedAt);
  const isOld = (read: Read) => read.version !== null && read.version >= 0 && read.version < newestAcked(read.object, read.startedAt);
  const failed = (read: Read) => read.status === null || read.status >= 500;

  const slow: { idc: string; ackedAt: number; ms: number }[] = [];
  const perIdc = idcs.map((idc): IdcReport => {
    const mine = reads.filter((read) => read.idc === idc.index);
    const clientReads = mine.filter((read) => !read.probe);
    const statuses: Record<string, number> = {};
    for (const read of clientReads) {
      const status = read.status === null ? 'no answer' : String(read.status);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    const good = clientReads.filter((read) => read.version !== null && read.version >= 0);
    const objects = new Map<string, number>();
    for (const read of mine) {
      if (read.version !== null && read.version >= 0) objects.set(`${read.object}:${read.version}`, catalog.entries[read.object]!.versions[read.version]!.size);
    }
    const readBytes = [...objects.values()].reduce((a, b) => a + b, 0);
    const timed: number[] = [];
    let unfinished = 0;
    const goalMs = round(idc.rttMs + 150, 1);
    const stallsAt = [...idc.link.stallsAt, ...idc.redisLink.stallsAt];
    let overGoal = 0;
    let overGoalWithStall = 0;
    const spans: { all: number[][]; overGoal: number[][] } = { all: [], overGoal: [] };
    for (const write of writes) {
      if (caught(write, idc.index)) continue;
      const at = completedAt(write, idc.index);
      if (at === null) {
        unfinished++;
        continue;
      }
      const ms = at - write.ackedAt;
      timed.push(ms);
      const entry = catalog.entries[write.object]!;
      const fetched = idc.originFetches.get(`${entry.path} ${entry.versions[write.version]!.etag}`)?.[0];
      const span = fetched && [fetched.startedAt - write.ackedAt, fetched.endedAt - fetched.startedAt, at - fetched.endedAt];
      if (span) spans.all.push(span);
      if (span && ms > goalMs) spans.overGoal.push(span);
      if (ms > goalMs) {
        overGoal++;
        // The entry leaves for the replicas as the origin answers: its chunk may stall just before the acknowledgement arrives.
        if (stallsAt.some((t) => t >= write.ackedAt - ENTRY_BEFORE_ACK_MS && t <= at)) overGoalWithStall++;
      }
      slow.push({ idc: idc.name, ackedAt: write.ackedAt, ms });
    }
    const stale = mine.filter(isStale).length;
    const originFetches = [...idc.originFetches.values()].reduce((a, fetches) => a + fetches.length, 0);
    const windows = [
      ...input.faults.filter((f) => f.idc === idc.name || f.idc === 'origin').map((f) => [f.at, f.backAt + WINDOW_AFTER_MS] as const),
      ...(wasCut && idc.index === cutIndex ? [[partition.cutAt, partition.healAt + WINDOW_AFTER_MS] as const] : []),
    ];
    const repeats = [...idc.originFetches].flatMap(([key, fetches]) => fetches.slice(1).map(({ endedAt: t, by }) => ({ key, t, gap: t - fetches[0]!.endedAt, by, firstBy: fetches[0]!.by })));
    const inWindow = (t: number) => windows.some(([from, to]) => t >= from && t <= to);
    const redisBytes = idc.redisLink.stats.bytesDown + idc.redisLink.stats.bytesUp;
    const crossIdcBytes = idc.link.stats.bytesDown + idc.link.stats.bytesUp + redisBytes;
    return {
      name: idc.name,
      rttMs: round(idc.rttMs, 1),
      reads: clientReads.length,
      served: good.length,
      statuses,
      wrongBodies: mine.filter((read) => read.version === -1).length,
      readP50Ms: percentile(good.map((read) => read.endedAt - read.startedAt), 50),
      readP99Ms: percentile(good.map((read) => read.endedAt - read.startedAt), 99),
      probes: mine.length - clientReads.length,
      invalidation: {
        ...latency(timed), goalMs, timed: timed.length, unfinished, overGoal, overGoalWithStall,
        phases: { all: phasesOf(spans.all), overGoal: phasesOf(spans.overGoal) },
      },
      staleAfterDeadline: stale,
      oldBeforeDeadline: mine.filter(isOld).length - stale,
      objectsRead: objects.size,
      readBytes,
      originFetches,
      objectsFetched: idc.originFetches.size,
      originFetchesPerObject: ratio(originFetches, idc.originFetches.size),
      repeatFetches: {
        all: repeats.length,
        withinOneSecond: repeats.filter((r) => r.gap <= 1000).length,
        inFaultWindows: repeats.filter((r) => inWindow(r.t)).length,
        first: repeats.sort((a, b) => a.t - b.t).slice(0, LISTED_REPEATS).map((r) => ({
          key: r.key, atMs: r.t - input.began, afterFirstMs: r.gap, inFaultWindow: inWindow(r.t), sameEdge: r.by !== null && r.by === r.firstBy,
        })),
      },
      originFetchP50Ms: percentile(idc.originFetchMs, 50),
      originFetchP99Ms: percentile(idc.originFetchMs, 99),
      crossIdcBytes,
      redisBytes,
      crossIdcBytesRatio: ratio(crossIdcBytes, readBytes),
      linkStalls: idc.link.stats.stalls + idc.redisLink.stats.stalls,
      linkChunks: idc.link.stats.chunks + idc.redisLink.stats.chunks,
      edgeCounters: input.counters[idc.index]!,
    };
  });
  const sum = (pick: (r: IdcReport) => number) => perIdc.reduce((a, r) => a + pick(r), 0);

  // Overall: a write is served everywhere when the last IDC (the cut one aside while it catches up) served it.
  const overall: number[] = [];
  let overallUnfinished = 0;
  const everywhere = (write: WriteRecord): number | null => {
    let last = write.ackedAt;
    for (const idc of idcs) {
      if (caught(write, idc.index)) continue;
      const at = completedAt(write, idc.index);
      if (at === null) return null;
      last = Math.max(last, at);
    }
    return last;
  };
  for (const write of writes) {
    const at = everywhere(write);
    if (at === null) overallUnfinished++;
    else overall.push(at - write.ackedAt);
  }

  const caughtWrites = cutIndex < 0 ? [] : writes.filter((write) => caught(write, cutIndex));
  const caughtDone = caughtWrites.map((write) => completedAt(write, cutIndex));
  const catchUpMs = caughtWrites.length > 0 && caughtDone.every((at) => at !== null)
    ? Math.max(0, ...caughtDone.map((at) => at! - partition.healAt))
    : null;
  const during = (read: Read) => wasCut && read.idc === cutIndex && !read.probe && read.startedAt >= partition.cutAt && read.startedAt < partition.healAt;
  const cutReads = reads.filter(during);
  const cutIdc = idcs[cutIndex];
  const firstFetch = wasCut ? cutIdc?.originFetchTimes.find((t) => t >= partition.healAt) : undefined;

  const slowest = slow.sort((a, b) => b.ms - a.ms).slice(0, SLOWEST).map(({ idc, ackedAt, ms }) => ({ idc, atMs: ackedAt - input.began, ms }));
  const faults = input.faults.map((fault): FaultReport => {
    const idc = idcs.find((i) => i.name === fault.idc);
    const inWindow = (t: number) => t >= fault.at && t <= fault.backAt + WINDOW_AFTER_MS;
    const windowReads = reads.filter((read) => !read.probe && inWindow(read.startedAt) && (!idc || read.idc === idc.index));
    const windowWrites = writes.filter((write) => inWindow(write.ackedAt));
    const times = windowWrites.map((write) => {
      const at = idc ? completedAt(write, idc.index) : everywhere(write);
      return at === null ? null : at - write.ackedAt;
    }).filter((t): t is number => t !== null);
    return {
      kind: fault.kind, idc: fault.idc, target: fault.target, atMs: fault.at - input.began, downMs: fault.backAt - fault.at, how: fault.how,
      readsFailed: windowReads.filter(failed).length, readsInWindow: windowReads.length,
      invalidationMaxMs: times.length ? Math.max(...times) : null, writesInWindow: windowWrites.length,
    };
  });

  const notMeasured: Record<string, string> = {};
  if (overall.length === 0) notMeasured.invalidation = overallUnfinished ? `${overallUnfinished} overwrites timed, none served everywhere before the run ended` : 'no overwrite was acknowledged during the run';
  if (catchUpMs === null) {
    notMeasured['partition.catchUpMs'] = !wasCut ? 'the run was too short or stopped before the cut'
      : caughtWrites.length === 0 ? 'no overwrite was acknowledged while the IDC was cut off, so it had nothing to catch up on'
      : `${caughtDone.filter((at) => at === null).length} of the ${caughtWrites.length} writes made while it was cut were never served there before the run ended`;
  }
  const uploads = catalog.entries.length - catalog.initial;
  return {
    startedAt: input.startedAt.toISOString(),
    elapsedMs: input.elapsedMs,
    aborted: input.aborted,
    network: { kind: input.network.kind, note: input.network.note },
    options: {
      idcs: options.idcs, minutes: round(options.durationMs / 60_000), warmUpSec: round(options.warmUpMs / 1000), rttMs: options.rttMs, lossPct: options.lossPct,
      readsPerSec: options.readsPerSec, writesPerSec: options.writesPerSec, objects: options.objects, replicas: options.replicas,
      originReplicas: options.originReplicas, seed: options.seed,
    },
    idcs: idcs.length,
    invalidation: { ...latency(overall), timed: overall.length, unfinished: overallUnfinished, slowest },
    staleAfterDeadline: sum((r) => r.staleAfterDeadline),
    originFetchesPerObjectPerIdc: ratio(sum((r) => r.originFetches), sum((r) => r.objectsFetched)),
    bucketReadsPerVersion: ratio(input.bucketReads, new Set(idcs.flatMap((idc) => [...idc.originFetches.keys()])).size),
    crossIdcBytesRatio: ratio(sum((r) => r.crossIdcBytes), sum((r) => r.readBytes)),
    partition: {
      idc: partition.idc,
      mechanism: partition.mechanism || 'not cut (the run was too short or stopped)',
      cutMs: wasCut ? partition.healAt - partition.cutAt : 0,
      readsDuringCut: cutReads.length,
      servedDuringCut: cutReads.filter((read) => read.version !== null && read.version >= 0).length,
      failedDuringCut: cutReads.filter((read) => read.version === null).length,
      wrongDuringCut: cutReads.filter((read) => read.version === -1).length,
      oldDuringCut: cutReads.filter(isOld).length,
      writesCaught: caughtWrites.length,
      firstOriginFetchAfterHealMs: firstFetch === undefined ? null : firstFetch - partition.healAt,
      catchUpMs,
    },
    wrongBodies: sum((r) => r.wrongBodies),
    writes: { uploads, overwrites: catalog.entries.slice(0, catalog.initial).reduce((a, e) => a + e.versions.length - 1, 0), failed: input.uploadFailures },
    readsSkipped: input.skipped,
    faults,
    perIdc,
    notMeasured,
  };
}
