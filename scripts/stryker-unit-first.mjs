// Stryker's TAP runner, with the test files in a useful order. Each mutant
// runs the files that cover it, in the order given, and stops at the first
// failure, so a mutant a quick unit file kills should not wait for a slow one
// first. The runner's glob returns the end-to-end files first (they are named
// one by one, so found without reading a directory), and an end-to-end file
// starts an edge: seconds, where a unit test file kills the same mutant in a
// fraction of one. Unit files go first, then the edge's in-process tests,
// then the end-to-end ones; within each, the quickest first, as the initial
// run timed them (in one worker: the others read its times from the sandbox).
// In a mutant run each file also gets a deadline from that time, which
// stryker-file-deadline.cjs keeps in the file's process.
import fs from 'node:fs';
import path from 'node:path';
import { declareFactoryPlugin, PluginKind, commonTokens, tokens } from '@stryker-mutator/api/plugin';
import { createTapTestRunnerFactory } from '@stryker-mutator/tap-runner';

const createTap = createTapTestRunnerFactory();

function tier(file) {
  if (file.includes('/e2e/')) return 2;
  if (file.includes('/edge/')) return 1;
  return 0;
}

// Under the run's own load a file takes two to three times as long as in the
// initial run, which has the machine to itself.
const deadlineMs = (spentMs) => Math.round(4 * spentMs + 5000);

function createUnitFirst(injector) {
  const runner = createTap(injector);
  const init = runner.init.bind(runner);
  const dryRun = runner.dryRun.bind(runner);
  const mutantRun = runner.mutantRun.bind(runner);
  const runFile = runner.runFile.bind(runner);
  /** Each file's time in the initial run; a file not timed there goes last in its tier. */
  let spent = new Map();
  const timesFile = path.join(process.cwd(), '.stryker-test-file-times.json');
  const order = (a, b) =>
    tier(a) - tier(b) || (spent.get(a) ?? Infinity) - (spent.get(b) ?? Infinity) || a.localeCompare(b);
  runner.init = async () => {
    await init();
    runner.testFiles.sort(order);
  };
  runner.dryRun = async (options) => {
    const result = await dryRun(options);
    for (const test of result.tests ?? []) spent.set(test.id, test.timeSpentMs);
    fs.writeFileSync(timesFile, JSON.stringify([...spent]));
    return result;
  };
  runner.mutantRun = (options) => {
    if (spent.size === 0 && fs.existsSync(timesFile)) spent = new Map(JSON.parse(fs.readFileSync(timesFile, 'utf8')));
    return mutantRun(options.testFilter ? { ...options, testFilter: [...options.testFilter].sort(order) } : options);
  };
  // The TAP runner builds each file's environment from this process's.
  runner.runFile = (testFile, testOptions) => {
    const spentMs = spent.get(testFile);
    if (testOptions.activeMutant !== undefined && spentMs !== undefined) {
      process.env.STRYKER_FILE_DEADLINE_MS = String(deadlineMs(spentMs));
    } else {
      delete process.env.STRYKER_FILE_DEADLINE_MS;
    }
    return runFile(testFile, testOptions);
  };
  return runner;
}
createUnitFirst.inject = tokens(commonTokens.injector);

export const strykerPlugins = [declareFactoryPlugin(PluginKind.TestRunner, 'tap-unit-first', createUnitFirst)];
