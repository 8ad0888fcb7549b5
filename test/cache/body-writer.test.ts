// The body writer on its own, over a source the test drives: whole bodies and
// ranges, backpressure, a sink that goes away, and a source that ends or fails
// before the bytes it promised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { BodyWriter, type BodySource } from '../../src/cache/body-writer.js';

/** A body that grows when the test says; memory holds the bytes from `memoryFrom` on, the "file" all of them. */
class Source implements BodySource {
  bytes = Buffer.alloc(0);
  done = false;
  error: Error | null = null;
  memoryFrom = Number.POSITIVE_INFINITY;
  released = 0;
  fileReads: Array<[position: number, length: number]> = [];
  #wake: (() => void) | null = null;
  available = () => this.bytes.length;
  complete = () => this.done;
  failure = () => this.error;
  changed = () => new Promise<void>((resolve) => (this.#wake = resolve));
  inMemory = (position: number, limit: number) => (position >= this.memoryFrom ? this.bytes.subarray(position, limit) : null);
  readFile = async (buf: Buffer, length: number, position: number) => {
    this.fileReads.push([position, length]);
    return this.bytes.copy(buf, 0, position, Math.min(this.bytes.length, position + length));
  };
  release = () => void this.released++;
  grow(more: Buffer | string, complete = false): void {
    this.bytes = Buffer.concat([this.bytes, Buffer.from(more)]);
    this.done = complete;
    this.#wake?.();
  }
  fail(error: Error): void {
    this.error = error;
    this.#wake?.();
  }
}

function sink(highWaterMark = 1 << 20, slow = false): Writable & { chunks: Buffer[]; ended: boolean } {
  const chunks: Buffer[] = [];
  const writable = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      if (slow) setTimeout(done, 1);
      else done();
    },
  }) as Writable & { chunks: Buffer[]; readonly ended: boolean };
  writable.chunks = chunks;
  Object.defineProperty(writable, 'ended', { get: () => writable.writableEnded });
  return writable;
}

test('a whole stored body: first a small chunk, then the rest in file-sized reads; released once', async () => {
  const source = new Source();
  source.grow(Buffer.alloc(600 * 1024, 1), true);
  const out = sink();
  assert.equal(await new BodyWriter(source).writeTo(out), null);
  assert.equal(Buffer.concat(out.chunks).length, 600 * 1024);
  assert.equal(out.chunks[0]!.length, 16 * 1024, 'the first write is small');
  assert.ok(out.chunks.slice(1).every((c) => c.length <= 256 * 1024), 'then reads of at most 256 KiB');
  assert.equal(out.ended, true);
  assert.equal(source.released, 1);
});

test('a range is written exactly; bytes in memory are taken from there, not the file', async () => {
  const source = new Source();
  source.grow('0123456789', true);
  source.memoryFrom = 5;
  const fromMemory = sink();
  assert.equal(await new BodyWriter(source, 6, 9).writeTo(fromMemory), null);
  assert.equal(Buffer.concat(fromMemory.chunks).toString(), '678');
  assert.deepEqual(source.fileReads, [], 'held in memory: the file is not read');
  const out = sink();
  assert.equal(await new BodyWriter(source, 3, 8).writeTo(out), null);
  assert.equal(Buffer.concat(out.chunks).toString(), '34567');
  assert.deepEqual(source.fileReads, [[3, 5]]);
  const empty = sink();
  assert.equal(await new BodyWriter(source, 4, 4).writeTo(empty), null);
  assert.equal(empty.chunks.length, 0);
  assert.equal(empty.ended, true);
});

test('a growing body is followed to its end; an unbounded reader waits for completion', async () => {
  const source = new Source();
  const out = sink();
  const writing = new BodyWriter(source).writeTo(out);
  source.grow('ab');
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(out.ended, false);
  source.grow('cd');
  await new Promise((resolve) => setTimeout(resolve, 5));
  source.grow('', true);
  assert.equal(await writing, null);
  assert.equal(Buffer.concat(out.chunks).toString(), 'abcd');
  assert.equal(out.ended, true);
});

