// Loaded into each test file's process in a mutant run (stryker.config.mjs,
// tap.nodeArgs). The TAP runner runs a test file with `node FILE`, where
// node:test applies no --test-timeout (only `node --test` does), so a file
// that a mutant makes hang ran on to the mutant's own timeout: half a minute
// or more where many files cover it. stryker-unit-first.mjs gives each file a
// deadline from its time in the initial run; past it, the file fails as a
// test would, and the runner stops there.
'use strict';
const deadlineMs = Number(process.env.STRYKER_FILE_DEADLINE_MS);
if (deadlineMs > 0) {
  setTimeout(() => {
    process.stdout.write(`not ok 1 - still running ${deadlineMs} ms after it started\n`);
    process.exit(1);
  }, deadlineMs).unref();
}
