#!/usr/bin/env node
// Runs every compiled test file under dist/test with Node's test runner.
// Usage: node scripts/run-tests.mjs [substring ...] to run only matching files.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..');
const testDir = path.join(root, 'dist', 'test');

function find(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...find(full));
    else if (entry.name.endsWith('.test.js')) found.push(full);
  }
  return found.sort();
}

if (!fs.existsSync(testDir)) {
  console.error('no dist/test: run `npm run build` first');
  process.exit(1);
}
const filters = process.argv.slice(2);
const files = find(testDir).filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// The hostile-client tests hold thousands of connections, one fd each on both
// sides; Node cannot raise its own soft limit, so the runner starts under the
// hard limit when the shell can raise it (a container's soft limit is often 1024).
const result = spawnSync(
  '/bin/sh',
  ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh',
    process.execPath, '--enable-source-maps', '--test', '--test-timeout=120000', '--test-concurrency=2', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(result.status ?? 1);
