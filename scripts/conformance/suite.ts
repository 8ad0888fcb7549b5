// The http-cache-tests package (the suite behind cache-tests.fyi) as typed
// values. It is plain JavaScript with no types, so everything read from it
// starts as `unknown` and is narrowed here, in one place.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

/** The npm release's directory, the suite run when no other is named. */
export const RELEASE_DIR = path.dirname(require.resolve('http-cache-tests/package.json'));

/**
 * A checkout of the suite. The npm release keeps its engine (cli.mjs,
 * client/, server/, lib/) at the top; the repository's main branch moved it
 * into test-engine/. tests/ and results/ are at the top in both.
 */
export interface SuiteLocation {
  readonly dir: string;
  readonly engine: string;
  /** The package version, and the commit a checkout records in SOURCE. */
  readonly version: string;
}

export function locateSuite(dir: string = RELEASE_DIR): SuiteLocation {
  const root = path.resolve(dir);
  const nested = path.join(root, 'test-engine');
  const engine = fs.existsSync(path.join(nested, 'cli.mjs')) ? nested : root;
  if (!fs.existsSync(path.join(engine, 'cli.mjs')) || !fs.existsSync(path.join(root, 'tests', 'index.mjs'))) {
    throw new Error(`${root} is not a checkout of http-cache-tests (no cli.mjs or tests/index.mjs)`);
  }
  const json: unknown = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  let version = typeof json === 'object' && json !== null && 'version' in json && typeof json.version === 'string' ? json.version : '?';
  const source = path.join(root, 'SOURCE');
  if (fs.existsSync(source)) {
    const [commit = '', date = ''] = (fs.readFileSync(source, 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
    if (commit) version += ` (main ${commit.slice(0, 7)}${date ? `, ${date}` : ''})`;
  }
  return { dir: root, engine, version };
}

export type TestKind = 'required' | 'optimal' | 'check';

export interface SuiteTest {
  readonly id: string;
  readonly name: string;
  readonly kind: TestKind;
  readonly dependsOn: readonly string[];
  /** Only meaningful for browser caches; the command-line client skips it. */
  readonly browserOnly: boolean;
  /** Not run against browsers. */
  readonly browserSkip: boolean;
  /** The suite's own object. */
  readonly raw: object;
}

export interface SuiteGroup {
  readonly id: string;
  readonly name: string;
  readonly tests: readonly SuiteTest[];
  /** The suite's own object, as its runner and result logic want it. */
  readonly raw: object;
}

/** One test's outcome as the suite's client records it. */
export type RawResult = true | false | readonly [string, string];
export type RawResults = Readonly<Record<string, RawResult>>;

export interface PublishedResults {
  readonly file: string;
  readonly name: string;
  /** "browser", "rev-proxy" or "cdn". */
  readonly type: string;
  readonly version: string;
  readonly results: RawResults;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`http-cache-tests: ${what} is not a string`);
  return value;
}

async function importSuiteModule(file: string): Promise<Record<string, unknown>> {
  const loaded: unknown = await import(pathToFileURL(file).href);
  if (!isRecord(loaded)) throw new Error(`http-cache-tests: ${file} is not a module`);
  return loaded;
}

function toTest(raw: unknown): SuiteTest {
  if (!isRecord(raw)) throw new Error('http-cache-tests: a test is not an object');
  const id = str(raw.id, 'test id');
  const kind = raw.kind ?? 'required';
  if (kind !== 'required' && kind !== 'optimal' && kind !== 'check') throw new Error(`${id}: unknown kind ${String(kind)}`);
  const dependsOn = Array.isArray(raw.depends_on) ? raw.depends_on.map((d) => str(d, `${id} depends_on`)) : [];
  return {
    id,
    name: str(raw.name, `${id} name`),
    kind,
    dependsOn,
    browserOnly: raw.browser_only === true,
    browserSkip: raw.browser_skip === true,
    raw,
  };
}

function toGroup(raw: unknown): SuiteGroup {
  if (!isRecord(raw) || !Array.isArray(raw.tests)) throw new Error('http-cache-tests: a test group is malformed');
  return { id: str(raw.id, 'group id'), name: str(raw.name, 'group name'), tests: raw.tests.map(toTest), raw };
}

/**
 * Every group the command-line client runs: tests/index.mjs, plus the
 * Surrogate-Control group that the release's cli.mjs (and cache-tests.fyi)
 * add to it where the suite still has one.
 */
export async function loadGroups(suite: SuiteLocation = locateSuite()): Promise<SuiteGroup[]> {
  const index = await importSuiteModule(path.join(suite.dir, 'tests', 'index.mjs'));
  if (!Array.isArray(index.default)) throw new Error('http-cache-tests: tests/index.mjs has no test list');
  const surrogateFile = path.join(suite.dir, 'tests', 'surrogate-control.mjs');
  const surrogate = fs.existsSync(surrogateFile) ? [(await importSuiteModule(surrogateFile)).default] : [];
  // A new array: cli.mjs pushes onto the module's own one, which we leave alone.
  return [...index.default, ...surrogate].map(toGroup);
}

export function parseResults(value: unknown, what: string): RawResults {
  if (!isRecord(value)) throw new Error(`${what}: results are not an object`);
  const out: Record<string, RawResult> = {};
  for (const [id, result] of Object.entries(value)) {
    if (result === true || result === false) out[id] = result;
    else if (Array.isArray(result) && result.length >= 2) out[id] = [String(result[0]), String(result[1])];
    else throw new Error(`${what}: result of ${id} is malformed`);
  }
  return out;
}

/** The implementations whose results ship in the package's results/ folder. */
export async function loadPublished(suite: SuiteLocation = locateSuite()): Promise<PublishedResults[]> {
  const index = await importSuiteModule(path.join(suite.dir, 'results', 'index.mjs'));
  if (!Array.isArray(index.default)) throw new Error('http-cache-tests: results/index.mjs has no list');
  return index.default.map((entry: unknown): PublishedResults => {
    if (!isRecord(entry)) throw new Error('http-cache-tests: a results entry is malformed');
    const file = str(entry.file, 'results file');
    const json: unknown = require(path.join(suite.dir, 'results', file));
    return {
      file,
      name: str(entry.name, `${file} name`),
      type: str(entry.type, `${file} type`),
      version: typeof entry.version === 'string' ? entry.version : '',
      results: parseResults(json, file),
    };
  });
}

/** The outcomes the suite's display logic (lib/display.mjs resultTypes) can give. */
export type Outcome =
  | 'pass' | 'fail' | 'optional_fail' | 'yes' | 'no' | 'setup_fail' | 'harness_fail' | 'dependency_fail' | 'retry' | 'untested';

// determineTestResult returns [icon, colour, symbol]; the symbol names the outcome.
const OUTCOME_BY_SYMBOL: Readonly<Record<string, Outcome>> = {
  '-': 'untested', '✅': 'pass', '⛔️': 'fail', '⚠️': 'optional_fail', Y: 'yes', N: 'no',
  '🔹': 'setup_fail', '⁉️': 'harness_fail', '⚪️': 'dependency_fail', '↻': 'retry',
};

export type Judge = (testId: string, results: RawResults) => Outcome;

/**
 * The suite's own verdict (determineTestResult: lib/display.mjs in the
 * release, lib/results.mjs on main), with dependencies honoured: a test whose
 * dependency did not pass is 'dependency_fail', whatever its own result.
 */
export async function loadJudge(groups: readonly SuiteGroup[], suite: SuiteLocation = locateSuite()): Promise<Judge> {
  const results = path.join(suite.engine, 'lib', 'results.mjs');
  const display = await importSuiteModule(fs.existsSync(results) ? results : path.join(suite.engine, 'lib', 'display.mjs'));
  const determine = display.determineTestResult;
  if (typeof determine !== 'function') throw new Error('http-cache-tests: lib/display.mjs has no determineTestResult');
  const raw = groups.map((g) => g.raw);
  return (testId, results) => {
    const verdict: unknown = determine(raw, testId, results, true);
    const symbol = Array.isArray(verdict) ? verdict[2] : undefined;
    const outcome = typeof symbol === 'string' ? OUTCOME_BY_SYMBOL[symbol] : undefined;
    if (!outcome) throw new Error(`determineTestResult gave ${JSON.stringify(verdict)} for ${testId}`);
    return outcome;
  };
}
