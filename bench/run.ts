// npm run bench [-- --only hits,stampede --targets imgedge,nginx --quick]
// The same work through imgedge, nginx and Varnish, one target at a time, each
// pinned to core 0 while the origin and the load generators share core 1.
// Writes a markdown report to bench/results/ and prints it. It reports; it
// never fails on a figure, only on being unable to run at all.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canPin, cleanupAll, describeProcess, disablePinning, freePort, hasCommand, installCleanup, pinSelf, runSync, spawnPinned, waitFor } from './proc.js';
import { getText } from './client.js';
import { configNotes, LOAD_CORE, startTarget, TARGET_CORE, TARGET_NAMES, unavailableReason, versionOf, type TargetName } from './targets.js';
import { duration, renderReport, type ScenarioReport } from './report.js';
import { DISTURBED_CORES, foreignText, meterForeignCpu, type ForeignCpu } from './cpu.js';
import { originAt, errorText, type Context } from './scenarios/context.js';
import { runHits } from './scenarios/hits.js';
import { runStampede } from './scenarios/stampede.js';
import { runMiss } from './scenarios/miss.js';
import { runBig } from './scenarios/big.js';
import { runRestart } from './scenarios/restart.js';
import { runVariants } from './scenarios/variants.js';
import { runPeers } from './scenarios/peers.js';
import { runInvalidation } from './scenarios/invalidation.js';
import { runScale } from './scenarios/scale.js';

const SCENARIOS = {
  hits: runHits, stampede: runStampede, miss: runMiss, big: runBig, restart: runRestart, variants: runVariants, peers: runPeers,
  invalidation: runInvalidation, scale: runScale,
} as const;
type ScenarioName = keyof typeof SCENARIOS;
const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS = path.join(REPO, 'bench', 'results');

const USAGE = `usage: npm run bench [-- options]
  --only LIST      scenarios to run, from ${SCENARIO_NAMES.join(',')} (default: all)
  --targets LIST   targets to run, from ${TARGET_NAMES.join(',')} (default: all)
  --quick          shorter runs and fewer objects, for a fast check
  --profile        also profile imgedge under 8 KiB hits (node --cpu-prof) and report where the time goes
A full run writes bench/results/<date>.md and latest.md; any other writes <date>-partial.md.`;

interface Options {
  readonly only: readonly ScenarioName[];
  readonly targets: readonly TargetName[];
  readonly quick: boolean;
  readonly profile: boolean;
}

function pick<T extends string>(flag: string, value: string | undefined, known: readonly T[]): T[] {
  const picked = (value ?? '').split(',').map((v) => v.trim()).filter(Boolean);
  const unknown = picked.filter((v) => !known.includes(v as T));
  if (picked.length === 0 || unknown.length) usage(`${flag}: ${unknown.length ? `unknown ${unknown.join(', ')}` : 'needs a list'}`);
  return known.filter((k) => picked.includes(k));
}

function usage(problem?: string): never {
  if (problem) console.error(`bench: ${problem}`);
  console.error(USAGE);
  process.exit(problem ? 2 : 0);
}

function parseArgs(argv: readonly string[]): Options {
  let only: ScenarioName[] = [...SCENARIO_NAMES];
  let targets: TargetName[] = [...TARGET_NAMES];
  let quick = false;
  let profile = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--only') only = pick(flag, value(), SCENARIO_NAMES);
    else if (flag === '--targets') targets = pick(flag, value(), TARGET_NAMES);
    else if (flag === '--quick') quick = true;
    else if (flag === '--profile') profile = true;
    else if (flag === '--help' || flag === '-h') usage();
    else usage(`unknown argument ${flag}`);
  }
  return { only, targets, quick, profile };
}

const began = Date.now();
function log(line: string): void {
  process.stderr.write(`[bench +${duration(Date.now() - began).padStart(8)}] ${line}\n`);
}

const TOOL_PACKAGES: Record<string, string> = { nginx: 'nginx', varnishd: 'varnish', wrk: 'wrk', taskset: 'util-linux' };

/** Installs missing tools with apt when it can, and says so; returns what happened, for the report. */
function ensureTools(tools: readonly string[]): string[] {
  const missing = tools.filter((tool) => !hasCommand(tool));
  if (missing.length === 0) return [];
  const packages = [...new Set(missing.map((tool) => TOOL_PACKAGES[tool]!))];
  if (process.getuid?.() !== 0 || !hasCommand('apt-get')) {
    log(`missing ${missing.join(', ')}; not root or no apt-get, so not installing (apt-get install -y ${packages.join(' ')})`);
    return [`missing ${missing.join(', ')}; could not install them`];
  }
  log(`missing ${missing.join(', ')}: installing with apt-get install -y ${packages.join(' ')}`);
  // RUNLEVEL=1 keeps the packages' scripts from starting system services.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  const install = () => runSync('apt-get', ['install', '-y', ...packages], env);
  let result = install();
  if (!result.ok) {
    log('apt-get install failed; running apt-get update and trying again');
    runSync('apt-get', ['update']);
    result = install();
  }
  const still = missing.filter((tool) => !hasCommand(tool));
  log(still.length ? `still missing after apt-get: ${still.join(', ')}` : `installed ${packages.join(', ')}`);
  return [`installed with apt-get: ${missing.filter((t) => !still.includes(t)).join(', ') || 'none'}${still.length ? `; still missing: ${still.join(', ')}` : ''}`];
}

