// `npm run conformance`: the whole http-cache-tests suite through an imgedge
// edge with the suite's command-line client, scored beside the results the
// package ships for other caches. Writes conformance/results/imgedge.json (the
// client's raw output) and conformance/results/latest.md, and prints the latter.
// With `-- --id TEST-ID` it runs that one test in the suite's debugging mode
// instead and prints what the client, the edge and the suite's server saw.
// With `-- --suite DIR` it runs another checkout of the suite (its main
// branch, say, with `npm install` done there) and writes main.md and
// imgedge-main.json instead.
import fs from 'node:fs';
import path from 'node:path';
import { startHarness, PROJECT_ROOT, type Harness } from './harness.js';
import { runCli, runCliSingle } from './client.js';
import { locateSuite, loadGroups, loadJudge, loadPublished, type RawResults, type SuiteLocation } from './suite.js';
import { score } from './score.js';
import { markdownReport } from './report.js';

// The client runs 100 tests at a time, each up to one 3 s pause: about half a
// minute when all is well. Past this something hangs.
const CLI_TIMEOUT_MS = 180_000;

function versionOf(dir: string): string {
  const json: unknown = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  return typeof json === 'object' && json !== null && 'version' in json && typeof json.version === 'string' ? json.version : '?';
}

const KNOWN_ARGS = new Set(['--id', '--suite']);

/** `--NAME X` or `--NAME=X`, else undefined; anything else on the line is refused. */
function argValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!.split('=')[0]!;
    if (!KNOWN_ARGS.has(flag)) throw new Error(`unknown argument ${argv[i]} (known: --id TEST-ID, --suite DIR)`);
    if (!argv[i]!.includes('=')) i++;
  }
  const at = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (at === -1) return undefined;
  const value = argv[at]!.includes('=') ? argv[at]!.slice(name.length + 1) : argv[at + 1];
  if (!value) throw new Error(`${name} needs a value`);
  return value;
}

async function debugOne(testId: string, suite: SuiteLocation, suiteDir: string | undefined): Promise<void> {
  const harness = await startHarness({ logLevel: 'info', suiteDir });
  try {
    process.stdout.write(await runCliSingle(harness.baseUrl, testId, CLI_TIMEOUT_MS, suite));
    process.stdout.write(`\n${harness.output()}\n`);
  } finally {
    await harness.close();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const testId = argValue(argv, '--id');
  const suiteDir = argValue(argv, '--suite');
  const suite = locateSuite(suiteDir);
  if (testId !== undefined) return debugOne(testId, suite, suiteDir);
  const started = Date.now();
  const groups = await loadGroups(suite);
  const judge = await loadJudge(groups, suite);
  let harness: Harness | null = null;
  const stop = () => void harness?.close().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let results: RawResults;
  try {
    harness = await startHarness({ suiteDir });
    results = await runCli(harness.baseUrl, CLI_TIMEOUT_MS, suite);
  } catch (error) {
    if (harness && process.env.CONFORMANCE_VERBOSE) console.error(harness.output());
    throw error;
  } finally {
    await harness?.close();
  }

  const outDir = path.join(PROJECT_ROOT, 'conformance', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const [reportName, rawName] = suiteDir === undefined ? ['latest.md', 'imgedge.json'] : ['main.md', 'imgedge-main.json'];
  fs.writeFileSync(path.join(outDir, rawName), `${JSON.stringify(results, null, 2)}\n`);

  const published = await loadPublished(suite);
  const report = markdownReport({
    suiteVersion: suite.version,
    date: new Date().toISOString().slice(0, 10),
    groups,
    imgedge: { name: 'imgedge', version: versionOf(PROJECT_ROOT), type: 'rev-proxy', score: score(groups, judge, results, 'rev-proxy') },
    others: published.map((p) => ({ name: p.name, version: p.version, type: p.type, score: score(groups, judge, p.results, p.type) })),
  });
  fs.writeFileSync(path.join(outDir, reportName), report);
  process.stdout.write(report);
  process.stderr.write(`conformance: ${((Date.now() - started) / 1000).toFixed(1)} s; wrote ${path.relative(PROJECT_ROOT, outDir)}/${reportName} and ${rawName}\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  process.exit(1);
});
