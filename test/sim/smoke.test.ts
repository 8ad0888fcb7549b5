// A short simulation: two edge IDCs behind the origin IDC (two origin
// replicas on an s3rver bucket, the Redis primary), overwrites timed to every
// edge, one IDC cut off and healed, the other faults on schedule, every body
// checked. Needs Debian's redis-server, and network namespaces (root on
// Linux) for all but the loopback run; skips with the reason otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runSim, DEFAULTS } from '../../sim/harness.js';
import { makeNetwork } from '../../sim/netns.js';
import { REDIS_SERVER } from '../../sim/redis.js';

const run = promisify(execFile);
const SIM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sim/run.js');
const NO_REDIS = REDIS_SERVER ? false : 'redis-server is not installed (apt-get install -y redis-server)';

test('npm run sim refuses a bad or unknown option with exit 2', { timeout: 30_000 }, async () => {
  for (const args of [['--idcs', '0'], ['--rtt-ms', '80-20'], ['--loss', 'lots'], ['--warm-up-seconds', '-1'], ['--regions', '3'], ['--json']]) {
    const failed = await run(process.execPath, [SIM, ...args]).then(() => null, (error: { code: number; stderr: string }) => error);
    assert.equal(failed?.code, 2, `${args.join(' ')} is refused`);
    assert.match(failed.stderr, new RegExp(args[0]!), 'the message names the option');
  }
});

test('two IDCs for 20 s: writes reach every edge, nothing stale after the deadline, no wrong body, the faults on schedule', { timeout: 120_000, skip: NO_REDIS }, async (t) => {
  const probe = await makeNetwork(1);
  await probe.close();
  if (probe.kind !== 'netns') {
    t.skip(probe.note);
    return;
  }
  const report = await runSim({
    ...DEFAULTS, idcs: 2, durationMs: 20_000, warmUpMs: 3000, cutMs: 4000, readsPerSec: 20, writesPerSec: 2, objects: 60, rttMs: [20, 60], lossPct: 1, seed: 23,
  });
  const json = JSON.parse(JSON.stringify(report)) as Record<string, Record<string, unknown>>;
  // A failure shows the run's figures, not just the one that failed.
  const figures = JSON.stringify({ partition: report.partition, faults: report.faults, perIdc: report.perIdc, notMeasured: report.notMeasured });
  for (const key of ['idcs', 'invalidation', 'staleAfterDeadline', 'originFetchesPerObjectPerIdc', 'crossIdcBytesRatio', 'partition', 'wrongBodies']) {
    assert.ok(key in json, `key ${key}`);
  }
  for (const key of ['p50_ms', 'p99_ms', 'max_ms']) assert.equal(typeof json.invalidation![key], 'number', `invalidation.${key}`);
  assert.ok('catchUpMs' in json.partition!);

  assert.equal(report.idcs, 2);
  assert.equal(report.wrongBodies, 0, figures);
  assert.equal(report.staleAfterDeadline, 0, `no read got old bytes after every edge of its IDC served the new ones: ${figures}`);
  assert.ok(report.invalidation.timed > 10, `${report.invalidation.timed} overwrites timed to every edge`);
  assert.ok(report.invalidation.p50_ms! <= report.invalidation.max_ms!);
  const slowest = report.invalidation.slowest;
  assert.ok(slowest[0]!.ms >= report.invalidation.max_ms!, 'the slowest listed is at least the slowest served everywhere');
  assert.equal(slowest.length, Math.min(10, report.perIdc.reduce((n, r) => n + r.invalidation.timed, 0)));
  assert.deepEqual(slowest.map((o) => o.ms), slowest.map((o) => o.ms).sort((a, b) => b - a), 'slowest first');
  assert.equal(report.options.warmUpSec, 3);
  assert.ok(report.perIdc.every((r) => r.probes > r.invalidation.timed * 2), 'every edge was asked again and again');
  assert.ok(slowest.every((o) => o.atMs >= 0 && o.atMs <= 20_000 && report.perIdc.some((r) => r.name === o.idc)), JSON.stringify(slowest));
  assert.ok(report.writes.overwrites > 10 && report.writes.uploads > 0, JSON.stringify(report.writes));
  const served = report.perIdc.reduce((n, r) => n + r.served, 0);
  assert.ok(served > 300, `${served} reads served`);
  // Peers make one fetch per object version per IDC; a killed replica and a cut IDC add a few.
  assert.ok(report.originFetchesPerObjectPerIdc! >= 1 && report.originFetchesPerObjectPerIdc! <= 2, `${report.originFetchesPerObjectPerIdc} fetches per object per IDC`);
  // Every version an IDC fetched was read from the bucket at least once, at most once per origin replica and IDC.
  assert.ok(report.bucketReadsPerVersion! >= 1 && report.bucketReadsPerVersion! <= 2.5, `${report.bucketReadsPerVersion} bucket reads per version`);
  assert.ok(report.crossIdcBytesRatio! >= 0.9 && report.crossIdcBytesRatio! <= 2.5, `cross-IDC bytes ratio ${report.crossIdcBytesRatio}`);
  assert.ok(report.perIdc.every((r) => r.linkChunks > 0 && r.redisBytes > 0), 'every IDC read and replicated through its links');
  for (const r of report.perIdc) {
    const { overGoal, overGoalWithStall, timed } = r.invalidation;
    assert.ok(overGoalWithStall <= overGoal && overGoal <= timed, `${r.name}: ${overGoal} over the goal, ${overGoalWithStall} with a stall, of ${timed}`);
    const phases = r.invalidation.phases.all;
    // Each new version is fetched from the origin once per IDC, and timed from there.
    assert.ok(phases && phases.overwrites > timed / 2 && phases.atOriginMs >= 0 && phases.afterOriginMs >= 0, `${r.name}: ${JSON.stringify(phases)}`);
  }

  assert.deepEqual(report.faults.map((f) => f.kind), ['redis-replica-restart', 'edge-killed', 'origin-killed']);
  assert.ok(report.faults.every((f) => f.downMs > 0));
  const p = report.partition;
  assert.equal(p.idc, 'idc2');
  assert.ok(p.cutMs >= 4000, `cut for ${p.cutMs} ms`);
  assert.ok(p.servedDuringCut > 0, 'the cut IDC served what it held');
  assert.equal(p.wrongDuringCut, 0);
  assert.ok(p.writesCaught > 0, 'writes were made while it was cut');
  assert.equal(typeof p.catchUpMs, 'number', `it caught up after the heal: ${JSON.stringify(report.notMeasured)}`);

  const { stdout } = await run('ip', ['netns', 'list']);
  assert.ok(!stdout.includes(`imgsim${process.pid}-`), 'namespaces removed');
});