test('a body that ends before the range does, or fails, cuts the sink short', async () => {
  const short = new Source();
  short.grow('abc', true);
  const out = sink();
  const cut = await new BodyWriter(short, 0, 10).writeTo(out);
  assert.match(String(cut), /ended before the requested range/);
  assert.equal(out.destroyed, true);
  assert.equal(out.ended, false);
  await assert.rejects(new BodyWriter(short, 5, 10).ready(), /ended before the requested range/);

  const failing = new Source();
  failing.grow('ab');
  const out2 = sink();
  const writing = new BodyWriter(failing).writeTo(out2);
  await new Promise((resolve) => setTimeout(resolve, 5));
  failing.fail(new Error('origin broke'));
  assert.match(String(await writing), /origin broke/);
  assert.equal(out2.destroyed, true);

  const liar = new Source();
  liar.grow('abcdef', true);
  liar.readFile = async () => 0;
  const out3 = sink();
  assert.match(String(await new BodyWriter(liar).writeTo(out3)), /shorter than its header says/);
  assert.equal(liar.released, 1);
});

test('ready: at once when bytes are there, or the range is empty, or a whole body is complete; waits otherwise', async () => {
  const source = new Source();
  let ready = false;
  const waiting = new BodyWriter(source).ready().then(() => (ready = true));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(ready, false);
  source.grow('a');
  await waiting;
  await new BodyWriter(source, 1, 1).ready();
  const empty = new Source();
  empty.grow('', true);
  await new BodyWriter(empty).ready();
  const failed = new Source();
  failed.fail(new Error('gone'));
  await assert.rejects(new BodyWriter(failed).ready(), /gone/);
});

test('a sink that needs draining is waited for; a sink that closes stops the writer, which lets go of the source', async () => {
  const source = new Source();
  source.grow(Buffer.alloc(2 * 1024 * 1024, 7), true);
  const slow = sink(1024, true);
  assert.equal(await new BodyWriter(source).writeTo(slow), null);
  assert.equal(Buffer.concat(slow.chunks).length, 2 * 1024 * 1024);

  const growing = new Source();
  growing.grow('abc');
  const out = sink();
  const writing = new BodyWriter(growing).writeTo(out);
  await new Promise((resolve) => setTimeout(resolve, 5));
  out.destroy();
  growing.grow('d');
  assert.equal(await writing, null, 'a client that left is not an error of the body');
  assert.equal(Buffer.concat(out.chunks).toString(), 'abc', 'nothing written after it left');
  assert.equal(growing.released, 1);

  const released = new Source();
  const writer = new BodyWriter(released);
  writer.release();
  writer.release();
  assert.equal(released.released, 1, 'released once however often asked');
});

test('after the first small chunk the rest goes in chunks of up to 256 KiB, not small ones', async () => {
  const source = new Source();
  source.grow(Buffer.alloc(600 * 1024, 1), true);
  const out = sink();
  assert.equal(await new BodyWriter(source).writeTo(out), null);
  assert.deepEqual(out.chunks.map((c) => c.length), [16 * 1024, 256 * 1024, 256 * 1024, 600 * 1024 - 16 * 1024 - 512 * 1024]);
});

test('a client that stops reading and then leaves: the writer waiting for a drain ends and lets go of the source', async () => {
  const source = new Source();
  source.grow(Buffer.alloc(1024 * 1024, 3), true);
  let firstWrite!: () => void;
  const wrote = new Promise<void>((resolve) => (firstWrite = resolve));
  // A sink that takes one chunk and never calls back: its buffer stays full.
  const stalled = new Writable({
    highWaterMark: 1024,
    write() {
      firstWrite();
    },
  });
  const writing = new BodyWriter(source).writeTo(stalled);
  await wrote;
  while (stalled.listenerCount('drain') === 0) await new Promise((resolve) => setImmediate(resolve));
  stalled.destroy();
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    writing,
    new Promise((resolve) => (timer = setTimeout(() => resolve('still waiting'), 5000))),
  ]);
  clearTimeout(timer);
  assert.equal(result, null);
  assert.equal(source.released, 1);
});

test('a sink destroyed by a write gets no further read of the source', async () => {
  const source = new Source();
  source.grow(Buffer.alloc(1024 * 1024, 4), true);
  const chunks: Buffer[] = [];
  const fragile = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      if (chunks.length === 2) this.destroy();
      done();
    },
  });
  assert.equal(await new BodyWriter(source).writeTo(fragile), null);
  assert.equal(chunks.length, 2);
  assert.equal(source.fileReads.length, 2, 'the writer stops at the destroyed sink, before reading more');
  assert.equal(source.released, 1);
});
