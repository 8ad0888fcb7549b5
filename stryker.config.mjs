// StrykerJS over src/http/ and src/cache/ (npm run mutate runs both parts and
// merges their reports; MUTATE_PART=http or cache runs one). Each part has its
// own sandbox dir, incremental file and report, so the two can run side by side.
const PARTS = {
  http: ['src/http/**/*.ts'],
  cache: ['src/cache/**/*.ts'],
};
const part = process.env.MUTATE_PART ?? 'http';
if (!PARTS[part]) throw new Error(`MUTATE_PART must be one of ${Object.keys(PARTS).join(', ')}`);

export default {
  packageManager: 'npm',
  mutate: PARTS[part],
  buildCommand: 'tsc -p .',
  testRunner: 'tap-unit-first',
  plugins: ['@stryker-mutator/*', './scripts/stryker-unit-first.mjs'],
  tap: {
    // The unit tests of both modules, the edge's in-process tests, and the
    // end-to-end files about caching itself. Left out: end-to-end files about
    // the edge around the cache (admin API, hit lane, logs, the README's
    // claims), which take seconds each and whose cache and HTTP rules the
    // files here already cover; and those whose edge runs in a child process
    // (its coverage is not seen).
    testFiles: [
      'dist/test/http/*.test.js',
      'dist/test/cache/*.test.js',
      'dist/test/edge/{admin,head-linear,redact}.test.js',
      'dist/test/e2e/{broken-origin,coalescing,edge,lru,pass-through-bodies,purge,semantics,short-body}.test.js',
    ],
    nodeArgs: ['--test-timeout=120000'],
    forceBail: true,
  },
  coverageAnalysis: 'perTest',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  ignorePatterns: ['dist', 'var', 'reports', 'bench/results', 'soak/results', 'conformance/results', '.stryker-tmp*'],
  concurrency: 1,
  // Past the covering tests' own time: a mutant that loops forever costs 8 s, not 20.
  timeoutMS: 8000,
  incremental: true,
  incrementalFile: `reports/stryker-incremental-${part}.json`,
  reporters: ['json', 'clear-text', 'progress'],
  jsonReporter: { fileName: `reports/mutation/${part}.json` },
  tempDirName: `.stryker-tmp-${part}`,
  cleanTempDir: 'always',
};
