// Reads in every edge IDC: an open loop at a set rate (a population of
// browsers does not wait for the previous answer), objects drawn from a Zipf
// distribution, each request to a replica picked at random (a load balancer),
// every body hashed and compared with the object's known bytes.
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Random } from '../soak/random.js';

export interface CatalogEntry {
  readonly path: string;
  readonly size: number;
  readonly sha: string;
}

export interface Read {
  readonly idc: number;
  readonly object: number;
  readonly startedAt: number;
  readonly endedAt: number;
  /** null: no answer (refused, reset, timed out). */
  readonly status: number | null;
  /** A 200 whose body is not the object's bytes. */
  readonly wrong: boolean;
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
    private readonly idcs: readonly (readonly string[])[],
    private readonly catalog: readonly CatalogEntry[],
    private readonly options: WorkloadOptions,
    private readonly onRead: (read: Read) => void,
  ) {
    this.#zipf = new Zipf(catalog.length);
    this.#inFlight = idcs.map(() => 0);
  }

  start(): void {
    const tickMs = 20;
    const due = this.idcs.map(() => 0);
    this.#timer = setInterval(() => {
      for (const [idc, replicas] of this.idcs.entries()) {
        due[idc]! += (this.options.readsPerSec * tickMs) / 1000;
        for (; due[idc]! >= 1; due[idc]!--) {
          if (this.#inFlight[idc]! >= this.options.maxInFlight) {
            this.skipped++;
            continue;
          }
          const object = this.#zipf.sample(this.options.random.next());
          this.#read(idc, this.options.random.pick(replicas), object);
        }
      }
    }, tickMs);
  }

  #read(idc: number, base: string, object: number): void {
    this.#inFlight[idc]!++;
    const entry = this.catalog[object]!;
    const startedAt = Date.now();
    const done = (async () => {
      let status: number | null = null;
      let wrong = false;
      try {
        const response = await request(`${base}${entry.path}`, {
          dispatcher: this.#agent,
          headersTimeout: this.options.timeoutMs,
          bodyTimeout: this.options.timeoutMs,
        });
        const hash = createHash('sha256');
        for await (const chunk of response.body) hash.update(chunk as Buffer);
        status = response.statusCode;
        wrong = status === 200 && hash.digest('hex') !== entry.sha;
      } catch {
        status = null;
      }
      this.#inFlight[idc]!--;
      this.onRead({ idc, object, startedAt, endedAt: Date.now(), status, wrong });
    })();
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
