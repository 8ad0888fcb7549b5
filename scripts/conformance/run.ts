// `npm run conformance`: the whole http-cache-tests suite through an imgedge
// edge with the suite's command-line client, scored beside the results the
// package ships for other caches. Writes conformance/results/imgedge.json (the
// client's raw output) and conformance/results/latest.md, and prints the latter.
// With `-- --id TEST-ID` it runs that one test in the suite's debugging mode
// instead and prints what the client, the edge and the suite's server saw.
import fs from 'node:fs';
import path from 'node:path';
import { startHarness, PROJECT_ROOT, type Harness } from './harness.js';
import { runCli, runCliSingle } from './client.js';
import { SUITE_DIR, loadGroups, loadJudge, loadPublished, type RawResults } from './suite.js';
import { score } from './score.js';
import { markdownReport } from './report.js';

// The client runs 100 tests at a time, each up to one 3 s pause: about half a
// minute when all is well. Past this something hangs.
const CLI_TIMEOUT_MS = 180_000;

function versionOf(dir: string): string {
  const json: unknown = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  return typeof json === 'object' && json !== null && 'version' in json && typeof json.version === 'string' ? json.version : '?';
}

/** `--id X` or `--id=X`, else undefined. */
function testIdArg(argv: readonly string[]): string | undefined {
  const at = argv.findIndex((a) => a === '--id' || a.startsWith('--id='));
  if (at === -1) return undefined;
  const value = argv[at]!.includes('=') ? argv[at]!.slice('--id='.length) : argv[at + 1];
  if (!value) throw new Error('--id needs a test id');
  return value;
}

async function debugOne(testId: string): Promise<void> {
  const harness = await startHarness({ logLevel: 'info' });
  try {
    process.stdout.write(await runCliSingle(harness.baseUrl, testId, CLI_TIMEOUT_MS));
    process.stdout.write(`\n${harness.output()}\n`);
  } finally {
    await harness.close();
  }
}

async function main(): Promise<void> {
  const testId = testIdArg(process.argv.slice(2));
  if (testId !== undefined) return debugOne(testId);
  const started = Date.now();
  const groups = await loadGroups();
  const judge = await loadJudge(groups);
  let harness: Harness | null = null;
  const stop = () => void harness?.close().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let results: RawResults;
  try {
    harness = await startHarness();
    results = await runCli(harness.baseUrl, CLI_TIMEOUT_MS);
  } catch (error) {
    if (harness && process.env.CONFORMANCE_VERBOSE) console.error(harness.output());
    throw error;
  } finally {
    await harness?.close();
  }

  const outDir = path.join(PROJECT_ROOT, 'conformance', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'imgedge.json'), `${JSON.stringify(results, null, 2)}\n`);

  const published = await loadPublished();
  const report = markdownReport({
    suiteVersion: versionOf(SUITE_DIR),
    date: new Date().toISOString().slice(0, 10),
    groups,
    imgedge: { name: 'imgedge', version: versionOf(PROJECT_ROOT), type: 'rev-proxy', score: score(groups, judge, results, 'rev-proxy') },
    others: published.map((p) => ({ name: p.name, version: p.version, type: p.type, score: score(groups, judge, p.results, p.type) })),
  });
  fs.writeFileSync(path.join(outDir, 'latest.md'), report);
  process.stdout.write(report);
  process.stderr.write(`conformance: ${((Date.now() - started) / 1000).toFixed(1)} s; wrote ${path.relative(PROJECT_ROOT, outDir)}/latest.md and imgedge.json\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  process.exit(1);
});
