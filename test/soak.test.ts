// The soak harness in short: ~25 s, a fixed seed, objects up to 2 MiB, every
// fault kind at least once. npm run soak runs the long version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { runSoak, DEFAULTS } from '../soak/harness.js';
import { FAULT_KINDS } from '../soak/faults.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('short soak: faults all round, and never a wrong or short answer', { timeout: 120_000 }, async () => {
  const report = await runSoak({
    ...DEFAULTS,
    durationMs: 25_000,
    seed: 20251125,
    clients: 12,
    objects: 400,
    maxObjectBytes: 2 * 1024 * 1024,
    smallCacheBytes: 4 * 1024 * 1024,
    sampleEveryMs: 1000,
  });
  const detail = `\n${report.failures.join('\n')}\n${report.examples.slice(0, 5).join('\n')}`;
  assert.equal(report.violations['wrong bytes'], 0, detail);
  assert.equal(report.violations['short body presented as complete'], 0, detail);
  assert.deepEqual(report.failures, [], detail);
  for (const kind of FAULT_KINDS) assert.ok(report.faults[kind] >= 1, `fault ${kind} injected`);
  assert.ok(report.faults['cache full (evictions on B)'] >= 1, 'the small edge evicted');
  assert.ok(report.outcomes['200'] > 100 && report.outcomes['206'] > 0 && report.outcomes['304'] > 0 && report.outcomes['404'] > 0, JSON.stringify(report.outcomes));
  const pids = report.edges.flatMap((e) => e.pids);
  assert.ok(pids.length >= 4, 'three edges, one restarted');
  assert.deepEqual(pids.filter(alive), [], 'every edge process is gone');
  assert.equal(fs.existsSync(report.tempDir), false, 'the cache dirs are removed');
});