test('on loopback (no namespaces) the links themselves are cut, and nothing wrong is served', { timeout: 90_000, skip: NO_REDIS }, async () => {
  const report = await runSim({
    ...DEFAULTS, idcs: 1, durationMs: 12_000, warmUpMs: 1000, cutMs: 3000, readsPerSec: 30, objects: 50, rttMs: [30, 30], lossPct: 1, seed: 7, allowNetns: false,
  });
  // A failure shows the run's figures, not just the one that failed.
  const figures = JSON.stringify({ partition: report.partition, faults: report.faults, idc: report.perIdc[0], notMeasured: report.notMeasured });
  assert.equal(report.network.kind, 'loopback');
  assert.match(report.network.note, /127\.0\.0\.1/);
  assert.equal(report.wrongBodies, 0, figures);
  assert.equal(report.staleAfterDeadline, 0, figures);
  assert.match(report.partition.mechanism, /links freeze/);
  assert.ok(report.partition.cutMs >= 3000, figures);
  assert.ok(report.partition.servedDuringCut > 0, `the cut IDC served what it held: ${figures}`);
  assert.ok(report.perIdc[0]!.served > 100, figures);
});

test('SIGTERM stops a run early: the report says so, and no process or namespace is left', { timeout: 90_000, skip: NO_REDIS }, async (t) => {
  const probe = await makeNetwork(1);
  await probe.close();
  if (probe.kind !== 'netns') {
    t.skip(probe.note);
    return;
  }
  const child = spawn(process.execPath, [SIM, '--idcs', '1', '--minutes', '5', '--warm-up-seconds', '1', '--reads-per-sec', '20', '--objects', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      if (stderr.includes('reads:')) resolve();
    });
    void exited.then(() => reject(new Error(`exited early:\n${stderr}`)));
  });
  const workDir = /work dir (\S+)/.exec(stderr)?.[1];
  assert.ok(workDir, stderr);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.match(stdout, /Stopped early/);
  const { stdout: spaces } = await run('ip', ['netns', 'list']);
  assert.ok(!spaces.includes(`imgsim${child.pid}-`), 'namespaces removed');
  const left = fs.readdirSync('/proc').filter((pid) => /^\d+$/.test(pid)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(workDir);
    } catch {
      return false;
    }
  });
  assert.deepEqual(left, [], 'no edge or origin process left');
  assert.equal(fs.existsSync(workDir), false, 'the work dir is removed');
});
