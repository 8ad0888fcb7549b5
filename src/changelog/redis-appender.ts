// The origin's side of a change log on Redis: one XADD per acknowledged
// write, trimmed by MAXLEN ~ (whole listpack nodes at a time, which is cheap).
// The XADD and an XINFO STREAM go in one MULTI, so the entry's sequence (the
// stream's entries-added just after it) is the number edges count it by. Any
// number of origin replicas append to the one stream: Redis orders them.
import type { Redis } from 'ioredis';
import { ChangeLogUnavailable } from '../errors.js';
import type { ChangeEntry, NewChange } from './log.js';
import type { RedisTarget } from './redis-url.js';
import { connectRedis } from './redis-client.js';

export class RedisAppender {
  #client: Promise<Redis> | null = null;

  constructor(
    private readonly target: RedisTarget,
    private readonly maxEntries: number,
    private readonly timeoutMs = 5000,
  ) {}

  get describe(): string {
    return this.target.describe;
  }

  async append(change: NewChange): Promise<ChangeEntry> {
    try {
      const client = await (this.#client ??= connectRedis(this.target, { commandTimeoutMs: this.timeoutMs, connectTimeoutMs: this.timeoutMs }));
      const fields = ['op', change.op, 'path', change.path, ...(change.etag === undefined ? [] : ['etag', change.etag])];
      const replies = await client.multi()
        .xadd(this.target.stream, 'MAXLEN', '~', String(this.maxEntries), '*', ...fields)
        .xinfo('STREAM', this.target.stream)
        .exec();
      if (!replies) throw new Error('the transaction was discarded');
      const [[addError, id], [infoError, info]] = replies as [[Error | null, string], [Error | null, unknown[]]];
      if (addError) throw addError;
      if (infoError) throw infoError;
      const seq = Number(info[info.indexOf('entries-added') + 1]);
      return { seq, op: change.op, path: change.path, time: Number(id.slice(0, id.indexOf('-'))), ...(change.etag === undefined ? {} : { etag: change.etag }) };
    } catch (error) {
      // The next write connects afresh: a connection that failed once is not trusted.
      const stale = this.#client;
      this.#client = null;
      void stale?.then((c) => c.disconnect(), () => {});
      throw new ChangeLogUnavailable((error as Error).message);
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    await client?.then((c) => c.quit().catch(() => c.disconnect()), () => {});
  }
}
