// What a BodyWriter writes, chunk by chunk, into a sink that keeps each one.
import { Writable } from 'node:stream';
import type { BodyWriter } from '../../src/cache/body-writer.js';

/** Every chunk written, and the reason the writer cut its sink short, if it did. */
export async function written(writer: BodyWriter): Promise<{ chunks: Buffer[]; cut: Error | null }> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  const cut = await writer.writeTo(sink);
  return { chunks, cut };
}
