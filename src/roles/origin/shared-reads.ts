// One read of a bucket object shared by the edges that ask for it: while it
// is under way, and for a while after in memory. Edges of every IDC miss on
// the same objects (a new version, a cold start), each IDC once; without this
// the origin reads each version from the bucket once per IDC.
//
// Sharing is safe only with what the asker knows: an edge that has applied
// an overwrite's entry must not get bytes read before that entry was applied
// here. So each read is dropped from here when an entry that names its object
// is applied (a read under way goes on for those who joined it, but no one
// else joins it), and a request is answered from here only once this replica
// has applied the change log as far as the edge says it has (change-tail.ts).
// Because the origin stores a version in the bucket before it appends the
// entry, a read begun after an entry was applied holds that version or a
// newer one.
import { Readable } from 'node:stream';
import type { VersionHead } from './answer.js';

/** A bucket object's body read once, at the bucket's pace, handed to any number of readers. */
export class SharedBody {
  readonly #chunks: Buffer[] = [];
  readonly #waiting: (() => void)[] = [];
  #bytes = 0;
  #complete = false;
  #error: Error | null = null;
  /** Settles when the whole body is in memory; rejects when it could not be read whole. */
  readonly read: Promise<void>;

  /** When the bucket answered (performance.now()), for the answer's Age. */
  readonly answeredAt = performance.now();

  constructor(
    readonly version: VersionHead,
    source: Readable,
  ) {
    this.read = new Promise<void>((resolve, reject) => {
      source.on('data', (chunk: Buffer) => {
        this.#chunks.push(chunk);
        this.#bytes += chunk.length;
        this.#wake();
      });
      source.once('end', () => {
        if (this.#bytes === version.size) {
          this.#complete = true;
          resolve();
        } else this.#fail(new Error(`the bucket's answer ended after ${this.#bytes} of ${version.size} bytes`), reject);
      });
      source.once('error', (error) => this.#fail(error, reject));
    });
  }

  #fail(error: Error, reject: (error: Error) => void): void {
    this.#error ??= error;
    reject(this.#error);
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }

  /** The body from its first byte, as fast as it is read from the bucket and taken by the consumer. */
  reader(): Readable {
    return Readable.from(this.#chunksFromStart(), { objectMode: false });
  }

  async *#chunksFromStart(): AsyncGenerator<Buffer> {
    for (let next = 0; ; next++) {
      while (next >= this.#chunks.length) {
        if (this.#error) throw this.#error;
        if (this.#complete) return;
        await new Promise<void>((resolve) => this.#waiting.push(resolve));
      }
      yield this.#chunks[next]!;
    }
  }
}

export interface SharedReadLimits {
  /** Bodies held at once, read or being read. */
  readonly maxBytes: number;
  /** Larger objects are read for each request alone. */
  readonly maxObjectBytes: number;
}

interface Held {
  /** Null when the read gave nothing to share (too large, not found, failed). */
  readonly body: Promise<SharedBody | null>;
  /** The body once the bucket has answered, counted in the limit from then. */
  answered?: SharedBody;
}

/** Reads by the path an entry names, the least recently asked dropped first beyond the limit. */
export class SharedReads {
  readonly #held = new Map<string, Held>();
  #bytes = 0;

  constructor(readonly limits: SharedReadLimits) {}

  /**
   * The read of this key under way or held, if any, and answered by the
   * bucket at most maxAgeMs ago: counted as a use.
   */
  find(key: string, maxAgeMs: number): Promise<SharedBody | null> | undefined {
    const held = this.#held.get(key);
    if (!held) return undefined;
    if (held.answered && performance.now() - held.answered.answeredAt > maxAgeMs) {
      this.drop(key);
      return undefined;
    }
    this.#held.delete(key);
    this.#held.set(key, held);
    return held.body;
  }

  /** Offers a read begun just now to the requests that come after it. */
  begin(key: string, body: Promise<SharedBody | null>): void {
    this.drop(key);
    const held: Held = { body };
    this.#held.set(key, held);
    const forget = () => {
      if (this.#held.get(key) === held) this.drop(key);
    };
    body.then(
      (shared) => {
        if (!shared) return forget();
        shared.read.catch(forget);
        if (this.#held.get(key) !== held) return;
        held.answered = shared;
        this.#bytes += shared.version.size;
        for (const [oldest] of this.#held) {
          if (this.#bytes <= this.limits.maxBytes) break;
          this.drop(oldest);
        }
      },
      forget,
    );
  }

  drop(key: string): void {
    const held = this.#held.get(key);
    if (!held) return;
    this.#held.delete(key);
    this.#bytes -= held.answered?.version.size ?? 0;
  }

  dropWhere(matches: (key: string) => boolean): void {
    for (const key of [...this.#held.keys()]) if (matches(key)) this.drop(key);
  }

  clear(): void {
    this.#held.clear();
    this.#bytes = 0;
  }

  /** Held bodies' bytes (what the limit counts). */
  get bytes(): number {
    return this.#bytes;
  }
}
