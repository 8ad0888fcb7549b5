// Which objects the disk holds, in least-recently-used order, sized in bytes.
// Going over --cache-max-bytes evicts from the cold end and deletes the file.
// Every change is appended to the journal, so a restart is one file read.
import { LRUCache } from 'lru-cache';
import { Journal, type JournalEntry } from './journal.js';
import { hashOfFileName, keyHash, primaryKey, variantNames } from './key.js';
import { KeysByPath } from './keys-by-path.js';
import type { Store } from './store.js';

export interface IndexEntry extends JournalEntry {}

export interface IndexEvents {
  evicted?(entry: IndexEntry): void;
  /** Any entry let go of, whatever the reason: its file is being deleted. */
  removed?(entry: IndexEntry): void;
  /** The journal could not be written; the cache goes on without it (see journal.ts). */
  journalFailed?(error: Error): void;
}

/**
 * At most this many variants of one primary key are kept: a header that
 * varies without bound (Cookie, User-Agent) must not fill the cache with one
 * object. The least recently used variant goes first.
 */
export const MAX_VARIANTS = 32;

export class CacheIndex {
  readonly #lru: LRUCache<string, IndexEntry>;
  readonly #byPath = new KeysByPath();
  /** Primary key → its variants' keys, least recently used first. */
  readonly #variants = new Map<string, Set<string>>();
  /** While the journal is replayed, nothing is appended to it: it is rewritten after. */
  #loading = true;

