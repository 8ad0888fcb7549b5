// How long a write takes to reach every edge. After each acknowledged
// overwrite, every edge that is up is asked for the object again and again
// (every 10 ms for the first 3 s after the write or after its IDC healed,
// every 250 ms after that) until it serves that version or a later one; the
// time its answer ended is when that edge served the new bytes. Each ask
// after the first is conditional on the version it last got (a 304 is that
// version again), so asking this often costs bodies only when they change.
// A cut IDC is not asked while cut (it can learn nothing), a killed edge
// drops out of the writes it had not served yet. One loop per edge and object, however many
// writes of that object are waiting on it.
import { Agent } from 'undici';
import type { Catalog } from './catalog.js';
import type { Edge, EdgeIdc } from './fleet.js';
import { readObject, type Read, type Seen } from './workload.js';

export interface WriteRecord {
  readonly object: number;
  readonly version: number;
  readonly ackedAt: number;
  /** Per IDC: the edges that were up at the acknowledgement and have not died since, each with when it served the version (or null). */
  readonly served: Map<string, number | null>[];
}

const FAST_MS = 10;
const SLOW_MS = 250;
const FAST_FOR_MS = 3000;

/** When every edge of the IDC counted for this write served it, or null while one has not. */
export function completedAt(write: WriteRecord, idc: number): number | null {
  let last = write.ackedAt;
  for (const at of write.served[idc]!.values()) {
    if (at === null) return null;
    last = Math.max(last, at);
  }
  return last;
}

interface Loop {
  readonly idc: EdgeIdc;
  readonly edge: Edge;
  readonly object: number;
  readonly pending: WriteRecord[];
}

export class InvalidationProbes {
  readonly writes: WriteRecord[] = [];
  readonly #agent = new Agent({ connections: 8, keepAliveTimeout: 10_000 });
  readonly #loops = new Map<string, Loop>();
  readonly #running = new Set<Promise<void>>();
  readonly #healedAt: number[];
  #stopped = false;

  constructor(
    private readonly idcs: readonly EdgeIdc[],
    private readonly catalog: Catalog,
    private readonly onRead: (read: Read) => void,
  ) {
    this.#healedAt = idcs.map(() => 0);
  }

  /** Starts timing an acknowledged overwrite at every edge that is up. */
  track(object: number, version: number, ackedAt: number): void {
    if (this.#stopped) return;
    const write: WriteRecord = {
      object, version, ackedAt,
      served: this.idcs.map((idc) => new Map(idc.edges.filter((edge) => edge.up).map((edge) => [edge.name, null]))),
    };
    this.writes.push(write);
    for (const idc of this.idcs) {
      for (const edge of idc.edges) {
        if (!write.served[idc.index]!.has(edge.name)) continue;
        const key = `${edge.name} ${object}`;
        const loop = this.#loops.get(key);
        if (loop) {
          loop.pending.push(write);
          continue;
        }
        const started: Loop = { idc, edge, object, pending: [write] };
        this.#loops.set(key, started);
        const running = this.#run(started).finally(() => {
          this.#loops.delete(key);
          this.#running.delete(running);
        });
        this.#running.add(running);
      }
    }
  }

  /** Asks the IDC quickly again: it has just been healed. */
  healed(idc: EdgeIdc, at: number): void {
    this.#healedAt[idc.index] = at;
  }

  async #run(loop: Loop): Promise<void> {
    const { idc, edge, object, pending } = loop;
    let seen: Seen | undefined;
    while (pending.length > 0 && !this.#stopped) {
      if (!edge.up) {
        // Killed: it is not one of the edges these writes wait for any more.
        for (const write of pending) write.served[idc.index]!.delete(edge.name);
        return;
      }
      if (idc.cut) {
        await sleep(100);
        continue;
      }
      const read = await readObject(this.#agent, edge.url, this.catalog, idc.index, object, 10_000, true, seen);
      this.onRead(read);
      if (read.version !== null && read.version >= 0) {
        if (read.etag !== null) seen = { version: read.version, etag: read.etag };
        for (let k = pending.length - 1; k >= 0; k--) {
          if (pending[k]!.version > read.version) continue;
          if (edge.up) pending[k]!.served[idc.index]!.set(edge.name, read.endedAt);
          pending.splice(k, 1);
        }
      }
      if (pending.length === 0) return;
      const since = Math.max(pending[0]!.ackedAt, this.#healedAt[idc.index]!);
      await sleep(Date.now() - since < FAST_FOR_MS ? FAST_MS : SLOW_MS);
    }
  }

  /** Waits up to `ms` for every edge to serve every write, then stops asking. */
  async settle(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.#running.size > 0 && Date.now() < deadline) await sleep(100);
    this.#stopped = true;
    await Promise.all(this.#running);
    await this.#agent.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
