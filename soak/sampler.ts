// Watches the edges from outside, as an operator would: resident memory and
// open file descriptors from /proc every few seconds, and the eviction counter
// from /metrics (summed over restarts, which reset it).
import fs from 'node:fs';
import type { Edge } from './edges.js';
import { exchange } from './client.js';

export interface Sample {
  /** Milliseconds since the run started. */
  readonly t: number;
  readonly pid: number;
  readonly rssKiB: number;
  readonly fds: number;
  /** From the edge's own /metrics, when it answered: what RSS is made of. */
  heapUsedKiB?: number;
  externalKiB?: number;
}

export function procSample(pid: number): { rssKiB: number; fds: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    return rss ? { rssKiB: Number(rss[1]), fds } : null;
  } catch {
    return null; // gone between the check and the read: a kill under way
  }
}

function counter(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

export class Sampler {
  readonly samples = new Map<string, Sample[]>();
  readonly #evictions = new Map<string, { last: number; pid: number; total: number }>();
  #timer: NodeJS.Timeout | null = null;
  #busy = false;

  constructor(
    private readonly edges: readonly Edge[],
    private readonly startedAt: number,
  ) {
    for (const edge of edges) this.samples.set(edge.spec.name, []);
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.sample(), intervalMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  evictions(name: string): number {
    return this.#evictions.get(name)?.total ?? 0;
  }

  async sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (const edge of this.edges) {
        const pid = edge.pid;
        if (pid === undefined) continue;
        const seen = procSample(pid);
        const sample: Sample | null = seen && { t: Date.now() - this.startedAt, pid, ...seen };
        if (sample) this.samples.get(edge.spec.name)!.push(sample);
        const metrics = await exchange(`${edge.adminUrl}/metrics`, { timeoutMs: 2000 }).catch(() => null);
        if (metrics?.status !== 200) continue;
        if (sample) {
          // Buffers (the hot-object cache among them) are external memory, not V8 heap.
          sample.heapUsedKiB = Math.round(counter(metrics.text, 'imgedge_nodejs_heap_size_used_bytes') / 1024);
          sample.externalKiB = Math.round(counter(metrics.text, 'imgedge_nodejs_external_memory_bytes') / 1024);
        }
        const value = counter(metrics.text, 'imgedge_evictions_total');
        const known = this.#evictions.get(edge.spec.name) ?? { last: 0, pid, total: 0 };
        // A new process counts from zero again.
        const delta = known.pid === pid ? Math.max(0, value - known.last) : value;
        this.#evictions.set(edge.spec.name, { last: value, pid, total: known.total + delta });
      }
    } finally {
      this.#busy = false;
    }
  }
}

export interface DiskUse {
  /** Object files under objects/ and their total size. */
  readonly files: number;
  readonly bytes: number;
  /** What the edge's index says it holds (imgedge_cache_objects, imgedge_cache_bytes). */
  readonly indexObjects: number;
  readonly indexBytes: number;
}

/** The cache dir as the disk sees it next to what the index counts: a difference is files nobody will evict. */
export async function diskUse(edge: Edge): Promise<DiskUse | null> {
  const metrics = await exchange(`${edge.adminUrl}/metrics`, { timeoutMs: 5000 }).catch(() => null);
  if (metrics?.status !== 200) return null;
  let files = 0;
  let bytes = 0;
  const objects = `${edge.spec.cacheDir}/objects`;
  for (const dir of fs.readdirSync(objects)) {
    for (const name of fs.readdirSync(`${objects}/${dir}`)) {
      const stat = fs.statSync(`${objects}/${dir}/${name}`, { throwIfNoEntry: false });
      if (!stat) continue;
      files++;
      bytes += stat.size;
    }
  }
  return { files, bytes, indexObjects: counter(metrics.text, 'imgedge_cache_objects'), indexBytes: counter(metrics.text, 'imgedge_cache_bytes') };
}
