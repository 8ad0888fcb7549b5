// Scores a results object the way cache-tests.fyi does: each test judged by
// the suite's own logic (dependencies honoured), counted by kind. Pure: the
// suite's groups, its judge and the results in, numbers out.
import type { Judge, Outcome, RawResults, SuiteGroup, SuiteTest, TestKind } from './suite.js';

export type ImplementationType = 'browser' | 'rev-proxy' | 'cdn' | string;

export interface Tally {
  readonly passed: number;
  readonly total: number;
}

export interface TestVerdict {
  readonly test: SuiteTest;
  readonly group: SuiteGroup;
  readonly outcome: Outcome;
  /** The client's message for a result that was not a plain pass. */
  readonly message: string | undefined;
}

export interface Score {
  readonly required: Tally;
  readonly optimal: Tally;
  /** Check tests answered "yes": informational, never pass or fail. */
  readonly checksYes: Tally;
  /** Applicable tests with no result at all (an older or partial run). */
  readonly untested: number;
  readonly verdicts: readonly TestVerdict[];
}

/** The command-line client skips browser-only tests; browsers skip the others. */
export function applicable(test: SuiteTest, type: ImplementationType): boolean {
  return type === 'browser' ? !test.browserSkip : !test.browserOnly;
}

/**
 * Why a test cannot pass against imgedge without changing its contract:
 * - unsafe-method: it sends POST, PUT, DELETE, ... through the cache, and the
 *   public port answers those 405 (uploads go to the origin);
 * - set-cookie: it needs a response with Set-Cookie stored and shared, which
 *   the edge never does (one user's cookie must not reach another).
 */
export type DesignGap = 'unsafe-method' | 'set-cookie';

export const DESIGN_GAP_MARK: Readonly<Record<DesignGap, string>> = { 'unsafe-method': '†', 'set-cookie': '§' };

function requestsOf(test: SuiteTest): Record<string, unknown>[] {
  const raw = test.raw as { requests?: unknown };
  if (!Array.isArray(raw.requests)) return [];
  return raw.requests.filter((r: unknown): r is Record<string, unknown> => typeof r === 'object' && r !== null);
}

export function designGap(test: SuiteTest): DesignGap | undefined {
  const requests = requestsOf(test);
  const method = (r: Record<string, unknown>) => (typeof r.request_method === 'string' ? r.request_method : 'GET');
  if (requests.some((r) => method(r) !== 'GET' && method(r) !== 'HEAD')) return 'unsafe-method';
  const headerNames = (r: Record<string, unknown>) =>
    Array.isArray(r.response_headers) ? r.response_headers.map((h: unknown) => (Array.isArray(h) ? String(h[0]).toLowerCase() : '')) : [];
  if (requests.some((r) => headerNames(r).includes('set-cookie'))) return 'set-cookie';
  return undefined;
}

export function score(groups: readonly SuiteGroup[], judge: Judge, results: RawResults, type: ImplementationType): Score {
  const counts: Record<TestKind, { passed: number; total: number }> = {
    required: { passed: 0, total: 0 },
    optimal: { passed: 0, total: 0 },
    check: { passed: 0, total: 0 },
  };
  let untested = 0;
  const verdicts: TestVerdict[] = [];
  for (const group of groups) {
    for (const test of group.tests) {
      if (!applicable(test, type)) continue;
      const outcome = judge(test.id, results);
      const raw = results[test.id];
      verdicts.push({ test, group, outcome, message: Array.isArray(raw) ? `${raw[0]}: ${raw[1]}` : undefined });
      const tally = counts[test.kind];
      tally.total++;
      if (outcome === 'pass' || outcome === 'yes') tally.passed++;
      if (outcome === 'untested') untested++;
    }
  }
  return { required: counts.required, optimal: counts.optimal, checksYes: counts.check, untested, verdicts };
}

export function percent(tally: Tally): string {
  return tally.total === 0 ? '-' : `${((100 * tally.passed) / tally.total).toFixed(1)}%`;
}

/** The verdicts that are not a pass, for one kind of test. */
export function shortfalls(s: Score, kind: TestKind): TestVerdict[] {
  return s.verdicts.filter((v) => v.test.kind === kind && v.outcome !== 'pass' && v.outcome !== 'yes');
}
