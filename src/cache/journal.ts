// index.log: the cache index as an append-only list of what was stored and
// removed, so that a restart learns every object with one sequential read
// instead of opening each file. It is a hint, never the truth: an entry whose
// file is gone is dropped when opened, and a file the journal missed (a crash
// between the rename and the append) is adopted by the start-up scan.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export interface JournalEntry {
  readonly key: string;
  readonly file: string;
  readonly size: number;
}

export interface JournalState {
  /** Live entries, oldest use first. */
  readonly entries: JournalEntry[];
  /** Files the journal names as replaced or removed whose removal may not have happened. */
  readonly superseded: string[];
  readonly lines: number;
}

/**
 * Replays index.log from its text, given in pieces as read, so that a journal
 * of millions of entries is never one string (V8 caps a string at 512 MiB).
 */
export class JournalReader {
  readonly #byKey = new Map<string, JournalEntry>();
  readonly #keyOfFile = new Map<string, string>();
  readonly #superseded = new Set<string>();
  #lines = 0;
  /** The text after the last newline so far. */
  #rest = '';

  push(text: string): void {
    const lines = (this.#rest + text).split('\n');
    this.#rest = lines.pop()!;
    for (const line of lines) this.#line(line);
  }

  /**
   * What the journal says. A last line without its newline was cut by a crash
   * mid-append: whatever it says (a key cut short is another key) it is not
   * to be trusted, and `tornTail` says it is there.
   */
  end(): JournalState & { tornTail: boolean } {
    return {
      entries: [...this.#byKey.values()],
      superseded: [...this.#superseded],
      lines: this.#lines,
      tornTail: this.#rest !== '',
    };
  }

  #line(line: string): void {
    if (!line) return;
    this.#lines++;
    if (line.startsWith('+ ')) {
      // "+ file size key": a key may hold spaces (a variant's), a file name and a size never do.
      const [file, sizeText, ...keyParts] = line.slice(2).split(' ') as [string, ...string[]];
      const size = Number(sizeText);
      const key = keyParts.join(' ');
      if (!Number.isSafeInteger(size) || size < 0 || !key.startsWith('/')) return;
      // The same file added again is live: it is taken off the superseded below.
      const previous = this.#byKey.get(key);
      if (previous) this.#superseded.add(previous.file);
      // Re-inserting moves the key to the end: journal order is use order.
      this.#byKey.delete(key);
      this.#byKey.set(key, { key, file, size });
      this.#keyOfFile.set(file, key);
      this.#superseded.delete(file);
    } else if (line.startsWith('- ')) {
      const file = line.slice(2);
      const key = this.#keyOfFile.get(file);
      if (key !== undefined && this.#byKey.get(key)?.file === file) this.#byKey.delete(key);
      this.#superseded.add(file);
    }
  }
}

export class Journal {
  #stream: fs.WriteStream;
  #lines: number;
  #compacting: Promise<void> | null = null;
  #held: string[] | null = null;

  private constructor(
    readonly file: string,
    lines: number,
    tornTail: boolean,
    private readonly failed: (error: Error) => void,
  ) {
    this.#stream = this.#open();
    this.#lines = lines;
    // Appends start on a line of their own, never glued to a torn one.
    if (tornTail) this.#stream.write('\n');
  }

  /**
   * An append stream on the file. One that fails (a full disk, a file gone
   * bad) is reported once and not written again: the journal is a hint, the
   * start-up scan adopts what it missed, and the next compaction opens a new
   * one. Unheard, its error would stop the process.
   */
  #open(): fs.WriteStream {
    const stream = fs.createWriteStream(this.file, { flags: 'a' });
    // Once: a stream is destroyed with its first 'error' and emits no other.
    stream.on('error', (error) => this.failed(error));
    return stream;
  }

  /** `failed` hears of an append stream that failed. */
  static async load(dir: string, failed: (error: Error) => void = () => {}): Promise<{ journal: Journal; state: JournalState }> {
    const file = path.join(dir, 'index.log');
    const reader = new JournalReader();
    try {
      for await (const text of fs.createReadStream(file, { encoding: 'utf8' })) reader.push(text as string);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const { tornTail, ...state } = reader.end();
    return { journal: new Journal(file, state.lines, tornTail, failed), state };
  }

  get lines(): number {
    return this.#lines;
  }

  added(entry: JournalEntry): void {
    this.#append(`+ ${entry.file} ${entry.size} ${entry.key}\n`);
  }

  removed(file: string): void {
    this.#append(`- ${file}\n`);
  }

  #append(line: string): void {
    this.#lines++;
    if (this.#held) this.#held.push(line);
    else if (!this.#stream.destroyed) this.#stream.write(line);
  }

  /**
   * Rewrites the journal as just the live entries (temp + fsync + rename).
   * Appends made meanwhile are held and written to the new file after.
   */
  compact(live: () => Iterable<JournalEntry>): Promise<void> {
    this.#compacting ??= this.#compact(live).finally(() => {
      this.#compacting = null;
    });
    return this.#compacting;
  }

  async #compact(live: () => Iterable<JournalEntry>): Promise<void> {
    this.#held = [];
    let lines = 0;
    const temp = `${this.file}.tmp`;
    try {
      const parts: string[] = [];
      for (const entry of live()) {
        parts.push(`+ ${entry.file} ${entry.size} ${entry.key}\n`);
        lines++;
      }
      const handle = await fsp.open(temp, 'w');
      try {
        await handle.writeFile(parts.join(''));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await endStream(this.#stream);
      try {
        await fsp.rename(temp, this.file);
        this.#lines = lines;
      } finally {
        this.#stream = this.#open();
      }
    } finally {
      const held = this.#held;
      this.#held = null;
      for (const line of held) this.#append(line);
    }
  }

  async close(): Promise<void> {
    await this.#compacting;
    await endStream(this.#stream);
  }
}

function endStream(stream: fs.WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    // A stream already ended, or destroyed by its failure (reported then),
    // calls back at once (with an error that says so).
    stream.once('error', reject);
    stream.end(() => resolve());
  });
}
