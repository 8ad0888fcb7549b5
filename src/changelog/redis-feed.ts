// A Redis stream as a change feed (contract: "Change feed on Redis"). An edge
// waits with XREAD BLOCK from the ID it last applied and applies what it
// brings at once; then it reads XINFO STREAM and a plain XREAD together in
// one MULTI, so the gap rule is judged on the very state the entries came
// from, before it waits again. The position counts entries (`seq`) the way
// Redis 7 counts `entries-added`, so that what was removed unseen shows as a
// shortfall, whenever it is checked:
//
//   ahead:   the stream added fewer entries than the edge read, or its last
//            ID is below the edge's (reset, or restored from an older copy);
//   reset:   the stream is gone and the edge had read from it;
//   trimmed: entries after the edge's ID were removed before it read them
//            (the first entry still held is past it and fewer are left than
//            were added since; an XDEL past it; or, read to the end, fewer
//            entries came than were added).
import type { Redis } from 'ioredis';
import { normaliseTarget } from '../http/path.js';
import type { ChangeOp } from './log.js';
import type { ChangeFeed, FeedEntry, FeedRead } from './feed.js';
import type { Position } from './position.js';
import type { RedisTarget } from './redis-url.js';
import { compareIds, connectRedis } from './redis-client.js';

/** Entries read per round trip. */
const BATCH = 1000;
/**
 * The longest a read blocks. Redis wakes a blocked XREAD when a write comes
 * or a stream it held is replaced, but not when a replica's full sync loads a
 * stream it did not hold (a replica back without its data, whose snapshot
 * holds the writes made while it waited): what that brought is read when
 * the block ends, so it must end soon.
 */
const MAX_BLOCK_SEC = 2;
const OPS: readonly ChangeOp[] = ['put', 'delete', 'purge'];

type RawEntry = [id: string, fields: string[]];

interface StreamInfo {
  readonly length: number;
  readonly lastId: string;
  readonly entriesAdded: number;
  readonly firstId: string;
  readonly maxDeletedId: string;
}

function parseInfo(flat: unknown[]): StreamInfo {
  const map = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1]);
  const added = map.get('entries-added');
  // Redis before 7 reports neither count: the gap rule cannot be kept without them.
  if (added === undefined) throw new Error('the Redis server is older than 7.0: XINFO STREAM reports no entries-added');
  return {
    length: Number(map.get('length')),
    lastId: String(map.get('last-generated-id')),
    entriesAdded: Number(added),
    firstId: String(map.get('recorded-first-entry-id')),
    maxDeletedId: String(map.get('max-deleted-entry-id')),
  };
}

/** An entry's fields as the contract names them; anything it cannot use is kept as a no-op with the reason. */
function toEntry(id: string, fields: readonly string[], seq: number): FeedEntry {
  const get = (name: string) => {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
    return undefined;
  };
  const rawOp = get('op');
  const op = OPS.find((o) => o === rawOp) ?? 'purge';
  const etag = get('etag');
  const time = Number(id.slice(0, id.indexOf('-')));
  const base = { seq, id, op, time, ...(etag === undefined ? {} : { etag }) };
  const rawPath = get('path');
  const rawPrefix = get('prefix');
  const raw = rawPath ?? rawPrefix;
  if (raw === undefined) return { ...base, path: '', unusable: 'neither path nor prefix' };
  try {
    const { path, query } = normaliseTarget(raw);
    if (query) return { ...base, path: '', unusable: 'a query string' };
    return rawPath === undefined ? { ...base, path, prefix: true } : { ...base, path };
  } catch (error) {
    return { ...base, path: '', unusable: (error as Error).message };
  }
}

export class RedisFeed implements ChangeFeed {
  readonly pages = false;
  readonly #log: string;
  #client: Redis | null = null;
  /** Entries were applied straight from a blocking read: the next read checks them against XINFO before waiting again. */
  #checkDue = false;

  constructor(
    private readonly target: RedisTarget,
    private readonly maxWaitSec: number,
  ) {
    // Not the host: the primary and each replica hold the same stream, and an edge may move between them.
    this.#log = `redis-stream:${target.stream}`;
  }

