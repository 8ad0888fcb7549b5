// A source answer's whole body in memory, up to a limit: what sharp decodes.
// A body that outgrows the limit is let go of at once, never read to its end.
import type { Readable } from 'node:stream';
import type { Answer } from '../cache/answer.js';
import { BodyWriter, type BodySink } from '../cache/body-writer.js';
import { ImageTooLarge } from '../errors.js';

function tooLarge(max: number): ImageTooLarge {
  return new ImageTooLarge(`the source is over ${max} bytes`);
}

export async function answerBytes(answer: Answer, max: number): Promise<Buffer> {
  if (answer.size !== undefined && answer.size > max) {
    answer.discard();
    throw tooLarge(max);
  }
  const body = answer.body();
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof BodyWriter) return fromWriter(body, max);
  return fromStream(body, max);
}

async function fromStream(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > max) throw tooLarge(max);
      chunks.push(chunk);
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks, bytes);
}

async function fromWriter(writer: BodyWriter, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let over = false;
  let closeListener: (() => void) | null = null;
  const sink: BodySink & { destroyed: boolean } = {
    destroyed: false,
    writableNeedDrain: false,
    write(chunk) {
      bytes += chunk.length;
      if (bytes > max) {
        over = true;
        this.destroy();
        return false;
      }
      chunks.push(chunk);
      return true;
    },
    end() {},
    destroy() {
      this.destroyed = true;
      closeListener?.();
    },
    once(event, listener) {
      if (event === 'close') closeListener = listener;
      return this;
    },
  };
  const broken = await writer.writeTo(sink);
  if (over) throw tooLarge(max);
  if (broken) throw broken;
  return Buffer.concat(chunks, bytes);
}
