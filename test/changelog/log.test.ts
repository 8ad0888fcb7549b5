import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ChangeLog } from '../../src/changelog/log.js';
import { tempDir } from '../helpers/edge.js';

const LIMITS = { maxAgeMs: 3600_000, maxBytes: 1024 * 1024 };

test('appends are numbered in order, durable, and read back from any sequence after a reopen', async (t) => {
  const dir = tempDir('log');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = await ChangeLog.open(dir, LIMITS);
  assert.equal(log.first, 1);
  assert.equal(log.last, 0);
  // Concurrent appends share writes but keep their order.
  const entries = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append({ op: 'put', path: `/p${i}.jpg`, etag: `"e${i}"`, tx: `t${i}` })));
  assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: 50 }, (_, i) => i + 1));
  assert.equal(log.last, 50);
  const page = await log.read(48, 10);
  assert.deepEqual(page.map((e) => [e.seq, e.path]), [[48, '/p47.jpg'], [49, '/p48.jpg'], [50, '/p49.jpg']]);
  assert.equal((page[0] as { tx?: string }).tx, undefined, 'the writer\'s tx is not served');
  const id = log.id;
  await log.close();

  const again = await ChangeLog.open(dir, LIMITS);
  t.after(() => again.close());
  assert.equal(again.id, id);
  assert.equal(again.last, 50);
  assert.equal((await again.read(1, 1000)).length, 50);
  assert.equal((await again.append({ op: 'delete', path: '/p0.jpg' })).seq, 51);
});

test('a line cut by a crash is dropped at open; a log without its id starts over with a new id', async (t) => {
  const dir = tempDir('log');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = await ChangeLog.open(dir, LIMITS);
  await log.append({ op: 'put', path: '/a.jpg', etag: '"1"' });
  const id = log.id;
  await log.close();
  const segment = fs.readdirSync(dir).find((n) => n.endsWith('.jsonl'))!;
  fs.appendFileSync(path.join(dir, segment), '{"seq":2,"op":"put","pa');
  const reopened = await ChangeLog.open(dir, LIMITS);
  assert.equal(reopened.last, 1);
  assert.equal((await reopened.append({ op: 'put', path: '/b.jpg' })).seq, 2);
  assert.deepEqual((await reopened.read(1, 10)).map((e) => e.path), ['/a.jpg', '/b.jpg']);
  await reopened.close();

  fs.rmSync(path.join(dir, 'id'));
  const reset = await ChangeLog.open(dir, LIMITS);
  t.after(() => reset.close());
  assert.notEqual(reset.id, id);
  assert.equal(reset.last, 0);
  assert.equal(reset.first, 1);
});

test('trimming drops whole old segments by size and age, and keeps the last sequence', async (t) => {
  const dir = tempDir('log');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let now = 1_000_000;
  const log = await ChangeLog.open(dir, { maxAgeMs: 60_000, maxBytes: 64 * 1024, segmentBytes: 4096, now: () => now });
  t.after(() => log.close());
  for (let i = 0; i < 2000; i++) await log.append({ op: 'put', path: `/${'x'.repeat(40)}/${i}.jpg`, etag: '"e"' });
  assert.equal(log.last, 2000);
  assert.ok(log.first > 1, `first ${log.first}`);
  const bytes = fs.readdirSync(dir).filter((n) => n.endsWith('.jsonl')).reduce((sum, n) => sum + fs.statSync(path.join(dir, n)).size, 0);
  assert.ok(bytes <= 64 * 1024 + 4096 + 200, `${bytes} bytes kept`);
  // A read from before first starts at first.
  assert.equal((await log.read(1, 1))[0]!.seq, log.first);
  // Old entries are read from disk, not only from memory.
  assert.equal((await log.read(log.first, 5)).length, 5);

  now += 120_000;
  await log.append({ op: 'put', path: '/late.jpg' });
  await log.trim();
  assert.equal(log.last, 2001);
  assert.ok(log.first > 1900, `first ${log.first} after the age trim`);
  assert.equal((await log.read(2001, 10))[0]!.path, '/late.jpg');
});

test('waitBeyond resolves on the next append, or at its timeout', async (t) => {
  const dir = tempDir('log');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = await ChangeLog.open(dir, LIMITS);
  t.after(() => log.close());
  const started = Date.now();
  await log.waitBeyond(0, 30, undefined);
  assert.ok(Date.now() - started >= 25);
  const waiting = log.waitBeyond(0, 10_000);
  await log.append({ op: 'put', path: '/a.jpg' });
  await waiting;
  assert.equal(log.last, 1);
});
