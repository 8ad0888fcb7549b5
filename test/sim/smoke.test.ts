// A short simulation: two edge IDCs behind the origin IDC, one cut off and
// healed, every body checked. Needs network namespaces (root on Linux); skips
// with the reason where they cannot be made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runSim, DEFAULTS } from '../../sim/harness.js';
import { makeNetwork } from '../../sim/netns.js';

const run = promisify(execFile);
const SIM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sim/run.js');

test('npm run sim refuses a bad or unknown option with exit 2', { timeout: 30_000 }, async () => {
  for (const args of [['--idcs', '0'], ['--rtt-ms', '80-20'], ['--loss', 'lots'], ['--regions', '3'], ['--json']]) {
    const failed = await run(process.execPath, [SIM, ...args]).then(() => null, (error: { code: number; stderr: string }) => error);
    assert.equal(failed?.code, 2, `${args.join(' ')} is refused`);
    assert.match(failed.stderr, new RegExp(args[0]!), 'the message names the option');
  }
});

test('two IDCs for 15 s: no wrong body, a cut IDC serves what it held, the report keeps its keys', { timeout: 90_000 }, async (t) => {
  const probe = await makeNetwork(1);
  await probe.close();
  if (probe.kind !== 'netns') {
    t.skip(probe.note);
    return;
  }
  const report = await runSim({
    ...DEFAULTS, idcs: 2, durationMs: 15_000, cutMs: 4000, readsPerSec: 30, objects: 100, rttMs: [20, 60], lossPct: 1, seed: 23,
  });
  const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
  for (const key of ['idcs', 'invalidation', 'staleAfterDeadline', 'originFetchesPerObjectPerIdc', 'crossIdcBytesRatio', 'partition', 'wrongBodies']) {
    assert.ok(key in json, `key ${key}`);
  }
  assert.deepEqual(report.invalidation, { p50_ms: null, p99_ms: null, max_ms: null });
  assert.equal(report.staleAfterDeadline, null);
  assert.equal(report.partition.catchUpMs, null);
  for (const key of ['invalidation', 'staleAfterDeadline', 'partition.catchUpMs']) assert.ok(report.notMeasured[key], `${key}: the reason it is not measured`);

  assert.equal(report.idcs, 2);
  assert.equal(report.wrongBodies, 0);
  const served = report.perIdc.reduce((n, r) => n + r.served, 0);
  assert.ok(served > 200, `${served} reads served`);
  // Three edges per IDC and no peers yet: each fetches an object once at most.
  assert.ok(report.originFetchesPerObjectPerIdc! >= 1 && report.originFetchesPerObjectPerIdc! <= 3, `${report.originFetchesPerObjectPerIdc} fetches per object per IDC`);
  assert.ok(report.crossIdcBytesRatio! >= 1 && report.crossIdcBytesRatio! <= 3.2, `cross-IDC bytes ratio ${report.crossIdcBytesRatio}`);
  assert.ok(report.perIdc.every((r) => r.linkChunks > 0), 'every IDC read through its link');

  const p = report.partition;
  assert.equal(p.idc, 'idc2');
  assert.ok(p.cutMs >= 4000, `cut for ${p.cutMs} ms`);
  assert.ok(p.servedDuringCut > 0, 'the cut IDC served what it held');
  assert.equal(p.wrongDuringCut, 0);

  const { stdout } = await run('ip', ['netns', 'list']);
  assert.ok(!stdout.includes(`imgsim${process.pid}-`), 'namespaces removed');
});