function machine(nproc: string, loadAtStart: string, targets: readonly TargetName[], installed: readonly string[]): string[] {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  // Read-only: --no-optional-locks keeps git status from refreshing the index.
  const commit = runSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']);
  const dirty = runSync('git', ['-C', REPO, '--no-optional-locks', 'status', '--porcelain', '--', 'src']).output !== '';
  const built = commit.ok ? ` (commit ${commit.output}${dirty ? ' plus uncommitted changes in src/' : ''})` : '';
  const software = [`Node ${process.version}`, ...targets.map((name) => versionOf(name) + (name === 'imgedge' ? built : ''))];
  if (hasCommand('wrk')) software.push(runSync('wrk', ['-v']).output.split('\n')[0]!.split(' [')[0]!);
  return [
    `Machine: ${nproc} cores (\`nproc\`), ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${os.release()}`,
    `Software: ${software.join(', ')}`,
    `Load average (1, 5, 15 min) at the start: ${loadAtStart}; anything else running on the machine shares its cores.`,
    ...installed.map((line) => `Tools: ${line}`),
  ];
}

/** Says how much else ran during a scenario, and marks its goals when that was a lot. */
function withForeign(report: ScenarioReport, foreign: ForeignCpu): ScenarioReport {
  const share = foreignText(foreign);
  const disturbed = foreign.cores > DISTURBED_CORES;
  const line = `Other processes on the machine used ${foreign.cpuSeconds.toFixed(1)} CPU-seconds during this scenario's ` +
    `${foreign.wallSeconds.toFixed(0)} s (${share} of one core)${disturbed ? ': **its figures are disturbed; rerun on a quiet machine**' : ''}.`;
  return {
    ...report,
    setup: [...report.setup, '', line],
    goals: disturbed ? report.goals.map((g) => ({ ...g, evidence: `${g.evidence} (disturbed: others used ${share} of a core)` })) : report.goals,
  };
}

async function startOrigin(): Promise<Context['origin']> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./origin.js', import.meta.url));
  spawnPinned('origin', process.execPath, [script, '--port', String(port)], { core: LOAD_CORE });
  const up = await waitFor(async () => ((await getText(`http://127.0.0.1:${port}/__ping`)).status === 200 ? true : null), 10_000);
  if (!up) throw new Error('the synthetic origin did not start');
  return originAt(port);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  installCleanup(log);
  const startedAt = new Date();
  const loadAtStart = os.loadavg().map((l) => l.toFixed(2)).join(', ');
  const needs = ['taskset'];
  if (options.targets.includes('nginx')) needs.push('nginx');
  if (options.targets.includes('varnish')) needs.push('varnishd');
  if (options.only.includes('hits') || options.only.includes('variants')) needs.push('wrk');
  const installed = ensureTools(needs);
  // Before pinning this process: nproc counts only the CPUs it may use.
  const cores = runSync('nproc', []).output || String(os.availableParallelism());

  let pinning: string;
  if (Number(cores) < 2 || !canPin()) {
    disablePinning();
    pinning = `not pinned (${Number(cores) < 2 ? 'one core' : 'no taskset'}): caches and load share the CPU.`;
  } else {
    pinSelf(LOAD_CORE);
    pinning = `each cache on core ${TARGET_CORE} (\`taskset -c ${TARGET_CORE}\`: imgedge's node process, nginx's master and one worker, ` +
      `varnishd and its child); the synthetic origin, wrk and the Node client (this harness, \`taskset -a -p -c ${LOAD_CORE}\`) on core ${LOAD_CORE}. ` +
      'A per-core comparison: one core of cache against one core of load.';
  }

  const skipped: string[] = [];
  const targets: TargetName[] = [];
  const checked: string[] = [];
  const origin = await startOrigin();
  for (const name of options.targets) {
    const reason = unavailableReason(name);
    if (reason) {
      skipped.push(`${name}: ${reason}`);
      continue;
    }
    // A trial start, so a target that cannot run is skipped once, with its reason.
    try {
      const target = await startTarget(name, { originPort: origin.port });
      checked.push(`${name} ${describeProcess(target.proc.pid)}`);
      await target.stop();
      targets.push(name);
    } catch (error) {
      skipped.push(`${name}: ${errorText(error)}`);
    }
  }
  for (const line of skipped) log(`skipping ${line}`);
  const ctx: Context = { origin, targets, quick: options.quick, profile: options.profile, runId: startedAt.getTime().toString(36), log };

  const reports: ScenarioReport[] = [];
  for (const name of options.only) {
    if ((name === 'hits' || name === 'variants') && !hasCommand('wrk')) {
      skipped.push('scenario hits: wrk not installed');
      continue;
    }
    log(`scenario ${name}`);
    try {
      const meter = meterForeignCpu();
      const report = await SCENARIOS[name](ctx);
      const foreign = meter();
      log(`scenario ${name}: other processes used ${foreignText(foreign)} of a core meanwhile`);
      reports.push(withForeign(report, foreign));
    } catch (error) {
      skipped.push(`scenario ${name}: failed: ${errorText(error)}`);
      log(`scenario ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
  await cleanupAll();

  const full = !options.quick && options.only.length === SCENARIO_NAMES.length && options.targets.length === TARGET_NAMES.length;
  const date = startedAt.toISOString().slice(0, 10);
  const markdown = renderReport({
    date,
    startedAt: startedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
    mode: `${options.quick ? 'quick' : 'full'} (\`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`)`,
    machine: machine(cores, loadAtStart, targets, installed),
    pinning,
    checked,
    targets: configNotes(),
    skipped,
    tookMs: Date.now() - began,
  }, reports);
  fs.mkdirSync(RESULTS, { recursive: true });
  const files = full ? [`${date}.md`, 'latest.md'] : [`${date}-partial.md`];
  for (const file of files) fs.writeFileSync(path.join(RESULTS, file), markdown);
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${files.map((f) => path.join('bench/results', f)).join(' and ')}; took ${duration(Date.now() - began)}`);
}

main().catch(async (error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  await cleanupAll();
  process.exit(1);
});
