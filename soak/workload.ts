// What happens around the edges while faults are injected: readers (hits,
// misses, ranges, conditionals, HEADs, paths that never existed), a writer
// overwriting and deleting objects at the origin under the spacing rule, and
// an operator purging paths and prefixes through the admin API.
import type http from 'node:http';
import type { Catalog, SoakObject } from './catalog.js';
import type { Checker, Probe, RangeSpec } from './checker.js';
import { fetchHashed, exchange } from './client.js';
import type { Edge } from './edges.js';
import type { Random } from './random.js';

export interface Activity {
  overwrites: number;
  deletes: number;
  purges: number;
  purgesRefused: number;
  purgesUnreachable: number;
  readonly purgeErrors: string[];
}

export interface WorkloadDeps {
  readonly catalog: Catalog;
  readonly checker: Checker;
  readonly edges: readonly Edge[];
  readonly agents: ReadonlyMap<Edge, http.Agent>;
  readonly adminToken: string;
  readonly requestDeadlineMs: number;
  /** True once the run is over: loops finish what they do and return. */
  readonly stopped: () => boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rangeFor(rng: Random, size: number): RangeSpec | string {
  const form = rng.weighted({ bounded: 65, open: 13, suffix: 13, multiple: 3, backwards: 3, otherUnit: 3 });
  // Forms a server may ignore (RFC 9110 §14.2): the edge answers them whole.
  if (form === 'multiple') return 'bytes=0-9,20-29';
  if (form === 'backwards') return `bytes=${Math.max(1, size - 1)}-0`;
  if (form === 'otherUnit') return 'items=0-1';
  if (form === 'suffix') return { suffix: rng.int(1, Math.max(1, Math.min(size, 64 * 1024))) };
  const start = rng.int(0, Math.max(0, size - 1));
  if (form === 'open') return { start };
  return { start, end: start + rng.logUniform(1, Math.max(1, Math.min(size - start, 1024 * 1024))) - 1 };
}

function rangeHeader(range: RangeSpec): string {
  return 'suffix' in range ? `bytes=-${range.suffix}` : `bytes=${range.start}-${range.end ?? ''}`;
}

/**
 * Other spellings of a path, which the edge must map to the same object
 * (RFC 3986 §6.2.2 normalisation), and now and then a query: another cache
 * key, the same bytes.
 */
function targetFor(rng: Random, path: string): string {
  const slash = path.lastIndexOf('/');
  const [dir, name] = [path.slice(0, slash), path.slice(slash + 1)];
  let target = path;
  switch (rng.weighted({ plain: 85, dot: 4, dotdot: 4, encoded: 4, double: 3 })) {
    case 'dot': target = `${dir}/./${name}`; break;
    case 'dotdot': target = `${dir}/x/../${name}`; break;
    case 'encoded': target = `${dir}/%${name.charCodeAt(0).toString(16).toUpperCase()}${name.slice(1)}`; break;
    case 'double': target = `${dir}//${name}`; break;
  }
  return rng.chance(0.1) ? `${target}?v=${rng.int(0, 2)}` : target;
}

function probeFor(rng: Random, catalog: Catalog, edge: Edge): Probe {
  const kind = rng.weighted({ hit: 44, miss: 15, range: 15, conditional: 12, head: 5, ghost: 3, quit: 3 });
  const base = { kind, edge: edge.spec.name, method: 'GET' as const };
  if (kind === 'ghost') {
    const path = `/soak/ghost/${rng.int(0, 199)}.jpg`;
    return { ...base, path, target: path };
  }
  const object: SoakObject = kind === 'miss' || ((kind === 'range' || kind === 'quit') && rng.chance(0.5)) ? rng.pick(catalog.objects) : rng.pick(catalog.hot);
  const current = catalog.current(object);
  const at = { ...base, path: object.path, target: targetFor(rng, object.path) };
  if (kind === 'head') return { ...at, method: 'HEAD' };
  if (kind === 'quit') return { ...at, quitAfter: rng.int(0, Math.max(0, current.size - 1)) };
  if (kind === 'range') {
    const range = rangeFor(rng, current.present ? current.size : 1024);
    if (typeof range === 'string') return { ...at, ignoredRange: range };
    // If-Range with the current or the previous ETag: a 206 only of that very version (RFC 9110 §13.1.5).
    const tags = object.states.filter((s) => s.present).map((s) => s.etag);
    const ifRange = tags.length && rng.chance(0.25) ? tags[Math.max(0, tags.length - rng.int(1, 2))] : undefined;
    return { ...at, range, ifRange };
  }
  if (kind === 'conditional') {
    const tags = object.states.filter((s) => s.present).map((s) => s.etag);
    const choice = rng.weighted({ current: 60, old: 30, bogus: 10 });
    const tag = choice === 'bogus' || tags.length === 0 ? `"bogus-${rng.int(0, 999)}"`
      : choice === 'current' || tags.length === 1 ? tags[tags.length - 1]! : tags[tags.length - 2]!;
    return { ...at, ifNoneMatch: tag };
  }
  return at;
}

/** One client: a request at a time, for as long as the run lasts. */
export async function client(deps: WorkloadDeps, rng: Random): Promise<void> {
  while (!deps.stopped()) {
    const edge = rng.pick(deps.edges);
    const probe = probeFor(rng, deps.catalog, edge);
    const headers: Record<string, string> = {};
    if (probe.range) headers.range = rangeHeader(probe.range);
    if (probe.ignoredRange) headers.range = probe.ignoredRange;
    if (probe.ifRange) headers['if-range'] = probe.ifRange;
    if (probe.ifNoneMatch) headers['if-none-match'] = probe.ifNoneMatch;
    const got = await fetchHashed(edge.spec.port, probe.target, {
      method: probe.method, headers, agent: deps.agents.get(edge)!, deadlineMs: deps.requestDeadlineMs, quitAfter: probe.quitAfter,
    });
    deps.checker.check(probe, got);
    // An edge being restarted refuses at once: do not spin on it.
    if (got.status === null) await sleep(20 + rng.int(0, 30));
  }
}

/** Overwrites and deletes at the origin, never sooner than the spacing rule allows. */
export async function writer(deps: WorkloadDeps, rng: Random, activity: Activity, everyMs: number): Promise<void> {
  while (!deps.stopped()) {
    await sleep(everyMs);
    const object = rng.chance(0.5) ? rng.pick(deps.catalog.hot) : rng.pick(deps.catalog.objects);
    const now = Date.now();
    if (!deps.catalog.canChange(object, now)) continue;
    if (deps.catalog.current(object).present && rng.chance(0.15)) {
      deps.catalog.remove(object, now);
      activity.deletes++;
    } else {
      deps.catalog.overwrite(object, now, rng);
      activity.overwrites++;
    }
  }
}

/** Purges through the admin API of a running edge: a hot path, or a whole bucket. */
export async function purger(deps: WorkloadDeps, rng: Random, activity: Activity, everyMs: number): Promise<void> {
  while (!deps.stopped()) {
    await sleep(everyMs);
    const edge = rng.pick(deps.edges);
    const body = rng.chance(0.7)
      ? { paths: [rng.pick(deps.catalog.hot).path] }
      : { prefixes: [rng.pick(deps.catalog.objects).bucket] };
    try {
      const answer = await exchange(`${edge.adminUrl}/purge`, {
        method: 'POST',
        headers: { authorization: `Bearer ${deps.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (answer.status === 200 && /^\{"purged":\d+\}$/.test(answer.text)) activity.purges++;
      else {
        activity.purgesRefused++;
        if (activity.purgeErrors.length < 10) activity.purgeErrors.push(`${edge.spec.name}: ${answer.status} ${answer.text.slice(0, 200)}`);
      }
    } catch {
      activity.purgesUnreachable++; // the edge is being restarted
    }
  }
}
