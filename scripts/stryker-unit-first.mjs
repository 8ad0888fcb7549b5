// Stryker's TAP runner, with the test files in a useful order. Each mutant
// runs the files that cover it, in the order the runner found them, and stops
// at the first failure. The runner's glob returns the end-to-end files first
// (they are named one by one, so found without reading a directory), and an
// end-to-end file starts an edge: seconds, where a unit test file kills the
// same mutant in a fraction of one. Unit files go first, then the edge's
// in-process tests, then the end-to-end ones.
import { declareFactoryPlugin, PluginKind, commonTokens, tokens } from '@stryker-mutator/api/plugin';
import { createTapTestRunnerFactory } from '@stryker-mutator/tap-runner';

const createTap = createTapTestRunnerFactory();

function rank(file) {
  if (file.includes('/e2e/')) return 2;
  if (file.includes('/edge/')) return 1;
  return 0;
}

function createUnitFirst(injector) {
  const runner = createTap(injector);
  const init = runner.init.bind(runner);
  runner.init = async () => {
    await init();
    runner.testFiles.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  };
  return runner;
}
createUnitFirst.inject = tokens(commonTokens.injector);

export const strykerPlugins = [declareFactoryPlugin(PluginKind.TestRunner, 'tap-unit-first', createUnitFirst)];
