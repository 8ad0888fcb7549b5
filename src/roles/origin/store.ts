// The origin's files and the change log that records their changes, kept in
// step. An upload streams into .imgedge/tmp/ (checked by its first bytes,
// limited in size, hashed as it goes), is fsynced, and only then, under the
// path's lock, is its entry appended to the log (fsynced) and the file
// renamed into place. The log entry is the commit: a crash after it is rolled
// forward at the next start (the pending file is renamed, the delete done),
// a crash before it rolled back (the pending file removed), so every stored
// version is in the log and no entry names a write that was not stored.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { ChangeLog, type ChangeEntry, type LogOptions, type NewChange } from '../../changelog/log.js';
import { DirSyncs } from '../../changelog/durable.js';
import { RESERVED_SEGMENT } from '../../changelog/wire.js';
import { BadPath, Conflict, PayloadTooLarge, UnsupportedMediaType } from '../../errors.js';
import { sniffImage, SNIFF_BYTES } from './sniff.js';
import { lockCacheDir } from '../../cache/lock.js';
import { segmentsOf, type OriginRoot } from './root.js';
import { serveFile } from './serve.js';
import type http from 'node:http';

export interface FileVersion {
  readonly size: number;
  readonly mtimeMs: number;
  /** Strong: the content's SHA-256. */
  readonly etag: string;
  readonly head: Buffer;
}

function etagOfDigest(hash: ReturnType<typeof createHash>): string {
  return `"${hash.digest('base64url').slice(0, 32)}"`;
}

