// The object files on disk. One file per version of an object: a header
// (magic, length, JSON metadata) then the body, exactly the origin's bytes.
// A fill writes into tmp/, and only a complete, checked, fsynced file is
// renamed into objects/; a crash anywhere before the rename leaves nothing
// in objects/ that could be served. tmp/ is emptied at start.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DirSyncs } from '../changelog/durable.js';
import type { PolicyObject } from '../http/freshness.js';

const MAGIC = Buffer.from('IMGEDGE1');
const HEADER_FIXED = MAGIC.length + 4;
/** What a hit reads first: the header and, for small objects, the whole body. */
export const FIRST_READ_BYTES = 64 * 1024;

// Raw fds, not FileHandles: a FileHandle closes its fd when collected, and
// these fds outlive any one function (waiters read them while a fill writes).
const open = promisify(fs.open);
const read = promisify(fs.read);
const write = promisify(fs.write);
const fsync = promisify(fs.fsync);
const close = promisify(fs.close);

export interface ObjectMeta {
  readonly v: 1;
  readonly key: string;
  /** Origin status: 200, or 404/410 for a remembered absence. */
  readonly status: number;
  /** Freshness lifetime (seconds) decided when stored or last revalidated. */
  readonly lifetimeSec: number;
  /** http-cache-semantics state: response headers and response time. */
  readonly policy: PolicyObject;
  readonly bodyBytes: number;
}

export class CorruptObject extends Error {}

function encodeHeader(meta: ObjectMeta, reserved: number): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  if (json.length > reserved) throw new Error('object header outgrew its reservation');
  const header = Buffer.alloc(HEADER_FIXED + reserved, 0x20);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(reserved, MAGIC.length);
  json.copy(header, HEADER_FIXED);
  return header;
}

function isMeta(value: unknown): value is ObjectMeta {
  const m = value as ObjectMeta;
  // JSON.parse gives null, an array, an object or a primitive: only an object can have v === 1.
  return (
    m !== null && m.v === 1 && typeof m.key === 'string' &&
    Number.isInteger(m.status) && Number.isFinite(m.lifetimeSec) &&
    Number.isSafeInteger(m.bodyBytes) && m.bodyBytes >= 0 && typeof m.policy === 'object' && m.policy !== null
  );
}

/** Parses a header from the start of a file; null when more bytes are needed. */
export function parseHeader(buf: Buffer): { meta: ObjectMeta; bodyOffset: number } | null {
  if (buf.length < HEADER_FIXED) throw new CorruptObject('short header');
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new CorruptObject('bad magic');
  const length = buf.readUInt32BE(MAGIC.length);
  if (length > 1024 * 1024) throw new CorruptObject('header too long');
  const bodyOffset = HEADER_FIXED + length;
  if (buf.length < bodyOffset) return null;
  let meta: unknown;
  try {
    meta = JSON.parse(buf.toString('utf8', HEADER_FIXED, bodyOffset));
  } catch {
    throw new CorruptObject('header is not JSON');
  }
  if (!isMeta(meta)) throw new CorruptObject('header lacks fields');
  return { meta, bodyOffset };
}

/** An object being written in tmp/. The fd is open for reading too, for waiters. */
export class TempObject {
  #reserved = 0;
  bodyOffset = 0;

  constructor(
    readonly fd: number,
    readonly tempPath: string,
    private readonly objectsDir: string,
    private readonly onCommit: (fileName: string) => void,
  ) {}

  /**
   * Leaves room before the body for the header, which only the commit writes
   * (nothing reads a temp file's header: readers start at bodyOffset, and a
   * crash leaves tmp/ to be emptied), with some to spare for the final one.
   */
  reserveHeader(meta: ObjectMeta): void {
    this.#reserved = Buffer.byteLength(JSON.stringify(meta)) + 64;
    this.bodyOffset = HEADER_FIXED + this.#reserved;
  }

  async writeBody(chunk: Buffer, bodyPosition: number): Promise<void> {
    await writeAll(this.fd, chunk, this.bodyOffset + bodyPosition);
  }

