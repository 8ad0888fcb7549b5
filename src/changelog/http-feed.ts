// The origin's change log over HTTP (or a parent edge relaying it), asked at
// the origin host's root: one long poll per read, from the sequence after the
// position, on a connection of its own so that a poll never holds one of the
// origin fetches' connections.
import { Agent, request } from 'undici';
import { changesUrl, parseChangesPage, MAX_LIMIT, type ChangesPage } from './wire.js';
import type { ChangeFeed, FeedRead } from './feed.js';
import type { Position } from './position.js';

export class HttpFeed implements ChangeFeed {
  readonly #agent: Agent;
  readonly pages = true;
  /** The log is the origin host's, at its root, whatever path prefix --origin has. */
  readonly #logBase: URL;
  readonly #prefix: string;

  constructor(
    private readonly origin: URL,
    private readonly userAgent: string,
    maxWaitSec: number,
  ) {
    this.#logBase = new URL('/', origin);
    this.#prefix = origin.pathname.replace(/\/+$/, '');
    this.#agent = new Agent({ connections: 2, headersTimeout: (maxWaitSec + 15) * 1000, bodyTimeout: (maxWaitSec + 15) * 1000 });
  }

  get describe(): string {
    return this.origin.href;
  }

  async #page(from: number, waitSec: number, limit: number, signal: AbortSignal): Promise<ChangesPage | 'no_log'> {
    const { statusCode, body } = await request(changesUrl(this.#logBase, { from, waitSec, limit }), {
      dispatcher: this.#agent,
      headers: { 'user-agent': this.userAgent },
      signal,
    });
    // A refusal (404 from most servers, 403 from S3 for a key that is not
    // there) means this origin keeps no log; a 5xx or a timeout, that it is in trouble.
    if ((statusCode >= 400 && statusCode < 500 && ![408, 425, 429].includes(statusCode)) || statusCode === 501) {
      await body.dump();
      return 'no_log';
    }
    if (statusCode !== 200) {
      await body.dump();
      throw new Error(`change log answered ${statusCode}`);
    }
    return parseChangesPage(await body.json());
  }

  /**
   * An origin path as the edge's requests name it: with --origin
   * http://o/photos, the edge's /a.jpg is the origin's /photos/a.jpg. A
   * change outside the prefix is nothing the edge holds.
   */
  edgePath(originPath: string): string | null {
    if (this.#prefix === '') return originPath;
    return originPath.startsWith(`${this.#prefix}/`) ? originPath.slice(this.#prefix.length) : null;
  }

  async read(at: Position | null, waitSec: number, signal: AbortSignal): Promise<FeedRead | 'no_log'> {
    const from = at ? at.seq + 1 : 1;
    const page = await this.#page(from, waitSec, MAX_LIMIT, signal);
    if (page === 'no_log') return page;
    const gap = from < page.first ? 'trimmed' : from > page.last + 1 ? 'ahead' : null;
    return { log: page.log, gap, entries: page.entries, end: { seq: page.last }, first: page.first };
  }

  async fetchPage(from: number, limit: number, signal: AbortSignal): Promise<ChangesPage> {
    const page = await this.#page(from, 0, limit, signal);
    if (page === 'no_log') throw new Error('the upstream no longer serves a change log');
    return page;
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