/** One lock per path: writes to a path commit one at a time, in log order. */
class PathLocks {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before.then(() => mine);
    this.#tails.set(key, tail);
    await before;
    try {
      return await work();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/** Where the origin appends its changes when it keeps no log beside the files (Redis). */
export interface ChangeAppender {
  append(change: NewChange): Promise<ChangeEntry>;
  close(): Promise<void>;
}

/**
 * The file log, kept under the root, whose entry commits each write; or an
 * appender elsewhere, told of each write once it is in place (a crash or a
 * failed append between the two leaves a write that was not acknowledged:
 * the uploader retries).
 */
export type OriginLog = { readonly kind: 'file'; readonly options: LogOptions } | { readonly kind: 'appender'; readonly appender: ChangeAppender };

export class OriginStore implements OriginRoot {
  readonly #locks = new PathLocks();
  /** What was learnt of the files read or written lately (hashing a file again costs a whole read). */
  readonly #versions = new LRUCache<string, FileVersion>({ max: 100_000 });
  readonly #dirs = new DirSyncs();
  readonly #tmp: string;

  private constructor(
    readonly root: string,
    readonly fileLog: ChangeLog | null,
    private readonly appender: ChangeAppender | null,
    private readonly unlock: () => Promise<void>,
  ) {
    this.#tmp = path.join(root, RESERVED_SEGMENT, 'tmp');
  }

  /** The file log, served to edges at /.imgedge/changes; only for a store that keeps one (fileLog says). */
  get log(): ChangeLog {
    if (!this.fileLog) throw new Error('this origin appends its changes to Redis and keeps no file log');
    return this.fileLog;
  }

  static async open(rootDir: string, changes: OriginLog): Promise<OriginStore> {
    const root = path.resolve(rootDir);
    await fsp.mkdir(path.join(root, RESERVED_SEGMENT, 'tmp'), { recursive: true });
    // One process per root: two would interleave one log and finish each other's pending files.
    const unlock = await lockCacheDir(path.join(root, RESERVED_SEGMENT));
    try {
      const log = changes.kind === 'file' ? await ChangeLog.open(path.join(root, RESERVED_SEGMENT, 'changes'), changes.options) : null;
      const store = new OriginStore(root, log, changes.kind === 'appender' ? changes.appender : null, unlock);
      await store.#recover();
      return store;
    } catch (error) {
      await unlock();
      throw error;
    }
  }

  /**
   * The file of a request path. Decoded segment by segment and joined under
   * the root; a result outside it, or inside the origin's own .imgedge/, is
   * refused before any file call.
   */
  fileFor(canonicalPath: string): string {
    const file = path.join(this.root, ...segmentsOf(canonicalPath));
    const relative = path.relative(this.root, file);
    if (relative.startsWith('..') || path.isAbsolute(relative)) throw new BadPath('outside the root');
    return file;
  }

  get describe(): string {
    return this.root;
  }

  serve(canonicalPath: string, req: http.IncomingMessage, res: http.ServerResponse, maxAgeSec: number): Promise<void> {
    return serveFile(this, canonicalPath, req, res, maxAgeSec);
  }

  /** What is known of a file's current version: from memory when unchanged, else hashed from the open fd. */
  async version(file: string, handle: fsp.FileHandle): Promise<FileVersion | null> {
    const stat = await handle.stat();
    if (!stat.isFile()) return null;
    const known = this.#versions.get(file);
    if (known && known.size === stat.size && known.mtimeMs === stat.mtimeMs) return known;
    const hash = createHash('sha256');
    const head = Buffer.alloc(Math.min(SNIFF_BYTES, stat.size));
    const buf = Buffer.allocUnsafe(256 * 1024);
    for (let at = 0; at < stat.size; ) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      if (at < head.length) buf.copy(head, at, 0, Math.min(bytesRead, head.length - at));
      hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    const version = { size: stat.size, mtimeMs: stat.mtimeMs, etag: etagOfDigest(hash), head };
    this.#versions.set(file, version);
    return version;
  }

  /**
   * Stores a body at a path: 'created' or 'replaced', with its log entry.
   * Refused (and nothing kept) when it is not an image or over maxBytes.
   */
  async put(canonicalPath: string, body: Readable, maxBytes: number): Promise<{ created: boolean; entry: ChangeEntry }> {
    const file = this.fileFor(canonicalPath);
    if (canonicalPath.endsWith('/')) throw new BadPath('a file path may not end with /');
    const tx = randomBytes(12).toString('hex');
    const pending = path.join(this.#tmp, `${tx}.put`);
    let committed = false;
    try {
      const { etag, head } = await this.#receive(pending, body, maxBytes);
      await this.#dirs.sync(this.#tmp);
      return await this.#locks.run(canonicalPath, async () => {
        const existed = await fsp.stat(file).then((s) => {
          if (!s.isFile()) throw new Conflict('a directory is at that path');
          return true;
        }, () => false);
        await this.#makeParents(file);
        const log = this.fileLog;
        const entry = log ? await log.append({ op: 'put', path: canonicalPath, etag, tx }) : null;
        committed = true;
        await fsp.rename(pending, file);
        await this.#dirs.sync(path.dirname(file));
        const stat = await fsp.stat(file);
        this.#versions.set(file, { size: stat.size, mtimeMs: stat.mtimeMs, etag, head });
        return { created: !existed, entry: entry ?? (await this.appender!.append({ op: 'put', path: canonicalPath, etag })) };
      });
    } finally {
      if (!committed) await fsp.rm(pending, { force: true });
    }
  }

  /** Deletes the file at a path; null when there was none. */
  async delete(canonicalPath: string): Promise<ChangeEntry | null> {
    const file = this.fileFor(canonicalPath);
    return this.#locks.run(canonicalPath, async () => {
      const stat = await fsp.stat(file).catch(() => null);
      const log = this.fileLog;
      if (!stat?.isFile()) {
        // Appended all the same: a DELETE retried after a 503 (file gone, entry not appended) still reaches the edges.
        if (!log) await this.appender!.append({ op: 'delete', path: canonicalPath });
        return null;
      }
      if (!log) {
        await fsp.rm(file, { force: true });
        await this.#dirs.sync(path.dirname(file));
        this.#versions.delete(file);
        return this.appender!.append({ op: 'delete', path: canonicalPath });
      }
      // A marker ties the entry to the unlink, so a crash between them is finished at the next start.
      const tx = randomBytes(12).toString('hex');
      const marker = path.join(this.#tmp, `${tx}.del`);
      await fsp.writeFile(marker, '');
      await this.#dirs.sync(this.#tmp);
      let entry: ChangeEntry;
      try {
        entry = await log.append({ op: 'delete', path: canonicalPath, tx });
      } catch (error) {
        await fsp.rm(marker, { force: true });
        throw error;
      }
      await fsp.rm(file, { force: true });
      await this.#dirs.sync(path.dirname(file));
      this.#versions.delete(file);
      await fsp.rm(marker, { force: true });
      return entry;
    });
  }

