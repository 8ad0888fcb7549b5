// Tiering: an edge whose origin is a parent edge follows the parent, and the
// parent relays the log it follows, each entry only once it has applied it
// itself. A child that purges on an entry therefore refetches from a parent
// that already dropped the old bytes. Recent entries come from memory, older
// ones from upstream, cut at what this edge has applied.
import type { ChangeEntry } from './log.js';
import type { ChangeSource } from './serve.js';
import type { Follower } from './follower.js';

export class Relay implements ChangeSource {
  constructor(private readonly follower: Follower) {}

  /** '' while this edge has no position in any log: the route answers 404 then. */
  get id(): string {
    return this.follower.relayId ?? '';
  }

  get first(): number {
    return this.follower.upstreamFirst;
  }

  get last(): number {
    return this.follower.position?.seq ?? 0;
  }

  /**
   * Entries from `from` on, up to what this edge applied, in this edge's own
   * paths (its --origin may have a path prefix): changes outside it are left
   * out, and an empty answer means there was nothing up to `last`.
   */
  async read(from: number, limit: number): Promise<readonly ChangeEntry[]> {
    const last = this.last;
    for (let start = from; start <= last; ) {
      const window = (await this.#window(start, limit)).filter((e) => e.seq <= last);
      if (window.length === 0) return [];
      const kept = window.flatMap((e) => {
        const edgePath = this.follower.edgePath(e.path);
        return edgePath === null ? [] : [{ ...e, path: edgePath }];
      });
      if (kept.length) return kept;
      start = window.at(-1)!.seq + 1;
    }
    return [];
  }

  /** Recent entries from memory, older ones from upstream. */
  async #window(from: number, limit: number): Promise<readonly ChangeEntry[]> {
    const recent = this.follower.recent;
    // It holds every entry applied since its first (numbers skip only where upstream left some out).
    if (recent.length && from >= recent[0]!.seq) {
      const at = recent.findIndex((e) => e.seq >= from);
      return at === -1 ? [] : recent.slice(at, at + limit);
    }
    // Older than remembered and no way to ask by sequence (a Redis stream): `first` tells the edge below it fell behind.
    if (!this.follower.pagesUpstream) return [];
    const followed = this.follower.position?.log;
    const page = await this.follower.fetchPage(from, limit);
    if (page.log !== followed) throw new Error('the upstream log changed under the relay');
    return page.entries;
  }

  waitBeyond(seq: number, ms: number, signal?: AbortSignal): Promise<void> {
    return this.follower.appliedBeyond(seq, ms, signal);
  }
}
