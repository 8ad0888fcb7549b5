// A body written into a response, whole or as a slice, while it may still be
// arriving. Bytes come from memory when the source holds them (the start read
// with a header, the latest chunks of a fill), else from the object file.
// Written straight into the response, not through a stream pipe: a stampede's
// waiters are answered together, and each costs only its writes. Backpressure
// is the response's: nothing is read ahead of what it takes, so a slow client
// costs a position, not memory.

/** What a writer follows: a stored object (complete) or a fill (growing). */
export interface BodySource {
  /** Body bytes that may be read now. */
  available(): number;
  /** True once `available()` is the whole body. */
  complete(): boolean;
  /** Set when the body will never be complete: the writer aborts. */
  failure(): Error | null;
  /** Resolves on the next change of available/complete/failure. */
  changed(): Promise<void>;
  /** Body bytes from `position` (up to `limit`) already in memory, or null. */
  inMemory(position: number, limit: number): Buffer | null;
  /** Reads body bytes at `position` from the file; 0 means the file ends there. */
  readFile(buf: Buffer, length: number, position: number): Promise<number>;
  /** Called once when the writer is done with the source. */
  release(): void;
}

/** Where a body goes: an HTTP response, as far as the writer needs one. */
export interface BodySink {
  write(chunk: Buffer): unknown;
  /** True from a write that filled the buffer until its 'drain'. */
  readonly writableNeedDrain: boolean;
  end(): void;
  /** Cuts the response short: the client sees a body that did not end. */
  destroy(): void;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  readonly destroyed: boolean;
}

const CHUNK_BYTES = 256 * 1024;
const FIRST_CHUNK_BYTES = 16 * 1024;

export class BodyWriter {
  #position: number;
  #released = false;

  /** Writes [start, end) of the body; end undefined means to the end, however long. */
  constructor(
    private readonly source: BodySource,
    start = 0,
    private readonly end?: number,
  ) {
    this.#position = start;
  }

  /**
   * Resolves once the first bytes can be written (or there are none to
   * write), so that until then the answer can still become an error; rejects
   * with the source's failure if the body fails before it has a byte.
   */
  async ready(): Promise<void> {
    for (;;) {
      const failure = this.source.failure();
      if (failure) throw failure;
      if (this.end !== undefined && this.#position >= this.end) return;
      if (this.source.available() > this.#position) return;
      if (this.source.complete()) {
        if (this.end === undefined) return;
        throw new Error('object ended before the requested range');
      }
      await this.source.changed();
    }
  }

  /**
   * Writes the body into `sink` and ends it; a body that fails or is shorter
   * than promised cuts the sink short. Resolves when the writer is done, with
   * the reason it cut the sink short, if it did.
   */
  async writeTo(sink: BodySink): Promise<Error | null> {
    // A sink that closes is destroyed by then (streams and Node's responses
    // alike): the close only wakes a writer that waits for a drain.
    let wake: (() => void) | null = null;
    sink.once('close', () => wake?.());
    const drained = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
        sink.once('drain', resolve);
      });
    let first = true;
    try {
      for (;;) {
        if (sink.destroyed) return null;
        const failure = this.source.failure();
        if (failure) return cut(sink, failure);
        const available = this.source.available();
        const limit = this.end === undefined ? available : Math.min(this.end, available);
        if (this.#position >= limit) {
          const finished = this.end === undefined ? this.source.complete() : this.#position >= this.end;
          if (finished) {
            sink.end();
            return null;
          }
          if (this.source.complete()) return cut(sink, new Error('object ended before the requested range'));
          await this.source.changed();
          continue;
        }
        const chunk = await this.#readChunk(first ? Math.min(limit, this.#position + FIRST_CHUNK_BYTES) : limit);
        // A sink destroyed during the read drops the write; the loop ends at its top.
        this.#position += chunk.length;
        sink.write(chunk);
        // Many writers woken by one origin chunk (a stampede) each write a
        // first few bytes before any of them writes the rest: the last
        // waiter's first byte does not wait behind everyone else's whole chunk.
        if (first) {
          first = false;
          await new Promise((resolve) => setImmediate(resolve));
        }
        // Never true of a destroyed stream or response (Node's getters say so).
        if (sink.writableNeedDrain) await drained();
      }
    } catch (error) {
      return cut(sink, error as Error);
    } finally {
      this.release();
    }
  }

  /** Lets go of the source; for a writer that will not write (its response failed first). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.source.release();
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
}

function cut(sink: BodySink, reason: Error): Error {
  sink.destroy();
  return reason;
}
