// What a scenario hands back, and the markdown it becomes: a header naming
// the machine and the pinning, the goals with met / not met, then one
// section per scenario with its table. Goals report; they never fail a run.
export interface Table {
  readonly caption?: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export type Verdict = 'met' | 'not met' | 'not measured';

export interface Goal {
  readonly text: string;
  readonly verdict: Verdict;
  readonly evidence: string;
}

export interface ScenarioReport {
  readonly title: string;
  /** How the scenario was run, one markdown line each. */
  readonly setup: readonly string[];
  readonly tables: readonly Table[];
  readonly goals: readonly Goal[];
  readonly notes: readonly string[];
}

export interface ReportHeader {
  readonly date: string;
  readonly startedAt: string;
  readonly mode: string;
  readonly machine: readonly string[];
  readonly pinning: string;
  /** What /proc said of each target's process at its trial start. */
  readonly checked: readonly string[];
  readonly targets: readonly string[];
  readonly skipped: readonly string[];
  readonly tookMs: number;
}

const number = (digits: number) => new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A figure for a table; NaN and infinities (nothing measured) show as a dash. */
export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? number(digits).format(value) : '—';
}

export function mib(bytes: number, digits = 1): string {
  return fmt(bytes / 2 ** 20, digits);
}

/** target ÷ base, as "1.23×"; a dash when either is missing. Goals use 3 digits, so 1.052 never reads as 1.05. */
export function ratio(value: number, base: number, digits = 2): string {
  return Number.isFinite(value) && Number.isFinite(base) && base !== 0 ? `${number(digits).format(value / base)}×` : '—';
}

/** A goal from a comparison; null means one side was not measured. */
export function goal(text: string, met: boolean | null, evidence: string): Goal {
  return { text, verdict: met === null ? 'not measured' : met ? 'met' : 'not met', evidence };
}

export function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${seconds} s`;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export function renderTable(table: Table): string {
  const lines: string[] = [];
  if (table.caption) lines.push(`**${table.caption}**`, '');
  lines.push(`| ${table.columns.map(cell).join(' | ')} |`);
  // Figures align right; a column of words stays left.
  const numeric = table.columns.map((_, i) => i > 0 && table.rows.every((row) => !row[i] || /^[-+]?[\d—]/.test(row[i]!)));
  lines.push(`| ${numeric.map((right) => (right ? '---:' : '---')).join(' | ')} |`);
  for (const row of table.rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

const MARK: Record<Verdict, string> = { met: 'met', 'not met': '**not met**', 'not measured': 'not measured' };

export function renderReport(header: ReportHeader, scenarios: readonly ScenarioReport[]): string {
  const out: string[] = [];
  out.push(`# imgedge benchmark, ${header.date}`, '');
  out.push(...header.machine.map((line) => `- ${line}`));
  out.push(`- Pinning: ${header.pinning}`);
  if (header.checked.length) out.push(`- Checked in /proc at each target's trial start: ${header.checked.join('; ')}.`);
  out.push(`- Run: ${header.mode}; started ${header.startedAt}; took ${duration(header.tookMs)}.`);
  out.push('- "÷ imgedge" columns are the target\'s figure divided by imgedge\'s (log level warn). Benchmarks report; no figure fails the run.');
  if (header.skipped.length) out.push(...header.skipped.map((line) => `- Skipped: ${line}`));
  out.push('', '## How each target ran', '', ...header.targets, '');

  out.push('## Goals', '');
  const goals = scenarios.flatMap((s) => s.goals.map((g) => [s.title, g.text, MARK[g.verdict], g.evidence]));
  out.push(goals.length ? renderTable({ columns: ['scenario', 'goal', 'result', 'evidence'], rows: goals }) : 'No goals were measured.', '');

  for (const scenario of scenarios) {
    out.push(`## ${scenario.title}`, '');
    if (scenario.setup.length) out.push(...scenario.setup, '');
    for (const table of scenario.tables) out.push(renderTable(table), '');
    if (scenario.notes.length) out.push(...scenario.notes.map((n) => `- ${n}`), '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
