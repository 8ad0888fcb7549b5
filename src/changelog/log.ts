// The origin's change log: every acknowledged write, in order, numbered from 1.
// Segment files of JSON lines named by their first sequence number; an append
// is written and fsynced before it resolves, and appends that arrive while a
// write is under way go out together in the next one (group commit). Trimmed
// by age and size a whole segment at a time, never the segment in use, so the
// last sequence survives any trim. The log has an id, made when it is created:
// a follower that finds another id knows the log was reset.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { fsyncDir, writeFileDurably } from './durable.js';
import { Wakeup } from './wakeup.js';
import { SEGMENT_NAME, lastEntryOf, parseLines, publicEntry, readEntries, segmentName, type StoredEntry } from './segments.js';

// A raw fd for the segment being written: appends go through it, one write and one fdatasync per batch.
const openFd = promisify(fs.open);
const writeFd = promisify(fs.write);
const fdatasync = promisify(fs.fdatasync);
const ftruncate = promisify(fs.ftruncate);
const closeFd = promisify(fs.close);

export type ChangeOp = 'put' | 'delete' | 'purge';

/** One change as followers see it. `time` is when it was appended (ms since the epoch). */
export interface ChangeEntry {
  readonly seq: number;
  readonly op: ChangeOp;
  readonly path: string;
  readonly etag?: string;
  readonly time: number;
  /** Set by a Redis stream's `prefix` entries: every path starting with `path` is dropped. */
  readonly prefix?: true;
}

/** What the writer appends; `tx` ties an entry to its pending file, for recovery, and is never served. */
export interface NewChange {
  readonly op: ChangeOp;
  readonly path: string;
  readonly etag?: string;
  readonly tx?: string;
}

export interface LogOptions {
  /** Segments older than this (by their last entry) are dropped. */
  readonly maxAgeMs: number;
  /** Old segments are dropped while the log is larger than this. */
  readonly maxBytes: number;
  readonly segmentBytes?: number;
  readonly now?: () => number;
}

interface Segment {
  readonly first: number;
  readonly file: string;
  bytes: number;
  lastTime: number;
}

/** Entries kept in memory for followers close to the end, which is nearly all of them. */
const TAIL_ENTRIES = 4096;

export class ChangeLog {
  readonly #segments: Segment[];
  readonly #tail: ChangeEntry[];
  readonly #now: () => number;
  readonly #segmentBytes: number;
  #last: number;
  #fd: number;
  #pending: { change: NewChange; resolve: (entry: ChangeEntry) => void; reject: (error: unknown) => void }[] = [];
  #writing: Promise<void> | null = null;
  readonly #appended = new Wakeup();
  #closed = false;
  /** Set when a failed write could not be undone: the log takes no more appends rather than risk a torn line mid-file. */
  #broken: Error | null = null;

  private constructor(
    readonly dir: string,
    readonly id: string,
    segments: Segment[],
    tail: ChangeEntry[],
    last: number,
    fd: number,
    private readonly options: LogOptions,
  ) {
    this.#segments = segments;
    this.#tail = tail;
    this.#last = last;
    this.#fd = fd;
    this.#now = options.now ?? Date.now;
    this.#segmentBytes = options.segmentBytes ?? Math.max(64 * 1024, Math.min(4 * 1024 * 1024, Math.floor(options.maxBytes / 8)));
  }

