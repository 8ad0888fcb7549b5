// One fill on its own: who may join it and when, readers following the body
// as it arrives (from memory at the tip, from the file behind it), ranges,
// and failure before and after the last byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Fill, Fills, type FillHead } from '../../src/cache/fill.js';
import type { BodyWriter } from '../../src/cache/body-writer.js';
import { written } from '../helpers/body-sink.js';

function head(overrides: Partial<Extract<FillHead, { kind: 'body' }>> = {}): FillHead {
  return {
    kind: 'body', status: 200, headers: {}, size: undefined, stored: true, revalidated: false,
    lifetimeSec: 60, key: '/k', vary: null, freshUntil: 1000, ...overrides,
  };
}

/** A file to write the body into, open for reading and writing; removed after the test. */
function bodyFile(t: { after(fn: () => void): void }): { fd: number; write(bytes: Buffer, at: number): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-fill-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fd = fs.openSync(path.join(dir, 'body'), 'w+');
  return { fd, write: (bytes, at) => fs.writeSync(fd, bytes, 0, bytes.length, at) };
}

/** Everything a writer writes, and the reason it cut its sink short, if it did. */
async function drain(writer: BodyWriter): Promise<{ bytes: Buffer; cut: Error | null }> {
  const { chunks, cut } = await written(writer);
  return { bytes: Buffer.concat(chunks), cut };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('before its head anyone may join; after it, only while stored and fresh; never once settled', () => {
  const fill = new Fill();
  assert.equal(fill.joinable(1e15), true);
  fill.announce(head({ freshUntil: 1000 }));
  assert.equal(fill.joinable(999), true);
  assert.equal(fill.joinable(1000), false);
  const pass = new Fill();
  pass.announce({ kind: 'pass', reason: 'private', claim: () => null });
  assert.equal(pass.joinable(0), false);
  fill.finish();
  assert.equal(fill.settled, true);
  assert.equal(fill.joinable(0), false);
});

test('an invalidated fill is never joined again nor stored, whether its head came before or after', async () => {
  const early = new Fill();
  early.invalidate();
  assert.equal(early.invalidated, true);
  assert.equal(early.joinable(0), false);
  early.announce(head({ stored: true, freshUntil: 5000 }));
  const announced = await early.head;
  assert.equal(announced.kind === 'body' && announced.stored, false);
  assert.equal(announced.kind === 'body' && announced.freshUntil, Number.NEGATIVE_INFINITY);
  assert.equal(early.joinable(0), false);

  const late = new Fill();
  late.announce(head({ stored: true, size: 1 }));
  late.received(Buffer.from('x'));
  assert.equal(late.committing, true);
  late.invalidate();
  assert.equal(late.committing, false, 'no longer being stored');
  assert.equal(late.joinable(0), false);
});

test('bodyComplete: every byte of a known length arrived, or the writer said complete', () => {
  const known = new Fill();
  known.announce(head({ size: 3 }));
  assert.equal(known.bodyComplete, false);
  known.received(Buffer.from('ab'));
  assert.equal(known.bodyComplete, false);
  known.received(Buffer.from('c'));
  assert.equal(known.bodyComplete, true);
  assert.equal(known.committing, true);
  known.finish();
  assert.equal(known.committing, false, 'committed');

  const unknown = new Fill();
  unknown.announce(head({ size: undefined, stored: false }));
  unknown.received(Buffer.from('abc'));
  assert.equal(unknown.bodyComplete, false);
  assert.equal(unknown.committing, false);
  unknown.complete();
  assert.equal(unknown.bodyComplete, true);
  assert.equal(unknown.committing, false, 'not stored: nothing to commit');
  assert.equal(unknown.settled, false);
});

test('readers follow the body as it arrives, whole or as a range, joined early or late', async (t) => {
  const file = bodyFile(t);
  const fill = new Fill();
  fill.announce(head({ size: 6 }));
  fill.attach(file.fd, 0);
  const early = drain(fill.body());
  const range = drain(fill.body(2, 5));
  let written = 0;
  for (const part of ['ab', 'cd', 'ef']) {
    const chunk = Buffer.from(part);
    fill.received(chunk);
    file.write(chunk, written);
    written += chunk.length;
    fill.written(written);
    await tick();
  }
  const late = drain(fill.body(1));
  fill.finish();
  fill.releaseWriter();
  assert.deepEqual((await early).bytes.toString(), 'abcdef');
  assert.deepEqual((await range).bytes.toString(), 'cde');
  assert.deepEqual((await late).bytes.toString(), 'bcdef');
  await fill.done;
});

test('past the memory budget the oldest written chunks go and readers behind the tip read the file', async (t) => {
  const file = bodyFile(t);
  const fill = new Fill();
  const chunk = (n: number) => Buffer.alloc(512 * 1024, n);
  fill.announce(head({ size: 4 * 512 * 1024 }));
  fill.attach(file.fd, 100);
  let at = 0;
  for (let n = 1; n <= 4; n++) {
    const bytes = chunk(n);
    fill.received(bytes);
    file.write(bytes, 100 + at);
    at += bytes.length;
    fill.written(at);
  }
  fill.finish();
  const whole = await drain(fill.body());
  assert.equal(whole.cut, null);
  assert.deepEqual(whole.bytes, Buffer.concat([chunk(1), chunk(2), chunk(3), chunk(4)]), 'the start from the file, at its body offset');
  const tail = await drain(fill.body(3 * 512 * 1024 + 10));
  assert.deepEqual(tail.bytes, chunk(4).subarray(10));
  fill.releaseWriter();
});

test('bytes not yet written stay in memory however many there are', async () => {
  const fill = new Fill();
  fill.announce(head({ size: 3 * 1024 * 1024 }));
  const reader = drain(fill.body());
  for (let n = 1; n <= 3; n++) fill.received(Buffer.alloc(1024 * 1024, n));
  fill.written(0);
  fill.complete();
  const got = await reader;
  assert.equal(got.cut, null);
  assert.equal(got.bytes.length, 3 * 1024 * 1024);
  assert.equal(got.bytes[2 * 1024 * 1024 + 5], 3);
});

test('a fill that fails before its last byte fails its head and cuts every reader; after it, readers are whole', async () => {
  const before = new Fill();
  const reading = before.body();
  before.fail(new Error('origin went away'));
  await assert.rejects(before.head, /origin went away/);
  await assert.rejects(before.done, /origin went away/);
  assert.equal(before.settled, true);
  await assert.rejects(reading.ready(), /origin went away/);
  assert.match(String((await drain(before.body())).cut), /origin went away/);

  const partway = new Fill();
  partway.announce(head({ size: 10 }));
  partway.received(Buffer.from('abc'));
  const cut = drain(partway.body());
  await tick();
  partway.fail(new Error('broken'));
  const got = await cut;
  assert.match(String(got.cut), /broken/);
  assert.equal(got.bytes.toString(), 'abc');

  const after = new Fill();
  after.announce(head({ size: 3 }));
  after.received(Buffer.from('xyz'));
  after.complete();
  after.fail(new Error('commit failed'));
  await assert.rejects(after.done, /commit failed/);
  assert.equal((await drain(after.body())).bytes.toString(), 'xyz', 'readers still get the whole body');
});

test('a body already on disk (a 304 refresh) is read from the file', async (t) => {
  const file = bodyFile(t);
  file.write(Buffer.from('HEADstored body'), 0);
  const fill = new Fill();
  fill.attach(file.fd, 4);
  fill.stored(11);
  fill.announce(head({ size: 11, revalidated: true }));
  fill.finish();
  assert.equal((await drain(fill.body())).bytes.toString(), 'stored body');
  assert.equal((await drain(fill.body(7, 11))).bytes.toString(), 'body');
  fill.releaseWriter();
});

test('the file closes when the writer and the last reader are done, not before', async (t) => {
  const file = bodyFile(t);
  file.write(Buffer.from('abc'), 0);
  const fill = new Fill();
  fill.attach(file.fd, 0);
  fill.stored(3);
  fill.announce(head({ size: 3 }));
  fill.finish();
  const reader = fill.body();
  fill.releaseWriter();
  assert.doesNotThrow(() => fs.fstatSync(file.fd), 'open while a reader holds it');
  assert.equal((await drain(reader)).bytes.toString(), 'abc');
  // Closed on the thread pool: waited for, within a bound.
  for (let i = 0; i < 200; i++) {
    try {
      fs.fstatSync(file.fd);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail('the fd was never closed');
});

test('Fills: one fill per key while joinable; forgotten once settled; invalidate and abort by key', async () => {
  const fills = new Fills();
  const started: Fill[] = [];
  const a = fills.join('/a', 0, (f) => started.push(f));
  assert.equal(a.joined, false);
  assert.equal(started.length, 1);
  const again = fills.join('/a', 0, () => assert.fail('joined, not started'));
  assert.equal(again.joined, true);
  assert.equal(again.fill, a.fill);
  assert.equal(fills.running('/a'), a.fill);
  const b = fills.join('/b', 0, (f) => started.push(f));
  assert.equal(fills.size, 2);

  a.fill.announce(head({ freshUntil: 10 }));
  const stale = fills.join('/a', 10, (f) => started.push(f));
  assert.equal(stale.joined, false, 'not fresh at 10: a new fill');
  assert.notEqual(stale.fill, a.fill);
  a.fill.finish();
  await tick();
  assert.equal(fills.running('/a'), stale.fill, 'the old one settling does not forget the new one');

  let aborted = 0;
  b.fill.abort.signal.addEventListener('abort', () => aborted++);
  stale.fill.abort.signal.addEventListener('abort', () => aborted++);
  fills.abortAll();
  assert.equal(aborted, 2);

  assert.equal(fills.invalidate((key) => key === '/b'), 1);
  assert.equal(b.fill.invalidated, true);
  assert.equal(stale.fill.invalidated, false);
  assert.equal(fills.running('/b'), undefined);
  assert.equal(fills.size, 1);

  const settled = fills.settled();
  stale.fill.fail(new Error('x'));
  await settled;
  await tick();
  assert.equal(fills.size, 0, 'forgotten once settled');
});

test('the memory budget exactly: 1 MiB of written chunks is kept, the oldest beyond it go, and never the last one', async (t) => {
  const file = bodyFile(t);
  const KiB = 1024;
  const chunk = (n: number) => Buffer.alloc(512 * KiB, n);
  const fill = new Fill();
  fill.announce(head({ size: 3 * 512 * KiB }));
  fill.attach(file.fd, 0);
  for (let n = 1; n <= 3; n++) fill.received(chunk(n));
  // Only chunk 1 and 8 KiB of chunk 2 are on disk; what the file holds past that is not the body.
  file.write(Buffer.concat([chunk(1), chunk(2).subarray(0, 8 * KiB)]), 0);
  file.write(Buffer.alloc(3 * 512 * KiB - 520 * KiB, 0xee), 520 * KiB);
  fill.written(511 * KiB);
  assert.ok(fill.wholeBody(), 'over the budget, but chunk 1 is not all on disk yet: kept');
  fill.written(512 * KiB);
  assert.equal(fill.wholeBody(), null, 'chunk 1 all on disk: it goes');
  fill.written(520 * KiB);
  // From inside chunk 1 the reader reads the file up to where the disk ends, then memory.
  const behind = drain(fill.body(400 * KiB, 3 * 512 * KiB));
  assert.deepEqual((await behind).bytes, Buffer.concat([chunk(1), chunk(2), chunk(3)]).subarray(400 * KiB));
  fill.finish();
  fill.releaseWriter();

  // One chunk over the budget by itself is kept: it is the tip.
  const big = new Fill();
  big.announce(head({ size: 1536 * KiB }));
  big.attach(bodyFile(t).fd, 0);
  big.received(Buffer.alloc(1536 * KiB, 5));
  big.written(1536 * KiB);
  assert.ok(big.wholeBody());
  // Two chunks that make exactly the budget are both kept.
  const exact = new Fill();
  exact.announce(head({ size: 1024 * KiB }));
  exact.attach(bodyFile(t).fd, 0);
  exact.received(chunk(1));
  exact.received(chunk(2));
  exact.written(1024 * KiB);
  assert.ok(exact.wholeBody());
  // One byte more and chunk 1 goes, and only chunk 1. (The file holds other
  // bytes than the fill received, so what is read from memory shows.)
  const more = new Fill();
  const moreFile = bodyFile(t);
  more.announce(head({ size: 1024 * KiB + 1 }));
  more.attach(moreFile.fd, 0);
  moreFile.write(Buffer.alloc(1024 * KiB + 1, 0xee), 0);
  for (const bytes of [chunk(1), chunk(2), Buffer.from([3])]) more.received(bytes);
  more.written(1024 * KiB + 1);
  assert.equal(more.wholeBody(), null);
  const tip = drain(more.body(512 * KiB, 1024 * KiB + 1));
  assert.deepEqual((await tip).bytes, Buffer.concat([chunk(2), Buffer.from([3])]));
  more.finish();
  more.releaseWriter();
});
