// The report for people: the figures with their goals, the per-IDC table,
// the partition, and what is not measured yet and why.
import type { SimReport } from './report.js';

const show = (value: number | null, unit = '') => (value === null ? 'not measured' : `${value}${unit}`);

export function renderMarkdown(report: SimReport): string {
  const o = report.options;
  const p = report.partition;
  const lines = [
    `# imgedge multi-IDC simulation, ${report.startedAt}`,
    '',
    `${report.idcs} edge IDCs of ${o.replicas} edges behind one origin IDC, ${o.minutes} min, round trips ${o.rttMs[0]}–${o.rttMs[1]} ms, loss ${o.lossPct}% (a stall of one RTO), ${o.readsPerSec} reads/s per IDC over ${o.objects} objects (Zipf), seed ${o.seed}.`,
    `Network: ${report.network.kind}: ${report.network.note}.${report.aborted ? ' **Stopped early.**' : ''}`,
    '',
    '| figure | value | goal |',
    '| --- | --- | --- |',
    `| invalidation p50 / p99 / max | ${show(report.invalidation.p50_ms, ' ms')} / ${show(report.invalidation.p99_ms, ' ms')} / ${show(report.invalidation.max_ms, ' ms')} | p99 ≤ RTT to origin + 150 ms |`,
    `| stale reads after the deadline | ${show(report.staleAfterDeadline)} | 0 |`,
    `| wrong bodies | ${report.wrongBodies} | 0 |`,
    `| origin fetches per object per IDC | ${show(report.originFetchesPerObjectPerIdc)} | 1 |`,
    `| cross-IDC bytes ratio | ${show(report.crossIdcBytesRatio)} | ≤ 1.05 |`,
    `| partition catch-up | ${show(p.catchUpMs, ' ms')} | ≤ 2000 ms |`,
    '',
    '| IDC | RTT ms | reads | served | wrong | read p50 / p99 ms | objects read | origin fetches | per object | cross-IDC bytes ratio | link stalls |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...report.perIdc.map((r) =>
      `| ${r.name} | ${r.rttMs} | ${r.reads} | ${r.served} | ${r.wrongBodies} | ${show(r.readP50Ms)} / ${show(r.readP99Ms)} | ${r.objectsRead} | ${r.originFetches} | ${show(r.originFetchesPerObject)} | ${show(r.crossIdcBytesRatio)} | ${r.linkStalls} of ${r.linkChunks} chunks |`),
    '',
    `Partition: ${p.idc} cut off for ${(p.cutMs / 1000).toFixed(1)} s (${p.mechanism}). While cut: ${p.readsDuringCut} reads, ${p.servedDuringCut} served from what it held, ${p.failedDuringCut} failed, ${p.wrongDuringCut} wrong. First origin fetch after the heal: ${show(p.firstOriginFetchAfterHealMs, ' ms')}.`,
    report.readsSkipped ? `\nThe load generator skipped ${report.readsSkipped} reads (64 open per IDC already): the machine could not keep the rate.` : '',
    '',
    'Not measured yet:',
    ...Object.entries(report.notMeasured).map(([key, reason]) => `- \`${key}\`: ${reason}.`),
    '',
  ];
  return lines.join('\n');
}