  /** Opens the log in dir, creating it (with a new id) when there is none. */
  static async open(dir: string, options: LogOptions): Promise<ChangeLog> {
    await fsp.mkdir(dir, { recursive: true });
    const idFile = path.join(dir, 'id');
    let id = (await fsp.readFile(idFile, 'utf8').catch(() => '')).trim();
    const names = (await fsp.readdir(dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
    if (!id) {
      // A log without its id cannot be trusted to continue any follower's count: start a new one.
      for (const name of names) await fsp.rm(path.join(dir, name));
      names.length = 0;
      id = randomBytes(9).toString('base64url');
      await writeFileDurably(idFile, `${id}\n`);
    }
    if (names.length === 0) {
      await fsp.writeFile(path.join(dir, segmentName(1)), '');
      await fsyncDir(dir);
      names.push(segmentName(1));
    }
    const segments: Segment[] = [];
    for (const name of names) {
      const file = path.join(dir, name);
      segments.push({ first: Number(SEGMENT_NAME.exec(name)![1]), file, bytes: (await fsp.stat(file)).size, lastTime: 0 });
    }
    // The newest segment is read whole: its count gives the last sequence, and
    // a line cut by a crash (never acknowledged) is cut off.
    const newest = segments.at(-1)!;
    const text = await fsp.readFile(newest.file, 'utf8');
    const whole = text.lastIndexOf('\n') + 1;
    if (whole < text.length) {
      await fsp.truncate(newest.file, Buffer.byteLength(text.slice(0, whole)));
      newest.bytes = Buffer.byteLength(text.slice(0, whole));
    }
    const entries = parseLines(text.slice(0, whole));
    const last = newest.first - 1 + entries.length;
    if (entries.length && entries.at(-1)!.seq !== last) throw new Error(`change log segment ${newest.file} is not numbered in order`);
    newest.lastTime = entries.at(-1)?.time ?? 0;
    for (const segment of segments.slice(0, -1)) segment.lastTime = (await lastEntryOf(segment.file))?.time ?? 0;
    const fd = await openFd(newest.file, 'a');
    const tail = entries.slice(-TAIL_ENTRIES).map(publicEntry);
    const log = new ChangeLog(dir, id, segments, tail, last, fd, options);
    await log.#trim();
    return log;
  }

  /** The first sequence still held; last + 1 when nothing is. */
  get first(): number {
    return this.#segments[0]!.first;
  }

  get last(): number {
    return this.#last;
  }

  /** Appends a change; resolves once it is on disk (fsynced), with its sequence number. */
  append(change: NewChange): Promise<ChangeEntry> {
    if (this.#closed) return Promise.reject(new Error('change log closed'));
    if (this.#broken) return Promise.reject(this.#broken);
    return new Promise((resolve, reject) => {
      this.#pending.push({ change, resolve, reject });
      this.#writing ??= this.#writeAll();
    });
  }

  async #writeAll(): Promise<void> {
    try {
      while (this.#pending.length) {
        const batch = this.#pending;
        this.#pending = [];
        try {
          const entries = await this.#write(batch.map((p) => p.change));
          batch.forEach((p, i) => p.resolve(entries[i]!));
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.#writing = null;
    }
  }

  async #write(changes: NewChange[]): Promise<ChangeEntry[]> {
    if (this.#segments.at(-1)!.bytes >= this.#segmentBytes) await this.#roll();
    const time = this.#now();
    const stored: StoredEntry[] = changes.map((c, i) => ({ seq: this.#last + 1 + i, time, ...c }));
    const text = stored.map((e) => `${JSON.stringify(e)}\n`).join('');
    const bytes = Buffer.from(text);
    const fd = this.#fd;
    const segment = this.#segments.at(-1)!;
    try {
      for (let at = 0; at < bytes.length; ) at += (await writeFd(fd, bytes, at, bytes.length - at)).bytesWritten;
      await fdatasync(fd);
    } catch (error) {
      // Nothing of this batch was acknowledged: cut it off, so the next append starts on a line of its own.
      await ftruncate(fd, segment.bytes).catch((cut: Error) => {
        this.#broken = new Error(`change log unusable after a failed write: ${cut.message}`);
      });
      throw error;
    }
    segment.bytes += bytes.length;
    segment.lastTime = time;
    this.#last += stored.length;
    const entries = stored.map(publicEntry);
    this.#tail.push(...entries);
    if (this.#tail.length > TAIL_ENTRIES * 2) this.#tail.splice(0, this.#tail.length - TAIL_ENTRIES);
    this.#appended.wake();
    return entries;
  }

  async #roll(): Promise<void> {
    const first = this.#last + 1;
    const file = path.join(this.dir, segmentName(first));
    const fd = await openFd(file, 'a');
    await fsyncDir(this.dir);
    const old = this.#fd;
    this.#fd = fd;
    this.#segments.push({ first, file, bytes: 0, lastTime: 0 });
    await closeFd(old).catch(() => {});
    await this.#trim();
  }

  /** Drops whole old segments past the age or size limit; never the one being written. */
  async #trim(): Promise<void> {
    const oldest = this.#now() - this.options.maxAgeMs;
    let total = this.#segments.reduce((sum, s) => sum + s.bytes, 0);
    while (this.#segments.length > 1) {
      const segment = this.#segments[0]!;
      if (total <= this.options.maxBytes && segment.lastTime >= oldest) break;
      this.#segments.shift();
      total -= segment.bytes;
      await fsp.rm(segment.file, { force: true });
    }
  }

  /** Drops what is past the limits now (appends also trim when they start a segment). */
  trim(): Promise<void> {
    return this.#trim();
  }

  /** Entries from `from` on (at most `limit`), starting at first when `from` was trimmed away. */
  async read(from: number, limit: number): Promise<ChangeEntry[]> {
    const start = Math.max(from, this.first);
    if (start > this.#last) return [];
    const tailFirst = this.#tail[0]?.seq ?? Number.POSITIVE_INFINITY;
    if (start >= tailFirst) return this.#tail.slice(start - tailFirst, start - tailFirst + limit);
    const segment = [...this.#segments].reverse().find((s) => s.first <= start)!;
    const entries = await readEntries(segment.file).catch((error: NodeJS.ErrnoException) => {
      // Trimmed while we looked: the caller asks again and starts at the new first.
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    return entries.filter((e) => e.seq >= start).slice(0, limit).map(publicEntry);
  }

  /**
   * Resolves when an entry after `seq` is appended, or after `ms`, or when
   * `signal` aborts: at once if there is one already.
   */
  waitBeyond(seq: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#last > seq || this.#closed || signal?.aborted) return Promise.resolve();
    return this.#appended.wait(ms, signal);
  }

  /** The entries still held that carry one of these tx tags, newest segments first (recovery). */
  async findTx(txs: ReadonlySet<string>): Promise<Map<string, StoredEntry>> {
    const found = new Map<string, StoredEntry>();
    for (const segment of [...this.#segments].reverse()) {
      if (found.size === txs.size) break;
      for (const entry of await readEntries(segment.file)) {
        if (entry.tx !== undefined && txs.has(entry.tx)) found.set(entry.tx, entry);
      }
    }
    return found;
  }

  /** The newest entry held for each of these paths (recovery: is a pending file still the latest?). */
  async latestFor(paths: ReadonlySet<string>): Promise<Map<string, StoredEntry>> {
    const latest = new Map<string, StoredEntry>();
    for (const segment of this.#segments) {
      for (const entry of await readEntries(segment.file)) {
        if (paths.has(entry.path)) latest.set(entry.path, entry);
      }
    }
    return latest;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#writing;
    this.#appended.wake();
    await closeFd(this.#fd);
  }
}
