// The markdown report: one table of implementations, then imgedge's results
// by the suite's test groups and every test it does not pass, with the
// client's own message. Pure: scores in, text out.
import type { SuiteGroup } from './suite.js';
import { DESIGN_GAP_MARK, designGap, percent, shortfalls, type DesignGap, type Score, type TestVerdict } from './score.js';

export interface Row {
  readonly name: string;
  readonly version: string;
  readonly type: string;
  readonly score: Score;
}

export interface ReportInput {
  readonly suiteVersion: string;
  readonly imgedge: Row;
  readonly others: readonly Row[];
  readonly groups: readonly SuiteGroup[];
  readonly date: string;
}

const TYPE_ORDER = ['rev-proxy', 'cdn', 'browser'];

function tally(t: { passed: number; total: number }, withPercent = false): string {
  return withPercent ? `${t.passed} / ${t.total} (${percent(t)})` : `${t.passed} / ${t.total}`;
}

function escape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
}

function implementationTable(input: ReportInput): string[] {
  const others = [...input.others].sort(
    (a, b) => TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type) || b.score.required.passed - a.score.required.passed,
  );
  const lines = [
    '| Implementation | Type | Required passed | Optimal passed | Checks "yes" | Not tested |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of [input.imgedge, ...others]) {
    const name = row === input.imgedge ? `**${row.name} ${row.version}**` : `${row.name} ${row.version}`;
    const s = row.score;
    lines.push(`| ${name} | ${row.type} | ${tally(s.required, true)} | ${tally(s.optimal, true)} | ${tally(s.checksYes)} | ${s.untested} |`);
  }
  return lines;
}

const GAP_TEXT: Readonly<Record<DesignGap, string>> = {
  'unsafe-method': 'sends POST, PUT, DELETE or M-SEARCH through the cache; the public port answers 405 by contract',
  'set-cookie': 'needs a response with Set-Cookie stored and shared; by design the edge never stores one',
};

function byDesignNote(input: ReadonlyArray<TestVerdict>, required: { passed: number; total: number }): string[] {
  const gapped = input.filter((v) => v.test.kind === 'required' && designGap(v.test) !== undefined);
  if (gapped.length === 0) return [];
  const lines = ['Required tests imgedge cannot pass without changing its contract:', ''];
  for (const gap of Object.keys(GAP_TEXT) as DesignGap[]) {
    const of = gapped.filter((v) => designGap(v.test) === gap);
    if (of.length === 0) continue;
    const failing = of.filter((v) => v.outcome !== 'pass').length;
    lines.push(`- ${DESIGN_GAP_MARK[gap]} ${of.length} (${failing} not passed): the test ${GAP_TEXT[gap]}.`);
  }
  const passedGapped = gapped.filter((v) => v.outcome === 'pass').length;
  const rest = { passed: required.passed - passedGapped, total: required.total - gapped.length };
  lines.push('', `Without those ${gapped.length}, imgedge passes ${tally(rest, true)} of the required tests.`);
  return lines;
}

function outcomeSummary(verdicts: readonly TestVerdict[]): string {
  const counts = new Map<string, number>();
  for (const v of verdicts) counts.set(v.outcome, (counts.get(v.outcome) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${n} ${o.replace('_', ' ')}`).join(', ');
}

function groupTable(input: ReportInput): string[] {
  const lines = [
    '| Group | Required passed | Optimal passed | Required not passed |',
    '| --- | --- | --- | --- |',
  ];
  for (const group of input.groups) {
    const mine = input.imgedge.score.verdicts.filter((v) => v.group.id === group.id);
    if (mine.length === 0) continue;
    const count = (kind: string) => {
      const of = mine.filter((v) => v.test.kind === kind);
      return { passed: of.filter((v) => v.outcome === 'pass').length, total: of.length };
    };
    const failing = mine.filter((v) => v.test.kind === 'required' && v.outcome !== 'pass').map((v) => `\`${v.test.id}\``);
    lines.push(`| ${group.name} (\`${group.id}\`) | ${tally(count('required'))} | ${tally(count('optimal'))} | ${failing.join(', ')} |`);
  }
  return lines;
}

function verdictLine(v: TestVerdict): string {
  const gap = designGap(v.test);
  const dagger = gap ? ` ${DESIGN_GAP_MARK[gap]}` : '';
  return `- \`${v.test.id}\`${dagger} (${v.outcome.replace('_', ' ')}): ${escape(v.test.name)}${v.message ? ` — _${escape(v.message)}_` : ''}`;
}

function listByGroup(verdicts: readonly TestVerdict[], groups: readonly SuiteGroup[]): string[] {
  const lines: string[] = [];
  for (const group of groups) {
    const here = verdicts.filter((v) => v.group.id === group.id);
    if (here.length === 0) continue;
    lines.push('', `### ${group.name} (\`${group.id}\`)`, '', ...here.map(verdictLine));
  }
  return lines;
}

export function markdownReport(input: ReportInput): string {
  const s = input.imgedge.score;
  return [
    `# imgedge against the HTTP caching test suite`,
    '',
    `http-cache-tests ${input.suiteVersion} (the suite behind cache-tests.fyi), run ${input.date} by \`npm run conformance\`: ` +
      `the suite's command-line client through an imgedge edge started with \`--default-ttl 0\`. ` +
      `Every row is scored with the suite's own \`determineTestResult\`, dependencies honoured ` +
      `(a test whose prerequisite fails does not pass); the other rows are the results that ship in the suite's \`results/\` folder.`,
    '',
    ...implementationTable(input),
    '',
    ...byDesignNote(s.verdicts, s.required),
    '',
    `## imgedge by test group`,
    '',
    ...groupTable(input),
    '',
    `## imgedge: required tests not passed (${shortfalls(s, 'required').length})`,
    '',
    `By the suite's verdict: ${outcomeSummary(shortfalls(s, 'required'))}. "dependency fail" means a test it depends on did not pass; the message is the test's own.`,
    ...listByGroup(shortfalls(s, 'required'), input.groups),
    '',
    `## imgedge: optimal tests not passed (${shortfalls(s, 'optimal').length})`,
    ...listByGroup(shortfalls(s, 'optimal'), input.groups),
    '',
  ].join('\n');
}