  /** Streams the body into a new pending file, sniffing, counting and hashing as it goes. */
  async #receive(pending: string, body: Readable, maxBytes: number): Promise<{ etag: string; head: Buffer }> {
    const handle = await fsp.open(pending, 'wx');
    try {
      const hash = createHash('sha256');
      const head: Buffer[] = [];
      let headBytes = 0;
      let sniffed = false;
      let size = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) throw new PayloadTooLarge(maxBytes);
        if (!sniffed) {
          head.push(chunk);
          headBytes += chunk.length;
          if (headBytes >= SNIFF_BYTES) {
            if (!sniffImage(Buffer.concat(head))) throw new UnsupportedMediaType();
            sniffed = true;
          }
        }
        hash.update(chunk);
        await handle.write(chunk);
      }
      const first = Buffer.concat(head).subarray(0, SNIFF_BYTES);
      if (!sniffed && !sniffImage(first)) throw new UnsupportedMediaType();
      await handle.sync();
      return { etag: etagOfDigest(hash), head: Buffer.from(first) };
    } finally {
      await handle.close();
    }
  }

  /** Creates the directories above a file, fsyncing each new one's parent. */
  async #makeParents(file: string): Promise<void> {
    const dir = path.dirname(file);
    let created: string | undefined;
    try {
      created = await fsp.mkdir(dir, { recursive: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR') throw new Conflict('a file is in the way of that path');
      throw error;
    }
    if (!created) return;
    for (let d = dir; ; d = path.dirname(d)) {
      await this.#dirs.sync(path.dirname(d));
      if (d === created) break;
    }
  }

  /** Finishes what a crash interrupted: pending files whose entry is in the log are put in place, the rest removed. */
  async #recover(): Promise<void> {
    const names = await fsp.readdir(this.#tmp);
    if (names.length === 0) return;
    const log = this.fileLog;
    if (!log) {
      // Without a log here no pending write was acknowledged: each goes.
      for (const name of names) await fsp.rm(path.join(this.#tmp, name), { force: true, recursive: true });
      await this.#dirs.sync(this.#tmp);
      return;
    }
    const pending = new Map<string, { name: string; op: 'put' | 'delete' }>();
    for (const name of names) {
      const match = /^([0-9a-f]{24})\.(put|del)$/.exec(name);
      if (match) pending.set(match[1]!, { name, op: match[2] === 'put' ? 'put' : 'delete' });
      else await fsp.rm(path.join(this.#tmp, name), { force: true, recursive: true });
    }
    const logged = await log.findTx(new Set(pending.keys()));
    const latest = await log.latestFor(new Set([...logged.values()].map((e) => e.path)));
    for (const [tx, { name, op }] of pending) {
      const entry = logged.get(tx);
      const temp = path.join(this.#tmp, name);
      // Only the newest entry of a path may be rolled forward: an older one was overtaken.
      if (entry && latest.get(entry.path)?.tx === tx) {
        const file = this.fileFor(entry.path);
        if (op === 'put') {
          await this.#makeParents(file);
          await fsp.rename(temp, file);
        } else {
          await fsp.rm(file, { force: true });
        }
        await this.#dirs.sync(path.dirname(file));
      }
      await fsp.rm(temp, { force: true });
    }
    await this.#dirs.sync(this.#tmp);
  }

  async close(): Promise<void> {
    await this.fileLog?.close();
    await this.appender?.close();
    await this.unlock();
  }
}