  private constructor(
    private readonly store: Store,
    private readonly journal: Journal,
    maxBytes: number,
    private readonly events: IndexEvents,
  ) {
    this.#lru = new LRUCache<string, IndexEntry>({
      maxSize: maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.size),
      dispose: (entry, key, reason) => this.#forget(entry, key, reason),
    });
  }

  /** Loads the journal; cheap enough to run before the edge says it is ready. */
  static async load(store: Store, maxBytes: number, events: IndexEvents = {}): Promise<CacheIndex> {
    const { journal, state } = await Journal.load(store.dir, (error) => events.journalFailed?.(error));
    const index = new CacheIndex(store, journal, maxBytes, events);
    for (const file of state.superseded) void store.remove(file).catch(() => {});
    for (const entry of state.entries) index.set(entry);
    index.#loading = false;
    await journal.compact(() => index.entriesOldestFirst());
    return index;
  }

  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  get count(): number {
    return this.#lru.size;
  }

  /** The entry for a key, marking it recently used. */
  get(key: string): IndexEntry | undefined {
    return this.#lru.get(key);
  }

  peek(key: string): IndexEntry | undefined {
    return this.#lru.peek(key);
  }

  /** A variant's entry, marking it recently used among its primary key's variants too. */
  getVariant(key: string): IndexEntry | undefined {
    const entry = this.#lru.get(key);
    const keys = entry && this.#variants.get(primaryKey(key));
    if (keys) {
      keys.delete(key);
      keys.add(key);
    }
    return entry;
  }

  /** The header-name lists the stored variants of a primary key vary on; empty when it has none. */
  variedNames(primary: string): (readonly string[])[] {
    const keys = this.#variants.get(primary);
    if (!keys) return [];
    const seen = new Map<string, readonly string[]>();
    for (const key of keys) {
      const names = variantNames(key)!;
      seen.set(names.join(','), names);
    }
    return [...seen.values()];
  }

  /** Records a committed object; the entry it replaces is deleted with its file. */
  set(entry: IndexEntry): void {
    this.#lru.set(entry.key, entry);
    if (this.#lru.peek(entry.key) !== entry) {
      // Larger than the whole cache: never kept.
      void this.store.remove(entry.file).catch(() => {});
      return;
    }
    this.#byPath.add(entry.key);
    this.#replaceOtherForm(entry.key);
    if (this.#loading) return;
    this.journal.added(entry);
    this.#maybeCompact();
  }

  /** Drops a key and its file; true when it was there. */
  delete(key: string): boolean {
    return this.#lru.delete(key);
  }

  /** Drops a key only while it still names this file (it may have been replaced). */
  deleteIfCurrent(entry: IndexEntry): void {
    if (this.#lru.peek(entry.key) === entry) this.#lru.delete(entry.key);
  }

  keysOfPath(path: string): string[] {
    return this.#byPath.of(path);
  }

  keysWithPrefix(prefix: string): string[] {
    return this.#byPath.under(prefix);
  }

  *entriesOldestFirst(): IterableIterator<IndexEntry> {
    for (const entry of this.#lru.rvalues()) if (entry) yield entry;
  }

  /**
   * A primary key holds either one object or its variants, never both: the
   * origin's latest answer says which. A new variant drops the unvaried
   * object and, past MAX_VARIANTS, the least recently used variant; a new
   * unvaried object drops every variant.
   */
  #replaceOtherForm(key: string): void {
    const primary = primaryKey(key);
    if (primary === key) {
      const variants = this.#variants.get(key);
      if (variants) for (const variant of [...variants]) this.#lru.delete(variant);
      return;
    }
    this.#lru.delete(primary);
    let variants = this.#variants.get(primary);
    if (!variants) this.#variants.set(primary, (variants = new Set()));
    variants.delete(key);
    variants.add(key);
    if (variants.size > MAX_VARIANTS) this.#lru.delete(variants.values().next().value!);
  }

  #forget(entry: IndexEntry, key: string, reason: LRUCache.DisposeReason): void {
    // A replacement ('set') is added back by set() just after.
    this.#byPath.delete(key);
    const primary = primaryKey(key);
    const variants = this.#variants.get(primary);
    variants?.delete(key);
    if (variants?.size === 0) this.#variants.delete(primary);
    if (reason === 'evict') this.events.evicted?.(entry);
    this.events.removed?.(entry);
    if (!this.#loading) this.journal.removed(entry.file);
    void this.store.remove(entry.file).catch(() => {});
  }

  #maybeCompact(): void {
    if (this.journal.lines > 2 * this.#lru.size + 10_000) {
      void this.journal.compact(() => this.entriesOldestFirst()).catch(() => {});
    }
  }

  /**
   * Start-up recovery, run in the background once the edge is ready: files the
   * journal never heard of (a crash between rename and append) are adopted if
   * whole and removed if not; entries whose file is gone are dropped. Files
   * this process committed meanwhile are its own and left alone.
   */
  async recover(): Promise<{ adopted: number; removed: number; dropped: number }> {
    try {
      return await this.#recover();
    } finally {
      this.store.recoveryDone();
    }
  }

  async #recover(): Promise<{ adopted: number; removed: number; dropped: number }> {
    const known = new Map<string, IndexEntry>();
    for (const entry of this.#lru.values()) known.set(entry.file, entry);
    const onDisk = new Set(await this.store.listObjectFiles());
    let adopted = 0;
    let removed = 0;
    let dropped = 0;
    for (const [file, entry] of known) {
      if (!onDisk.has(file)) {
        this.deleteIfCurrent(entry);
        dropped++;
      }
    }
    for (const file of onDisk) {
      if (known.has(file) || this.store.committedHere(file)) continue;
      const hash = hashOfFileName(file);
      const found = hash ? await this.store.readMeta(file).catch(() => null) : null;
      // Committed while we read it (the fill of a key that was missing): ours.
      if (this.store.committedHere(file)) continue;
      if (!found || keyHash(found.meta.key) !== hash || this.#lru.has(found.meta.key)) {
        await this.store.remove(file);
        removed++;
        continue;
      }
      this.set({ key: found.meta.key, file, size: found.fileBytes });
      adopted++;
    }
    return { adopted, removed, dropped };
  }

  /** Writes the journal in use order, so the next start keeps the hot set. */
  async close(): Promise<void> {
    await this.journal.compact(() => this.entriesOldestFirst());
    await this.journal.close();
  }
}
