// Judges every answer against what the origin held and sent (catalog.ts has
// the window rule). A wrong answer is one that looks whole and is not what
// the edge may give: bytes of no version, a body cut short yet framed as
// complete, a version too old, headers of one version on the bytes of
// another, a 304 or 404 the edge had no grounds for, a wrong slice.
import type { Catalog, SoakObject, State } from './catalog.js';
import type { Content } from './content.js';
import type { Fetched } from './client.js';

export const OUTCOMES = ['200', '206', '304', '404', '416', 'HEAD 200', 'error status', 'aborted', 'no response', 'client quit', 'hung'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const VIOLATIONS = [
  'wrong bytes', 'short body presented as complete', 'stale version', 'older version', 'wrong headers',
  'bad 304', 'bad 404', 'bad 416', 'bad Content-Range', '206 despite If-Range', 'wrong bytes before an abort', 'unexpected status',
] as const;
export type Violation = (typeof VIOLATIONS)[number];

export type RangeSpec = { readonly start: number; readonly end?: number } | { readonly suffix: number };

export interface Probe {
  readonly kind: string;
  readonly edge: string;
  /** The canonical path: the catalog's name for the object. */
  readonly path: string;
  /** What was sent: another spelling of the path, maybe with a query. */
  readonly target: string;
  readonly method: 'GET' | 'HEAD';
  readonly range?: RangeSpec;
  readonly ifNoneMatch?: string;
  /** Sent with the range: a 206 only if this is the ETag of what the edge holds. */
  readonly ifRange?: string;
  /** A Range header the edge may ignore (several ranges, backwards, another unit). */
  readonly ignoredRange?: string;
  /** The client goes away after this many body bytes. */
  readonly quitAfter?: number;
}

const zeroes = <K extends string>(keys: readonly K[]): Record<K, number> =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

export class Checker {
  readonly outcomes = zeroes(OUTCOMES);
  readonly byEdge = new Map<string, Record<Outcome, number>>();
  readonly violations = zeroes(VIOLATIONS);
  readonly errorStatuses = new Map<string, number>();
  readonly requestedPaths = new Set<string>();
  readonly examples: string[] = [];
  /** Which version whole 200s carried: the current one, or the one before. */
  readonly matched = { current: 0, previous: 0 };
  missingCacheStatus = 0;
  /** 5xx answers that carry the object's ETag, Content-Range or a shared freshness: a downstream cache could keep them. */
  errorsWithObjectHeaders = 0;

  constructor(
    private readonly catalog: Catalog,
    private readonly content: Content,
    private readonly runStartedAt: number,
  ) {}

  check(probe: Probe, got: Fetched): void {
    this.requestedPaths.add(probe.path);
    const object = this.catalog.get(probe.path);
    const outcome = this.#judge(probe, got, object);
    this.outcomes[outcome]++;
    let edge = this.byEdge.get(probe.edge);
    if (!edge) this.byEdge.set(probe.edge, (edge = zeroes(OUTCOMES)));
    edge[outcome]++;
  }

  #judge(probe: Probe, got: Fetched, object: SoakObject | undefined): Outcome {
    if (got.timedOut) {
      this.#example(probe, got, 'hung', object);
      return 'hung';
    }
    if (got.status === null) return 'no response';
    if (got.quit) {
      if (got.status === 200 && !this.#isPrefix(object, got)) this.#violate('wrong bytes before an abort', probe, got, object);
      return 'client quit';
    }
    if (got.headers['cache-status'] === undefined) this.missingCacheStatus++;
    const status = got.status;
    if (status >= 400 && status !== 404 && status !== 416) {
      this.errorStatuses.set(String(status), (this.errorStatuses.get(String(status)) ?? 0) + 1);
      const cc = String(got.headers['cache-control'] ?? '');
      if (status >= 500 && (got.headers.etag !== undefined || got.headers['content-range'] !== undefined || (/max-age|public/.test(cc) && !/no-store/.test(cc)))) {
        if (this.errorsWithObjectHeaders++ < 3) this.#example(probe, got, 'error answer with the object\'s headers', object);
      }
      return 'error status';
    }
    if (status === 200 && probe.method === 'HEAD') {
      this.#head(probe, got, object);
      return 'HEAD 200';
    }
    if ((status === 200 || status === 206) && !got.complete) {
      if (status === 200 && !this.#isPrefix(object, got)) this.#violate('wrong bytes before an abort', probe, got, object);
      return 'aborted';
    }
    switch (status) {
      case 200:
        this.#whole(probe, got, object);
        return '200';
      case 206:
        this.#slice(probe, got, object);
        return '206';
      case 304: {
        const held = object && probe.ifNoneMatch !== undefined
          ? object.states.find((s) => s.present && s.etag === probe.ifNoneMatch && this.catalog.judge(object, s, got.startedAt) === 'ok')
          : undefined;
        if (!held) this.#violate('bad 304', probe, got, object);
        return '304';
      }
      case 404: {
        const absent = !object || object.states.some((s) => !s.present && this.catalog.judge(object, s, got.startedAt) === 'ok');
        if (!absent) this.#violate('bad 404', probe, got, object);
        return '404';
      }
      case 416: {
        const start = probe.range && 'start' in probe.range ? probe.range.start : undefined;
        const fair = object && start !== undefined &&
          object.states.some((s) => s.present && s.size <= start && this.catalog.judge(object, s, got.startedAt) === 'ok');
        if (!fair) this.#violate('bad 416', probe, got, object);
        return '416';
      }
      default:
        this.#violate('unexpected status', probe, got, object);
        return 'error status';
    }
  }

  #whole(probe: Probe, got: Fetched, object: SoakObject | undefined): void {
    const state = object && this.#find(object, got.bytes, (s) => this.content.sha(object.path, s.version, s.size) === got.sha);
    if (!object || !state) {
      const short = object?.states.some((s) => s.present && s.size > got.bytes && this.#prefixSha(object, s, got.bytes) === got.sha);
      this.#violate(short ? 'short body presented as complete' : 'wrong bytes', probe, got, object);
      return;
    }
    if (this.#accept(probe, got, object, state)) {
      if (state === this.catalog.current(object)) this.matched.current++;
      else this.matched.previous++;
    }
  }

  #slice(probe: Probe, got: Fetched, object: SoakObject | undefined): void {
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(got.headers['content-range'] ?? ''));
    if (!probe.range || !match || !object) {
      this.#violate(probe.range ? 'bad Content-Range' : 'unexpected status', probe, got, object);
      return;
    }
    const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const range = probe.range;
    const want = 'suffix' in range
      ? [Math.max(0, total - range.suffix), total - 1]
      : [range.start, Math.min(range.end ?? total - 1, total - 1)];
    if (first !== want[0] || last !== want[1]) {
      this.#violate('bad Content-Range', probe, got, object);
      return;
    }
    const state = this.#find(object, total, (s) => this.content.shaOf(object.path, s.version, first, last + 1) === got.sha);
    if (!state || got.bytes !== last - first + 1) {
      this.#violate(got.bytes < last - first + 1 ? 'short body presented as complete' : 'wrong bytes', probe, got, object);
      return;
    }
    if (probe.ifRange !== undefined && probe.ifRange !== state.etag) {
      this.#violate('206 despite If-Range', probe, got, object);
      return;
    }
    this.#accept(probe, got, object, state);
  }

  /** HEAD: the length and validator of one version the edge may hold. */
  #head(probe: Probe, got: Fetched, object: SoakObject | undefined): void {
    const length = got.headers['content-length'];
    const fits = object?.states.some((s) =>
      s.present && s.etag === got.headers.etag && (length === undefined ? object.chunked : Number(length) === s.size) &&
      this.catalog.judge(object, s, got.startedAt) === 'ok');
    if (!fits) this.#violate('wrong headers', probe, got, object);
  }

  /** The version of this size whose bytes match, newest first. */
  #find(object: SoakObject, size: number, matches: (state: State) => boolean): State | undefined {
    for (let i = object.states.length - 1; i >= 0; i--) {
      const state = object.states[i]!;
      if (state.present && state.size === size && matches(state)) return state;
    }
    return undefined;
  }

  #accept(probe: Probe, got: Fetched, object: SoakObject, state: State): boolean {
    const verdict = this.catalog.judge(object, state, got.startedAt);
    if (verdict !== 'ok') {
      this.#violate(verdict === 'stale' ? 'stale version' : 'older version', probe, got, object);
      return false;
    }
    if (got.headers.etag !== state.etag) {
      this.#violate('wrong headers', probe, got, object);
      return false;
    }
    return true;
  }

  /** An aborted body must still have been the start of some version. */
  #isPrefix(object: SoakObject | undefined, got: Fetched): boolean {
    if (got.bytes === 0) return true;
    if (!object) return false;
    for (let i = object.states.length - 1; i >= 0; i--) {
      const state = object.states[i]!;
      if (state.present && state.size >= got.bytes && this.#prefixSha(object, state, got.bytes) === got.sha) return true;
    }
    return false;
  }

  #prefixSha(object: SoakObject, state: State, bytes: number): string {
    return bytes === state.size ? this.content.sha(object.path, state.version, state.size) : this.content.shaOf(object.path, state.version, 0, bytes);
  }

  #violate(kind: Violation, probe: Probe, got: Fetched, object: SoakObject | undefined): void {
    this.violations[kind]++;
    this.#example(probe, got, kind, object);
  }

  #example(probe: Probe, got: Fetched, what: string, object: SoakObject | undefined): void {
    if (this.examples.length >= 40) return;
    const rel = (ms: number | null) => (ms === null ? '-' : ((ms - this.runStartedAt) / 1000).toFixed(2));
    const h = got.headers;
    const states = (object?.states ?? []).slice(-4).map((s) =>
      `v${s.version}${s.present ? `(${s.size}B ${s.etag})` : '(absent)'} ${rel(s.since)}..${rel(s.until)} sent@${rel(s.lastServed || null)}`);
    this.examples.push(
      `${what}: ${probe.method} ${probe.target} [${probe.kind}] on ${probe.edge}` +
        `${probe.range ? ` range=${JSON.stringify(probe.range)}` : ''}${probe.ifNoneMatch ? ` inm=${probe.ifNoneMatch}` : ''}${probe.ignoredRange ? ` range: ${probe.ignoredRange}` : ''}${probe.ifRange ? ` if-range=${probe.ifRange}` : ''}` +
        ` at ${rel(got.startedAt)}-${rel(got.endedAt)}s → ${got.status} ${got.bytes}B complete=${got.complete}` +
        ` etag=${h.etag ?? '-'} len=${h['content-length'] ?? '-'} range=${h['content-range'] ?? '-'}` +
        ` cache-status="${h['cache-status'] ?? '-'}" age=${h.age ?? '-'}${got.error ? ` error=${got.error}` : ''}; history: ${states.join(', ')}`,
    );
  }
}
