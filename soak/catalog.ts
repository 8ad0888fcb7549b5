// The soak origin's objects and the history of each: which version (or
// absence) was current when, and when the origin last sent it. The checker
// judges every edge answer against this history.
import { createHash } from 'node:crypto';
import type { Random } from './random.js';

export interface Timing {
  /** The origin's Cache-Control max-age. */
  readonly maxAgeSec: number;
  /** The edges' --negative-ttl and --stale-if-error. */
  readonly negativeTtlSec: number;
  readonly staleIfErrorSec: number;
  /** Slack for when each side reads the clock: covers an edge event loop lagging up to this long. */
  readonly slackMs: number;
  /** Headroom over the window for the longest origin transfer. */
  readonly transferMs: number;
}

export interface State {
  /** Unique per object; an absence has one too. */
  readonly version: number;
  readonly present: boolean;
  readonly size: number;
  /** Empty for an absence. */
  readonly etag: string;
  readonly lastModified: string;
  readonly since: number;
  /** When it stopped being current; null while it is. */
  until: number | null;
  /** When the origin last sent it (a 200, 304 or 404 head or body end). */
  lastServed: number;
}

export interface SoakObject {
  readonly path: string;
  /** A prefix it shares with a few dozen others, for prefix purges. */
  readonly bucket: string;
  /** Served without Content-Length: a short body then shows only as a missing last chunk. */
  readonly chunked: boolean;
  readonly states: State[];
  nextVersion: number;
}

export type Verdict = 'ok' | 'stale' | 'older';

const KiB = 1024;
const MiB = 1024 * KiB;
const BUCKETS = 40;

function etagOf(path: string, version: number): string {
  return `"${createHash('sha256').update(path).digest('hex').slice(0, 10)}-${version}"`;
}

/** Mostly small, a few large: log-uniform within each class. */
function drawSize(rng: Random, max: number): number {
  const range = rng.weighted({ small: 80, medium: 15, large: 4, huge: 1 });
  const [lo, hi] = { small: [KiB, 64 * KiB], medium: [64 * KiB, MiB], large: [MiB, 8 * MiB], huge: [8 * MiB, 32 * MiB] }[range] as [number, number];
  return Math.min(max, rng.logUniform(lo, hi));
}

/**
 * Which versions an answer may carry. The edge serves what the origin sent
 * while it is fresh (max-age, or --negative-ttl for a 404), and past that
 * only while the origin fails (--stale-if-error). So a version may reach a
 * client until W = max(max-age, negative-ttl) + stale-if-error + slack after
 * it stopped being current or the origin last sent it, whichever is later.
 * Changes to one object are spaced W + transferMs apart (the origin refuses
 * to change an object sooner), so within any request's window only the
 * current and the immediately previous version can be legitimate: a body
 * that is an older version ('stale': outside W; 'older': inside W but two
 * versions back, which the spacing should make impossible) or no version at
 * all is a wrong answer.
 */
export class Catalog {
  readonly objects: SoakObject[] = [];
  readonly hot: SoakObject[];
  readonly windowMs: number;
  readonly spacingMs: number;
  readonly #byPath = new Map<string, SoakObject>();

  constructor(
    count: number,
    private readonly maxObjectBytes: number,
    rng: Random,
    now: number,
    timing: Timing,
  ) {
    this.windowMs = (Math.max(timing.maxAgeSec, timing.negativeTtlSec) + timing.staleIfErrorSec) * 1000 + timing.slackMs;
    this.spacingMs = this.windowMs + timing.transferMs;
    for (let i = 0; i < count; i++) {
      const bucket = `/soak/b${String(i % BUCKETS).padStart(2, '0')}/`;
      const size = drawSize(rng, maxObjectBytes);
      const object: SoakObject = {
        path: `${bucket}${i}.jpg`,
        bucket,
        chunked: size < 4 * MiB && rng.chance(0.1),
        states: [],
        nextVersion: 1,
      };
      // As if created long ago: the spacing rule lets the writer change it at once.
      this.#push(object, true, size, now - this.spacingMs);
      this.objects.push(object);
      this.#byPath.set(object.path, object);
    }
    // The objects most requests go to: about one in twenty.
    this.hot = rng.shuffle([...this.objects]).slice(0, Math.max(1, Math.ceil(count / 20)));
  }

  get(path: string): SoakObject | undefined {
    return this.#byPath.get(path);
  }

  current(object: SoakObject): State {
    return object.states[object.states.length - 1]!;
  }

  /** The spacing rule: false while the last change is within the window. */
  canChange(object: SoakObject, now: number): boolean {
    return now - this.current(object).since >= this.spacingMs;
  }

  /** A new version (new bytes, often a new size); after a delete, the object comes back. */
  overwrite(object: SoakObject, now: number, rng: Random): State {
    const previous = this.current(object);
    let size = previous.present ? previous.size : drawSize(rng, this.maxObjectBytes);
    if (previous.present && rng.chance(0.7)) {
      size = Math.max(KiB, Math.min(this.maxObjectBytes, Math.round(size * (0.8 + rng.next() * 0.45))));
    }
    return this.#push(object, true, size, now);
  }

  remove(object: SoakObject, now: number): State {
    return this.#push(object, false, 0, now);
  }

  served(state: State, now: number): void {
    if (now > state.lastServed) state.lastServed = now;
  }

  /** Whether `state` may answer a request sent at `start` (see the class comment). */
  judge(object: SoakObject, state: State, start: number): Verdict {
    const recent = state.until === null || state.until >= start - this.windowMs || state.lastServed >= start - this.windowMs;
    if (!recent) return 'stale';
    const states = object.states;
    let currentAtStart = states.length - 1;
    while (currentAtStart > 0 && states[currentAtStart]!.since > start) currentAtStart--;
    return states.indexOf(state) >= currentAtStart - 1 ? 'ok' : 'older';
  }

  #push(object: SoakObject, present: boolean, size: number, now: number): State {
    const previous = object.states[object.states.length - 1];
    if (previous) previous.until = now;
    const version = object.nextVersion++;
    const state: State = {
      version,
      present,
      size,
      etag: present ? etagOf(object.path, version) : '',
      lastModified: new Date(now).toUTCString(),
      since: now,
      until: null,
      lastServed: 0,
    };
    object.states.push(state);
    return state;
  }
}
