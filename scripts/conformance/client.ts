// Running the suite's client against a base URL, two ways: its command-line
// client as a child process (what `npm run conformance` does, exactly as the
// suite's README runs it), or its runner in this process on a chosen subset
// of tests (what `npm test` does).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { locateSuite, parseResults, type SuiteLocation, type RawResults, type SuiteGroup, type SuiteTest } from './suite.js';

function spawnCli(suite: SuiteLocation, baseUrl: string, testId: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--no-warnings', path.join(suite.engine, 'cli.mjs')], {
    cwd: suite.dir,
    // npm would also set npm_package_config_id from the package's "config"
    // (""); cli.mjs falls back to it, and treats undefined as a test id.
    env: { ...process.env, npm_config_base: baseUrl.replace(/\/+$/, ''), npm_config_id: testId, npm_package_config_id: testId },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`suite cli exited ${signal ?? code}\n${stderr.slice(-4000)}`));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * `npm run --silent cli --base=URL` in the suite's directory, which hands its
 * settings to cli.mjs as npm_config_* variables: base is the URL without a
 * trailing slash (the client appends "/test/<uuid>"), and an empty id means
 * every test. It prints the results as JSON on stdout.
 */
export async function runCli(baseUrl: string, timeoutMs: number, suite: SuiteLocation = locateSuite()): Promise<RawResults> {
  const { stdout, stderr } = await spawnCli(suite, baseUrl, '', timeoutMs);
  // cli.mjs reports its own crash on stderr and prints nothing else.
  const start = stdout.indexOf('{');
  if (start === -1) throw new Error(`suite cli printed no results\n${stderr.slice(-4000)}`);
  try {
    return parseResults(JSON.parse(stdout.slice(start)), 'suite cli output');
  } catch (error) {
    throw new Error(`suite cli output unreadable: ${(error as Error).message}\n${stderr.slice(-4000)}`);
  }
}

/**
 * One test in the cli's debugging mode (`--id=ID`): it prints every request
 * and response as the client and the suite's server saw them, then the verdict.
 * The server's half is printed by the suite's server process, not the cli.
 */
export async function runCliSingle(baseUrl: string, testId: string, timeoutMs: number, suite: SuiteLocation = locateSuite()): Promise<string> {
  const { stdout, stderr } = await spawnCli(suite, baseUrl, testId, timeoutMs);
  return stdout + stderr;
}

/** The groups with only the tests `keep` selects; groups left empty are dropped. */
export function selectTests(groups: readonly SuiteGroup[], keep: (test: SuiteTest, group: SuiteGroup) => boolean): SuiteGroup[] {
  const out: SuiteGroup[] = [];
  for (const group of groups) {
    const tests = group.tests.filter((t) => keep(t, group));
    if (tests.length > 0) out.push({ ...group, tests, raw: { ...group.raw, tests: tests.map((t) => t.raw) } });
  }
  return out;
}

let inProcessRunUsed = false;

/**
 * The npm release's runner (client/runner.mjs) in this process, with
 * node-fetch as its cli.mjs uses it. The runner keeps its queue and results in module
 * state, so it runs once per process. chunkSize tests run at once.
 */
export async function runInProcess(groups: readonly SuiteGroup[], baseUrl: string, chunkSize: number): Promise<RawResults> {
  if (inProcessRunUsed) throw new Error('the suite runner keeps module state: one run per process');
  inProcessRunUsed = true;
  const release = locateSuite();
  const runner: unknown = await import(pathToFileURL(path.join(release.engine, 'client', 'runner.mjs')).href);
  // The suite's own node-fetch, resolved from the suite's directory.
  const fetchPath = createRequire(path.join(release.dir, 'package.json')).resolve('node-fetch');
  const nodeFetch: unknown = await import(pathToFileURL(fetchPath).href);
  if (typeof runner !== 'object' || runner === null || !('runTests' in runner) || !('getResults' in runner)) {
    throw new Error('http-cache-tests: client/runner.mjs lacks runTests/getResults');
  }
  const { runTests, getResults } = runner;
  const fetchFn = typeof nodeFetch === 'object' && nodeFetch !== null && 'default' in nodeFetch ? nodeFetch.default : undefined;
  if (typeof runTests !== 'function' || typeof getResults !== 'function' || typeof fetchFn !== 'function') {
    throw new Error('http-cache-tests: runner or node-fetch is not what was expected');
  }
  await runTests(groups.map((g) => g.raw), fetchFn, false, baseUrl.replace(/\/+$/, ''), chunkSize);
  return parseResults(getResults(), 'suite runner');
}
