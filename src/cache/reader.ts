// A body read whole or as a slice, while it may still be arriving. Bytes come
// from memory when the source holds them (the start read with a header, the
// latest chunks of a fill), else from the object file. Backpressure is the
// consumer's: nothing is read ahead of what it takes, so a slow client costs
// a position, not memory.
import { Readable } from 'node:stream';

/** What a reader follows: a stored object (complete) or a fill (growing). */
export interface BodySource {
  /** Body bytes that may be read now. */
  available(): number;
  /** True once `available()` is the whole body. */
  complete(): boolean;
  /** Set when the body will never be complete: the reader aborts. */
  failure(): Error | null;
  /** Resolves on the next change of available/complete/failure. */
  changed(): Promise<void>;
  /** Body bytes from `position` (up to `limit`) already in memory, or null. */
  inMemory(position: number, limit: number): Buffer | null;
  /** Reads body bytes at `position` from the file; 0 means the file ends there. */
  readFile(buf: Buffer, length: number, position: number): Promise<number>;
  /** Called once when the reader is done with the source. */
  release(): void;
}

const CHUNK_BYTES = 256 * 1024;
const FIRST_CHUNK_BYTES = 16 * 1024;

export class BodyReader extends Readable {
  #position: number;
  #reading = false;
  #released = false;
  #started = false;

  /** Reads [start, end) of the body; end undefined means to the end, however long. */
  constructor(
    private readonly source: BodySource,
    start = 0,
    private readonly end?: number,
  ) {
    super({ highWaterMark: CHUNK_BYTES });
    this.#position = start;
  }

  override _read(): void {
    if (!this.#reading) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#reading = true;
    try {
      for (;;) {
        if (this.destroyed) return;
        const failure = this.source.failure();
        if (failure) {
          this.destroy(failure);
          return;
        }
        const available = this.source.available();
        const limit = this.end === undefined ? available : Math.min(this.end, available);
        if (this.#position >= limit) {
          const finished = this.end === undefined ? this.source.complete() : this.#position >= this.end;
          if (finished) {
            this.push(null);
            return;
          }
          if (this.source.complete()) {
            this.destroy(new Error('object ended before the requested range'));
            return;
          }
          await this.source.changed();
          continue;
        }
        const first = !this.#started;
        this.#started = true;
        const chunk = await this.#readChunk(first ? Math.min(limit, this.#position + FIRST_CHUNK_BYTES) : limit);
        if (this.destroyed) return;
        this.#position += chunk.length;
        if (!this.push(chunk)) return;
        // Many readers woken by one origin chunk (a stampede) each get a first
        // few bytes before any of them gets the rest: the last waiter's first
        // byte does not wait behind everyone else's whole chunk.
        if (first) await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      this.destroy(error as Error);
    } finally {
      this.#reading = false;
    }
  }

  async #readChunk(limit: number): Promise<Buffer> {
    const held = this.source.inMemory(this.#position, limit);
    if (held) return held;
    const length = Math.min(CHUNK_BYTES, limit - this.#position);
    const buf = Buffer.allocUnsafe(length);
    const bytesRead = await this.source.readFile(buf, length, this.#position);
    if (bytesRead === 0) throw new Error('object file is shorter than its header says');
    return buf.subarray(0, bytesRead);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#released) {
      this.#released = true;
      this.source.release();
    }
    callback(error);
  }
}