  get describe(): string {
    return this.target.describe;
  }

  async #connected(): Promise<Redis> {
    this.#client ??= await connectRedis(this.target, { commandTimeoutMs: (Math.min(this.maxWaitSec, MAX_BLOCK_SEC) + 10) * 1000 });
    return this.#client;
  }

  #drop(): void {
    this.#client?.disconnect();
    this.#client = null;
  }

  async read(at: Position | null, waitSec: number, signal: AbortSignal): Promise<FeedRead | 'no_log'> {
    const onAbort = () => this.#drop();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // A position in this stream without its ID (a hand-made file) cannot be continued from: the gap rule.
      if (at?.log === this.#log && at.id === undefined) return { ...(await this.#read(null, 0)), gap: 'reset' };
      return await this.#read(at?.log === this.#log && at.id !== undefined ? { seq: at.seq, id: at.id } : null, waitSec);
    } catch (error) {
      // A connection that failed once is not trusted again: the next read connects afresh.
      this.#drop();
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async #read(mine: { seq: number; id: string } | null, waitSec: number): Promise<FeedRead> {
    const client = await this.#connected();
    const stream = this.target.stream;
    const after = mine?.id ?? '0-0';
    if (mine && waitSec > 0 && !this.#checkDue) {
      const woke = (await client.xread('COUNT', BATCH, 'BLOCK', Math.min(waitSec, MAX_BLOCK_SEC) * 1000, 'STREAMS', stream, after)) as [string, RawEntry[]][] | null;
      const raw = woke?.[0]?.[1] ?? [];
      if (raw.length) {
        // Applied at once, then checked: the next read is the MULTI below,
        // and a removal or a reset it finds shows in the count, so it is
        // still caught as a gap, one round trip later.
        this.#checkDue = true;
        const entries = raw.map(([id, fields], i) => toEntry(id, fields, mine.seq + i + 1));
        return { log: this.#log, gap: null, entries, end: { seq: entries.at(-1)!.seq, id: entries.at(-1)!.id! }, first: mine.seq + 1 };
      }
    }
    this.#checkDue = false;
    const replies = await client.multi().xinfo('STREAM', stream).xread('COUNT', BATCH, 'STREAMS', stream, after).exec();
    if (!replies) throw new Error('the Redis transaction was discarded');
    const [[infoError, infoReply], [readError, readReply]] = replies as [[Error | null, unknown], [Error | null, unknown]];
    if (readError) throw readError;
    if (infoError) {
      if (!/no such key/i.test(infoError.message)) throw infoError;
      // No stream: none written yet, or removed under an edge that had read from it.
      const end = { seq: 0, id: '0-0' };
      return { log: this.#log, gap: mine && mine.seq > 0 ? 'reset' : null, entries: [], end, first: 1 };
    }
    const info = parseInfo(infoReply as unknown[]);
    const end = { seq: info.entriesAdded, id: info.lastId };
    const first = info.entriesAdded - info.length + 1;
    if (!mine) return { log: this.#log, gap: null, entries: [], end, first };
    if (mine.seq > info.entriesAdded || compareIds(mine.id, info.lastId) > 0) return { log: this.#log, gap: 'ahead', entries: [], end, first };
    const raw = ((readReply as [string, RawEntry[]][] | null)?.[0]?.[1]) ?? [];
    const unread = info.entriesAdded - mine.seq;
    const lost =
      compareIds(info.maxDeletedId, mine.id) > 0 ||
      (compareIds(info.firstId, mine.id) > 0 && info.length < unread) ||
      (raw.length < BATCH && raw.length < unread);
    if (lost) return { log: this.#log, gap: 'trimmed', entries: [], end, first };
    return { log: this.#log, gap: null, entries: raw.map(([id, fields], i) => toEntry(id, fields, mine.seq + i + 1)), end, first };
  }

  /** Entries name paths as browsers request them from the edge (the contract's `path`), whatever --origin's path. */
  edgePath(entryPath: string): string {
    return entryPath;
  }

  fetchPage(): Promise<never> {
    return Promise.reject(new Error('a Redis stream is not read by sequence'));
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    if (client) await client.quit().catch(() => client.disconnect());
  }
}
