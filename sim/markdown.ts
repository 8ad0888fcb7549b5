// The report for people: the figures with their goals, the per-IDC table,
// the partition, what each fault did, and what was not measured and why.
import type { Phases, SimReport } from './report.js';

const show = (value: number | null, unit = '') => (value === null ? 'not measured' : `${value}${unit}`);
const verdict = (met: boolean | null) => (met === null ? 'not measured' : met ? 'met' : '**not met**');

const FAULTS: Record<string, string> = {
  'redis-replica-restart': 'Redis replica restarted',
  'edge-killed': 'edge replica killed',
  'origin-killed': 'origin replica killed',
};

export function renderMarkdown(report: SimReport): string {
  const o = report.options;
  const p = report.partition;
  const inv = report.invalidation;
  const idcMet = report.perIdc.every((r) => r.invalidation.p99_ms !== null && r.invalidation.p99_ms <= r.invalidation.goalMs && r.invalidation.unfinished === 0);
  const repeats = report.perIdc.reduce((sum, r) => sum + r.repeatFetches.all, 0);
  const lines = [
    `# imgedge multi-IDC simulation, ${report.startedAt}`,
    '',
    `${report.idcs} edge IDCs of ${o.replicas} peered edges and a Redis replica each, behind an origin IDC of ${o.originReplicas} origin replicas, a bucket and the Redis primary; ${o.minutes} min after ${o.warmUpSec} s of reads alone (the edges start empty), round trips ${o.rttMs[0]}–${o.rttMs[1]} ms, loss ${o.lossPct}% (a stall of one RTO), ${o.readsPerSec} reads/s per IDC over ${o.objects} objects (Zipf), ${o.writesPerSec} writes/s (${report.writes.overwrites} overwrites, ${report.writes.uploads} new objects, ${report.writes.failed} not acknowledged), seed ${o.seed}.`,
    `Network: ${report.network.kind}: ${report.network.note}.${report.aborted ? ' **Stopped early.**' : ''}`,
    '',
    '| figure | value | goal | |',
    '| --- | --- | --- | --- |',
    `| invalidation p50 / p99 / max, every edge of every IDC | ${show(inv.p50_ms, ' ms')} / ${show(inv.p99_ms, ' ms')} / ${show(inv.max_ms, ' ms')} (${inv.timed} overwrites, ${inv.unfinished} never served everywhere) | per IDC: p99 ≤ its RTT + 150 ms | ${verdict(report.perIdc.length ? idcMet : null)} |`,
    `| stale reads after the deadline | ${report.staleAfterDeadline} | 0 | ${verdict(report.staleAfterDeadline === 0)} |`,
    `| wrong bodies | ${report.wrongBodies} | 0 | ${verdict(report.wrongBodies === 0)} |`,
    // Judged on the fetches themselves: one repeat in thousands still rounds to 1.000.
    `| origin fetches per object per IDC | ${show(report.originFetchesPerObjectPerIdc)} (${repeats} repeated) | 1 | ${verdict(report.originFetchesPerObjectPerIdc === null ? null : repeats === 0)} |`,
    `| bucket reads per object version fetched | ${show(report.bucketReadsPerVersion)} | (the origin tier's reads; ${report.idcs} if each IDC's fetch read the bucket) | |`,
    `| cross-IDC bytes ratio | ${show(report.crossIdcBytesRatio)} | ≤ 1.05 | ${verdict(report.crossIdcBytesRatio === null ? null : report.crossIdcBytesRatio <= 1.05)} |`,
    `| partition catch-up | ${show(p.catchUpMs, ' ms')} | ≤ 2000 ms | ${verdict(p.catchUpMs === null ? null : p.catchUpMs <= 2000)} |`,
    '',
    '| IDC | RTT ms | reads | served | wrong | read p50 / p99 ms | invalidation p50 / p99 / max ms (goal) | over the goal (with a stall) | unfinished | stale after deadline | old within deadline | origin fetches per object (repeats: all / within 1 s / in fault windows) | origin time p50 / p99 ms | peer fetches ok / owner unreachable / found at the stand-in | cross-IDC bytes ratio (Redis bytes) | link stalls |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...report.perIdc.map((r) =>
      `| ${r.name} | ${r.rttMs} | ${r.reads} | ${r.served} | ${r.wrongBodies} | ${show(r.readP50Ms)} / ${show(r.readP99Ms)} | ${show(r.invalidation.p50_ms)} / ${show(r.invalidation.p99_ms)} / ${show(r.invalidation.max_ms)} (${r.invalidation.goalMs}) | ${r.invalidation.overGoal} (${r.invalidation.overGoalWithStall}) | ${r.invalidation.unfinished} | ${r.staleAfterDeadline} | ${r.oldBeforeDeadline} | ${show(r.originFetchesPerObject)} (${r.repeatFetches.all} / ${r.repeatFetches.withinOneSecond} / ${r.repeatFetches.inFaultWindows}) | ${show(r.originFetchP50Ms)} / ${show(r.originFetchP99Ms)} | ${r.edgeCounters.peerFetchesOk} / ${r.edgeCounters.peerFetchesUnreachable} / ${r.edgeCounters.handoffHits} | ${show(r.crossIdcBytesRatio)} (${r.redisBytes}) | ${r.linkStalls} of ${r.linkChunks} chunks |`),
    '',
    `Where an overwrite's time went (medians, ms: to the origin's receiving the IDC's request / at the origin / from there to every edge serving it; all overwrites, then those over the goal): ${report.perIdc.map((r) => `${r.name} ${phaseText(r.invalidation.phases.all)}, ${phaseText(r.invalidation.phases.overGoal)}`).join('; ')}.`,
    '',
    `Slowest overwrites to reach every edge of an IDC: ${inv.slowest.map((o) => `${o.ms} ms in ${o.idc} at ${(o.atMs / 1000).toFixed(1)} s`).join('; ') || 'none'} (seconds from the first write, after the warm-up; the cut IDC's writes while cut are the catch-up's).`,
    '',
    `Partition: ${p.idc} cut off for ${(p.cutMs / 1000).toFixed(1)} s (${p.mechanism}). While cut: ${p.readsDuringCut} reads, ${p.servedDuringCut} served from what it held (${p.oldDuringCut} of them an older version than the newest written), ${p.failedDuringCut} failed, ${p.wrongDuringCut} wrong. ${p.writesCaught} overwrites it had not served when cut; after the heal every edge there served all of them within ${show(p.catchUpMs, ' ms')}; first origin fetch after the heal: ${show(p.firstOriginFetchAfterHealMs, ' ms')}.`,
    '',
    'Faults (window: from the fault to 5 s after it was back):',
    '',
    '| fault | where | at | down | reads failed in window | slowest invalidation of the writes in window | how |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...report.faults.map((f) =>
      `| ${FAULTS[f.kind] ?? f.kind} | ${f.target} | ${(f.atMs / 1000).toFixed(1)} s | ${(f.downMs / 1000).toFixed(1)} s | ${f.readsFailed} of ${f.readsInWindow} | ${show(f.invalidationMaxMs, ' ms')} (${f.writesInWindow} writes) | ${f.how} |`),
    report.readsSkipped ? `\nThe load generator skipped ${report.readsSkipped} reads (64 open per IDC already, or no edge up): the machine could not keep the rate.` : '',
    '',
    ...(Object.keys(report.notMeasured).length ? ['Not measured:', ...Object.entries(report.notMeasured).map(([key, reason]) => `- \`${key}\`: ${reason}.`), ''] : []),
  ];
  return lines.join('\n');
}

function phaseText(phases: Phases | null): string {
  return phases ? `${phases.toOriginMs} / ${phases.atOriginMs} / ${phases.afterOriginMs} (${phases.overwrites})` : '–';
}
