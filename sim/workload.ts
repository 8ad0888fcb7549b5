// Reads in every edge IDC: an open loop at a set rate (a population of
// browsers does not wait for the previous answer), objects drawn from a Zipf
// distribution, each request to a replica picked at random (a load balancer),
// every body hashed and identified as one of the object's versions. A read
// now and then is of an object uploaded during the run.
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Random } from '../soak/random.js';
import type { Catalog } from './catalog.js';
import type { EdgeIdc } from './fleet.js';

export interface Read {
  readonly idc: number;
  readonly object: number;
  readonly startedAt: number;
  readonly endedAt: number;
  /** null: no answer (refused, reset, timed out). */
  readonly status: number | null;
  /** Which version of the object a 200 carried; -1 for a wrong body (none of them), null for no 200. */
  readonly version: number | null;
  /** Sent by the invalidation probes rather than the readers. */
  readonly probe: boolean;
  /** The answer's ETag (a 200's or a 304's). */
  readonly etag: string | null;
}

/** A version already read, and the ETag it came with: asked with If-None-Match, a 304 says it is still that one. */
export interface Seen {
  readonly version: number;
  readonly etag: string;
}

/**
 * One GET of an object from one edge, its body hashed and identified. With
 * `seen` it is conditional: a 304 is that version served again, and only a
 * changed object costs its body (so a probe can ask often).
 */
export async function readObject(
  agent: Agent, base: string, catalog: Catalog, idc: number, object: number, timeoutMs: number, probe: boolean, seen?: Seen,
): Promise<Read> {
  const startedAt = Date.now();
  let status: number | null = null;
  let version: number | null = null;
  let etag: string | null = null;
  try {
    const response = await request(`${base}${catalog.entries[object]!.path}`, {
      dispatcher: agent, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, ...(seen ? { headers: { 'if-none-match': seen.etag } } : {}),
    });
    const hash = createHash('sha256');
    for await (const chunk of response.body) hash.update(chunk as Buffer);
    status = response.statusCode;
    etag = typeof response.headers.etag === 'string' ? response.headers.etag : null;
    if (status === 200) version = catalog.versionOf(object, hash.digest('hex'));
    else if (status === 304 && seen && etag === seen.etag) version = seen.version;
  } catch {
    status = null;
  }
  return { idc, object, startedAt, endedAt: Date.now(), status, version, probe, etag };
}

/** Zipf(s) over ranks 0..n-1: rank 0 the most read. */
export class Zipf {
  readonly #cdf: number[];

  constructor(n: number, s = 1) {
    const weights = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s);
    const total = weights.reduce((a, b) => a + b, 0);
    let sum = 0;
    this.#cdf = weights.map((w) => (sum += w / total));
  }

  sample(u: number): number {
    let lo = 0;
    let hi = this.#cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export interface WorkloadOptions {
  readonly readsPerSec: number;
  /** Per IDC; a tick that finds this many reads open skips its reads and counts them. */
  readonly maxInFlight: number;
  readonly timeoutMs: number;
  readonly random: Random;
}

export class Workload {
  skipped = 0;
  readonly #agent = new Agent({ connections: 32, keepAliveTimeout: 10_000 });
  readonly #zipf: Zipf;
  readonly #inFlight: number[];
  readonly #open = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly idcs: readonly EdgeIdc[],
    private readonly catalog: Catalog,
    private readonly options: WorkloadOptions,
    private readonly onRead: (read: Read) => void,
  ) {
    this.#zipf = new Zipf(catalog.initial);
    this.#inFlight = idcs.map(() => 0);
  }

  start(): void {
    const tickMs = 20;
    const due = this.idcs.map(() => 0);
    this.#timer = setInterval(() => {
      for (const idc of this.idcs) {
        due[idc.index]! += (this.options.readsPerSec * tickMs) / 1000;
        for (; due[idc.index]! >= 1; due[idc.index]!--) {
          const up = idc.edges.filter((edge) => edge.up);
          if (this.#inFlight[idc.index]! >= this.options.maxInFlight || up.length === 0) {
            this.skipped++;
            continue;
          }
          this.#read(idc.index, this.options.random.pick(up).url, this.#object());
        }
      }
    }, tickMs);
  }

  /** Zipf over the first objects; one read in twenty of an object uploaded since, when there is one. */
  #object(): number {
    const random = this.options.random;
    const later = this.catalog.entries.length - this.catalog.initial;
    if (later > 0 && random.chance(0.05)) {
      const object = this.catalog.initial + random.int(0, later - 1);
      if (this.catalog.entries[object]!.versions[0]!.ackedAt !== null) return object;
    }
    return this.#zipf.sample(random.next());
  }

  #read(idc: number, base: string, object: number): void {
    this.#inFlight[idc]!++;
    const done = readObject(this.#agent, base, this.catalog, idc, object, this.options.timeoutMs, false).then((read) => {
      this.#inFlight[idc]!--;
      this.onRead(read);
    });
    this.#open.add(done);
    void done.finally(() => this.#open.delete(done));
  }

  /** Stops issuing reads and waits for the open ones. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all(this.#open);
    await this.#agent.close();
  }
}