  /** Final header, fsync, rename: after this the object exists, whole. */
  async commit(meta: ObjectMeta, fileName: string): Promise<void> {
    this.onCommit(fileName);
    await writeAll(this.fd, encodeHeader(meta, this.#reserved), 0);
    await fsync(this.fd);
    const target = path.join(this.objectsDir, fileName);
    try {
      await fsp.rename(this.tempPath, target);
    } catch (error) {
      // The fan-out dirs are made at start; one removed by hand is made again.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await fsp.mkdir(path.dirname(target), { recursive: true });
      await fsp.rename(this.tempPath, target);
    }
  }

  async discard(): Promise<void> {
    await fsp.rm(this.tempPath, { force: true });
  }
}

async function writeAll(fd: number, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await write(fd, buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

export interface OpenObject {
  readonly fd: number;
  readonly meta: ObjectMeta;
  readonly bodyOffset: number;
  /** The first body bytes, already read along with the header. */
  readonly prefix: Buffer;
}

let tempFiles = 0;

export class Store {
  readonly objectsDir: string;
  readonly tmpDir: string;
  /**
   * Files this process commits until start-up recovery is over, so that the
   * recovery never mistakes one for a file the journal missed.
   */
  #committedSinceStart: Set<string> | null = new Set();
  readonly #removing = new Set<Promise<void>>();
  /** Fan-out dirs a file was removed from since they were last fsynced. */
  readonly #unsyncedDirs = new Set<string>();
  readonly #dirSyncs = new DirSyncs();

  private constructor(readonly dir: string) {
    this.objectsDir = path.join(dir, 'objects');
    this.tmpDir = path.join(dir, 'tmp');
  }

  /** Prepares the directories and drops what a crash left half-written. */
  static async open(dir: string): Promise<Store> {
    const store = new Store(path.resolve(dir));
    await fsp.mkdir(store.objectsDir, { recursive: true });
    await Promise.all(
      Array.from({ length: 256 }, (_, i) => fsp.mkdir(path.join(store.objectsDir, i.toString(16).padStart(2, '0')), { recursive: true })),
    );
    await fsp.rm(store.tmpDir, { recursive: true, force: true });
    await fsp.mkdir(store.tmpDir);
    return store;
  }

  async createTemp(): Promise<TempObject> {
    // tmp/ is emptied at start and the cache dir is this process's alone (lock.ts): a count names its files apart.
    const tempPath = path.join(this.tmpDir, String(++tempFiles));
    const fd = await open(tempPath, 'wx+', 0o600);
    return new TempObject(fd, tempPath, this.objectsDir, (file) => this.#committedSinceStart?.add(file));
  }

  /**
   * Opens one object and reads its header with the first body bytes. Throws
   * ENOENT when it is gone and CorruptObject when it is not ours or is short.
   */
  async openObject(fileName: string): Promise<OpenObject> {
    const fd = await open(path.join(this.objectsDir, fileName), 'r');
    try {
      let buf = Buffer.allocUnsafe(FIRST_READ_BYTES);
      let { bytesRead } = await read(fd, buf, 0, buf.length, 0);
      let parsed = parseHeader(buf.subarray(0, bytesRead));
      if (!parsed) {
        const length = buf.readUInt32BE(MAGIC.length) + HEADER_FIXED + FIRST_READ_BYTES;
        buf = Buffer.allocUnsafe(length);
        ({ bytesRead } = await read(fd, buf, 0, length, 0));
        parsed = parseHeader(buf.subarray(0, bytesRead));
        if (!parsed) throw new CorruptObject('short header');
      }
      const { meta, bodyOffset } = parsed;
      const prefixEnd = Math.min(bytesRead, bodyOffset + meta.bodyBytes);
      if (bytesRead < bodyOffset + meta.bodyBytes && bytesRead < buf.length) throw new CorruptObject('short body');
      return { fd, meta, bodyOffset, prefix: buf.subarray(bodyOffset, prefixEnd) };
    } catch (error) {
      await close(fd).catch(() => {});
      throw error;
    }
  }

  /** Reads just the metadata of an object file (start-up recovery). */
  async readMeta(fileName: string): Promise<{ meta: ObjectMeta; fileBytes: number }> {
    const object = await this.openObject(fileName);
    try {
      const { size } = await promisify(fs.fstat)(object.fd);
      if (size !== object.bodyOffset + object.meta.bodyBytes) throw new CorruptObject('size differs from header');
      return { meta: object.meta, fileBytes: size };
    } finally {
      await close(object.fd);
    }
  }

  /** Whether this process wrote the file (asked while recovery runs). */
  committedHere(fileName: string): boolean {
    return this.#committedSinceStart?.has(fileName) ?? false;
  }

  recoveryDone(): void {
    this.#committedSinceStart = null;
  }

  async remove(fileName: string): Promise<void> {
    const file = path.join(this.objectsDir, fileName);
    const removal = fsp.rm(file, { force: true }).then(() => void this.#unsyncedDirs.add(path.dirname(file)));
    this.#removing.add(removal);
    try {
      await removal;
    } finally {
      this.#removing.delete(removal);
    }
  }

  /**
   * Resolves once every removal begun so far is done and its directory
   * fsynced: a file a crash can no longer bring back (the start-up scan
   * adopts any object file it finds).
   */
  async removalsDurable(): Promise<void> {
    await Promise.allSettled([...this.#removing]);
    const dirs = [...this.#unsyncedDirs];
    this.#unsyncedDirs.clear();
    try {
      await Promise.all(dirs.map((dir) => this.#dirSyncs.sync(dir)));
    } catch (error) {
      for (const dir of dirs) this.#unsyncedDirs.add(dir);
      throw error;
    }
  }

  /** Every object file name ("ab/<hash>.<version>"), for start-up recovery. */
  async listObjectFiles(): Promise<string[]> {
    const names: string[] = [];
    for (const dir of await fsp.readdir(this.objectsDir)) {
      let entries: string[];
      try {
        entries = await fsp.readdir(path.join(this.objectsDir, dir));
      } catch {
        continue;
      }
      for (const entry of entries) names.push(`${dir}/${entry}`);
    }
    return names;
  }
}

export function closeFd(fd: number): Promise<void> {
  return close(fd);
}

export function readInto(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return read(fd, buf, 0, length, position).then((r) => r.bytesRead);
}
