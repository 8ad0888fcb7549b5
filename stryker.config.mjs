// StrykerJS over src/http/ and src/cache/ (npm run mutate runs both parts and
// merges their reports; MUTATE_PART=http or cache runs one). Each part has its
// own sandbox dir, incremental file and report, so the two can run side by side.
//
// Each part runs the unit tests of both modules, and the cache part the
// end-to-end file about HTTP caching semantics too: the one end-to-end file
// that killed a mutant no unit test caught in a full run (test files are
// tried unit first, so an end-to-end file is credited only with what no unit
// test caught). The others killed none, and cost every survivor seconds each.
// Files whose edge runs in a child process are left out too (its coverage is
// not seen).
import os from 'node:os';

const UNIT = ['dist/test/http/*.test.js', 'dist/test/cache/*.test.js'];
const PARTS = {
  http: { mutate: ['src/http/**/*.ts'], testFiles: UNIT },
  cache: { mutate: ['src/cache/**/*.ts'], testFiles: [...UNIT, 'dist/test/e2e/semantics.test.js'] },
};
const part = process.env.MUTATE_PART ?? 'http';
if (!PARTS[part]) throw new Error(`MUTATE_PART must be one of ${Object.keys(PARTS).join(', ')}`);

export default {
  packageManager: 'npm',
  mutate: PARTS[part].mutate,
  buildCommand: 'tsc -p .',
  testRunner: 'tap-unit-first',
  plugins: ['@stryker-mutator/*', './scripts/stryker-unit-first.mjs'],
  tap: {
    testFiles: PARTS[part].testFiles,
    // A file that a mutant makes hang fails at a deadline of its own.
    nodeArgs: ['-r', './scripts/stryker-file-deadline.cjs'],
    forceBail: true,
  },
  coverageAnalysis: 'perTest',
  checkers: ['typescript'],
  // The checker type-checks the part alone, with what it imports: the rest of
  // src/, the tests and the tools depend on it, not the other way round, and
  // re-checking them after every mutant made the checker the bottleneck. A
  // mutant that compiles here but breaks a caller's types is run, not dropped.
  tsconfigFile: `tsconfig.mutate-${part}.json`,
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  ignorePatterns: ['dist', 'var', 'reports', 'bench/results', 'soak/results', 'conformance/results', '.stryker-tmp*'],
  // Two workers per core: while mutants are type-checked the checkers are the
  // bottleneck (half the workers are checkers until then), and the test files
  // spend much of their time waiting on sockets and fsync.
  concurrency: 2 * os.availableParallelism(),
  // A mutant's own timeout is the last resort: a file that hangs fails at its
  // deadline (stryker-file-deadline.cjs), a loop through instrumented code at
  // the hit limit. At the default 1.5 times the covering files' initial time,
  // a mutant that changes nothing could time out under the run's own load,
  // and count as detected.
  timeoutFactor: 4,
  timeoutMS: 8000,
  incremental: true,
  incrementalFile: `reports/stryker-incremental-${part}.json`,
  reporters: ['json', 'clear-text', 'progress'],
  jsonReporter: { fileName: `reports/mutation/${part}.json` },
  tempDirName: `.stryker-tmp-${part}`,
  cleanTempDir: 'always',
};
