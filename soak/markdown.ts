// A soak report as Markdown: the tables first, the evidence after.
import { OUTCOMES, VIOLATIONS } from './checker.js';
import type { EdgeReport, SoakReport } from './report.js';

const row = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
const table = (head: readonly string[], rows: readonly (readonly (string | number)[])[]) =>
  [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');

/** Min–max of RSS (MiB) and fds per time bucket, one column per edge. */
function memoryTable(edges: readonly EdgeReport[], ranMs: number): string {
  const bucketMs = ranMs > 180_000 ? 60_000 : 10_000;
  const buckets = Math.max(1, Math.ceil(ranMs / bucketMs));
  const rows: string[][] = [];
  for (let b = 0; b < buckets; b++) {
    const cells = [`${(b * bucketMs) / 1000}–${((b + 1) * bucketMs) / 1000} s`];
    for (const edge of edges) {
      const inside = edge.samples.filter((s) => s.t >= b * bucketMs && s.t < (b + 1) * bucketMs);
      if (!inside.length) {
        cells.push('–', '–');
        continue;
      }
      const rss = inside.map((s) => Math.round(s.rssKiB / 1024));
      const fds = inside.map((s) => s.fds);
      cells.push(`${Math.min(...rss)}–${Math.max(...rss)}`, `${Math.min(...fds)}–${Math.max(...fds)}`);
    }
    rows.push(cells);
  }
  return table(['time', ...edges.flatMap((e) => [`${e.name} RSS MiB`, `${e.name} fds`])], rows);
}

export function renderMarkdown(report: SoakReport): string {
  const total = Object.values(report.outcomes).reduce((a, b) => a + b, 0);
  const edgeNames = Object.keys(report.byEdge).sort();
  const o = report.origin;
  const lines = [
    `# imgedge soak: ${report.failures.length ? 'FAILED' : 'passed'}`,
    '',
    `${report.startedAt}, ${(report.ranMs / 1000).toFixed(0)} s, seed ${report.seed}; ${report.settings}.`,
    '',
    '## Requests by outcome',
    '',
    table(['outcome', 'all', ...edgeNames], [
      ...OUTCOMES.map((k) => [k, report.outcomes[k], ...edgeNames.map((e) => report.byEdge[e]![k])]),
      ['total', total, ...edgeNames.map((e) => Object.values(report.byEdge[e]!).reduce((a, b) => a + b, 0))],
    ]),
    '',
    `Error statuses: ${Object.entries(report.errorStatuses).map(([s, n]) => `${s} × ${n}`).join(', ') || 'none'}. ` +
      `"aborted": a head arrived, then the body was cut (the client saw it short); "no response": refused or reset before a head (an edge down).` +
      ` Whole 200s carried the current version ${report.matched.current} times, the previous one ${report.matched.previous} times.`,
    '',
    '## Checks (all must be 0)',
    '',
    table(['check', 'count'], [...VIOLATIONS.map((k): [string, number] => [k, report.violations[k]]), ['hung requests', report.outcomes.hung]]),
    '',
    '## Faults injected',
    '',
    table(['kind', 'times'], Object.entries(report.faults)),
    '',
    `Origin: ${o.injected500} × 500, ${o.cut} bodies cut short, ${o.delayed} delays/stalls (${o.beyondTimeout} beyond --origin-timeout-ms), ` +
      `${o.abandoned} responses abandoned mid-body. Writer: ${report.activity.overwrites} overwrites, ${report.activity.deletes} deletes. ` +
      `Purges: ${report.activity.purges} answered 200, ${report.activity.purgesRefused} refused, ${report.activity.purgesUnreachable} while the edge was down.` +
      (report.activity.purgeErrors.length ? ` Refusals: ${report.activity.purgeErrors.join('; ')}` : ''),
    '',
    '## Edges: memory and file descriptors',
    '',
    table(['edge', 'role', 'starts', 'peak RSS MiB', 'peak fds', 'evictions', 'objects/ at the end (index)', 'leak check', 'SIGTERM at the end'],
      report.edges.map((e) => [
        e.name, e.role, e.starts, e.peakRssMiB, e.peakFds, e.evictions,
        e.disk ? `${e.disk.files} files, ${(e.disk.bytes / 1024 / 1024).toFixed(1)} MiB (${e.disk.indexObjects}, ${(e.disk.indexBytes / 1024 / 1024).toFixed(1)} MiB)` : '?',
        e.leak.detail, e.finalExit ?? 'needed SIGKILL',
      ])),
    '',
    memoryTable(report.edges, report.ranMs),
    '',
    '## Origin fetches',
    '',
    `${o.requests} origin requests (${o.ok} whole 200 bodies, ${o.notModified} × 304, ${o.notFound} × 404) for ` +
      `${o.distinctRequested} distinct paths requested by clients (${o.fetchedPaths.size} of them fetched): ` +
      `${(o.requests / Math.max(1, o.distinctRequested)).toFixed(2)} origin requests per path, over 3 edges, with max-age 3 s.`,
  ];
  if (report.failures.length || report.warnings.length) {
    lines.push('', '## Failures and warnings', '', ...report.failures.map((f) => `- FAIL: ${f}`), ...report.warnings.map((w) => `- warning: ${w}`));
  }
  if (report.examples.length) lines.push('', '## Examples', '', '```', ...report.examples, '```');
  const logged = report.edges.filter((e) => e.logged.length || e.crashes.length);
  if (logged.length) {
    lines.push('', '## What the edges logged (warn and above)', '');
    for (const e of logged) {
      lines.push(`- ${e.name}: ${e.logged.join('; ') || 'nothing'}`);
      for (const c of e.crashes) lines.push(`  - crash (${c.exit}):`, '```', c.tail, '```');
    }
  }
  lines.push('', '<details><summary>Fault schedule</summary>', '', ...report.faultEvents.map((e) => `- ${e}`), '', '</details>', '');
  return lines.join('\n');
}
