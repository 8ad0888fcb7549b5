// The HTTP caching test suite (http-cache-tests, behind cache-tests.fyi)
// through a real edge, on the groups that cover what the edge claims:
// freshness, Age, Cache-Control parsing and response directives, validation
// and conditional requests, 304 updates, ranges. Every required and optimal
// test there must pass, except the known failures in ./conformance-known.ts,
// which run as todo: a regression fails `npm test`, a known gap does not, and a
// gap that closes shows as a passing todo to be taken off the list.
// `npm run conformance` runs the whole suite and writes the full report.
import { test } from 'node:test';
import { startHarness, type Harness } from '../scripts/conformance/harness.js';
import { runInProcess, selectTests } from '../scripts/conformance/client.js';
import { loadGroups, loadJudge, type RawResults, type SuiteGroup, type SuiteTest } from '../scripts/conformance/suite.js';
import { CLAIMED_GROUPS, KNOWN_FAILURES } from './conformance-known.js';

// The suite waits 3 s after some requests; everything selected runs at once.
const RUN_TIMEOUT_MS = 45_000;

/** The claimed groups' tests, plus whatever they depend on (a dependency's verdict decides theirs). */
function withDependencies(groups: readonly SuiteGroup[]): SuiteGroup[] {
  const byId = new Map(groups.flatMap((g) => g.tests.map((t) => [t.id, t] as const)));
  const wanted = new Set<string>();
  const add = (t: SuiteTest) => {
    if (wanted.has(t.id)) return;
    wanted.add(t.id);
    for (const dep of t.dependsOn) add(byId.get(dep)!);
  };
  for (const g of groups) if (CLAIMED_GROUPS.has(g.id)) g.tests.filter((t) => !t.browserOnly).forEach(add);
  return selectTests(groups, (t) => wanted.has(t.id));
}

function asserted(t: SuiteTest, group: SuiteGroup): boolean {
  // Check tests only inform, except freshness-none: nearly every test depends on it.
  return CLAIMED_GROUPS.has(group.id) && !t.browserOnly && (t.kind !== 'check' || t.id === 'freshness-none');
}

async function runBounded(harness: Harness, selected: readonly SuiteGroup[]): Promise<RawResults> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`suite did not finish within ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
  });
  try {
    return await Promise.race([runInProcess(selected, harness.baseUrl, 1000), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('http-cache-tests: the claimed groups pass through an edge', { timeout: 90_000 }, async (t) => {
  const all = await loadGroups();
  const judge = await loadJudge(all);
  const known = Object.keys(KNOWN_FAILURES).filter((id) => !all.some((g) => g.tests.some((x) => x.id === id)));
  if (known.length > 0) throw new Error(`KNOWN_FAILURES names tests the suite does not have: ${known.join(', ')}`);

  const selected = withDependencies(all);
  const harness = await startHarness();
  let results: RawResults;
  try {
    results = await runBounded(harness, selected);
  } catch (error) {
    t.diagnostic(harness.output().slice(-4000));
    throw error;
  } finally {
    // Also ends any request still open when the run timed out.
    await harness.close();
  }

  for (const group of selected) {
    const mine = group.tests.filter((x) => asserted(x, group));
    if (mine.length === 0) continue;
    await t.test(group.name, async (g) => {
      for (const suiteTest of mine) {
        const reason = KNOWN_FAILURES[suiteTest.id];
        await g.test(suiteTest.id, reason === undefined ? {} : { todo: reason }, () => {
          const outcome = judge(suiteTest.id, results);
          if (outcome === 'pass' || outcome === 'yes') return;
          const raw = results[suiteTest.id];
          const detail = Array.isArray(raw) ? `${raw[0]}: ${raw[1]}` : 'its own result passed';
          throw new Error(`${suiteTest.kind} test ${suiteTest.id} is ${outcome} (${detail}): ${suiteTest.name}`);
        });
      }
    });
  }
});
