// What a hit is answered from: an index entry's file opened (or dropped when
// it is gone, damaged or another key's), a small body read whole, and an
// answer from an open object file, whose fd is closed exactly once whatever
// the HTTP layer does with it. Real store and index in a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Store, CorruptObject, FIRST_READ_BYTES, closeFd, type ObjectMeta, type OpenObject } from '../../src/cache/store.js';
import { CacheIndex } from '../../src/cache/index.js';
import { keyHash, objectFileName } from '../../src/cache/key.js';
import { openEntry, passAnswer, readWhole, releaseCopy, storedAnswer, type Answer, type StoredCopy } from '../../src/cache/answer.js';
import { BodyWriter } from '../../src/cache/body-writer.js';
import { storedHeaders } from '../../src/cache/stored-headers.js';
import { policyFor } from '../../src/http/freshness.js';
import { written } from '../helpers/body-sink.js';

type T = { after(fn: () => unknown): void };
const NOW = Date.parse('2026-06-01T00:00:00Z');

async function storage(t: T): Promise<{ store: Store; index: CacheIndex; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-answer-'));
  const store = await Store.open(dir);
  const index = await CacheIndex.load(store, 1 << 30);
  t.after(async () => {
    await index.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { store, index, dir };
}

function metaFor(key: string, bodyBytes: number): ObjectMeta {
  const headers = { 'content-type': 'image/jpeg', etag: '"v1"', 'cache-control': 'max-age=60' };
  const policy = policyFor({ url: key, method: 'GET', headers: {} }, { status: 200, headers }, NOW).toObject();
  return JSON.parse(JSON.stringify({ v: 1, key, status: 200, lifetimeSec: 60, policy, bodyBytes })) as ObjectMeta;
}

/** Commits an object as a fill does and records it in the index. */
async function put(store: Store, index: CacheIndex, key: string, body: Buffer): Promise<string> {
  const temp = await store.createTemp();
  const file = objectFileName(keyHash(key));
  try {
    temp.reserveHeader({ ...metaFor(key, 0) });
    await temp.writeBody(body, 0);
    await temp.commit(metaFor(key, body.length), file);
  } finally {
    await closeFd(temp.fd);
  }
  index.set({ key, file, size: body.length });
  return file;
}

function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** Waits (bounded) until the fd is closed: closing runs in the background. */
async function closed(fd: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (isOpen(fd)) {
    if (Date.now() > deadline) assert.fail(`fd ${fd} is still open`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Lets fs work queued before this call be taken up by the thread pool and finish. */
async function fsQueueDrained(dir: string): Promise<void> {
  for (let round = 0; round < 2; round++) await Promise.all(Array.from({ length: 16 }, () => fsp.stat(dir)));
}

function onDisk(object: OpenObject): StoredCopy {
  return { ...object, headers: storedHeaders(object.meta) };
}

test('openEntry opens an entry whose file holds its key; a file gone, damaged or holding another key drops the entry', async (t) => {
  const { store, index } = await storage(t);
  const body = randomBytes(500);
  const file = await put(store, index, '/a.jpg', body);
  const entry = index.peek('/a.jpg')!;
  const object = await openEntry(store, index, entry);
  assert.ok(object);
  assert.equal(object.meta.key, '/a.jpg');
  assert.ok(object.prefix.equals(body));
  await closeFd(object.fd);

  // An entry naming the file of another key: not trusted, dropped, the file closed.
  const wrong = { key: '/b.jpg', file, size: body.length };
  index.set(wrong);
  const fds = fs.readdirSync('/proc/self/fd').length;
  assert.equal(await openEntry(store, index, wrong), null);
  assert.equal(index.peek('/b.jpg'), undefined);
  const deadline = Date.now() + 5000;
  while (fs.readdirSync('/proc/self/fd').length > fds) {
    if (Date.now() > deadline) assert.fail('the file of another key is left open');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }

  const gone = { key: '/gone.jpg', file: objectFileName(keyHash('/gone.jpg')), size: 1 };
  index.set(gone);
  assert.equal(await openEntry(store, index, gone), null);
  assert.equal(index.peek('/gone.jpg'), undefined);

  const damaged = { key: '/damaged.jpg', file: objectFileName(keyHash('/damaged.jpg')), size: 9 };
  fs.writeFileSync(path.join(store.objectsDir, damaged.file), 'not ours!');
  index.set(damaged);
  assert.equal(await openEntry(store, index, damaged), null);
  assert.equal(index.peek('/damaged.jpg'), undefined);
  assert.ok(index.peek('/a.jpg'), 'the others stay');
});

test('openEntry passes on an error that is not about the file (a dir where the file should be) and keeps the entry', async (t) => {
  const { store, index } = await storage(t);
  const entry = { key: '/dir.jpg', file: keyHash('/dir.jpg').slice(0, 2), size: 1 };
  index.set(entry);
  await assert.rejects(openEntry(store, index, entry), (error: NodeJS.ErrnoException) => error.code === 'EISDIR');
  assert.equal(index.peek('/dir.jpg'), entry);
});

test('readWhole reads past the first read; a file shorter than its header says is a CorruptObject', async (t) => {
  const { store, index } = await storage(t);
  const body = randomBytes(3 * FIRST_READ_BYTES + 7);
  const file = await put(store, index, '/big.jpg', body);
  const whole = await store.openObject(file);
  t.after(() => closeFd(whole.fd));
  assert.ok(whole.prefix.length < body.length);
  assert.ok((await readWhole(whole)).equals(body));

  const small = await store.openObject(await put(store, index, '/small.jpg', Buffer.from('tiny')));
  t.after(() => closeFd(small.fd));
  assert.ok((await readWhole(small)).equals(Buffer.from('tiny')));

  const cut = await store.openObject(file);
  t.after(() => closeFd(cut.fd));
  fs.truncateSync(path.join(store.objectsDir, file), cut.bodyOffset + body.length - 1000);
  await assert.rejects(readWhole(cut), (error: unknown) => error instanceof CorruptObject && error.message === 'short body');
});

test('an answer from disk: a body within the first read is a Buffer, and the file is closed at once', async (t) => {
  const { store, index } = await storage(t);
  const body = randomBytes(1000);
  const file = await put(store, index, '/s.jpg', body);
  for (const [start, end] of [[undefined, undefined], [10, 1000], [0, 1]] as const) {
    const object = await store.openObject(file);
    const answer = storedAnswer(onDisk(object), 1.7, { hit: true });
    assert.equal(answer.age, 1, 'whole seconds');
    assert.equal(answer.size, 1000);
    const got = answer.body(start, end);
    assert.ok(Buffer.isBuffer(got), `[${start}, ${end})`);
    assert.ok(got.equals(body.subarray(start ?? 0, end ?? 1000)));
    await closed(object.fd);
  }
});

test('an answer from disk past the first read: bytes from memory then the file, a short first chunk, the file closed after', async (t) => {
  const { store, index } = await storage(t);
  const body = randomBytes(5 * FIRST_READ_BYTES);
  const file = await put(store, index, '/l.jpg', body);
  for (const [start, end] of [[0, body.length], [100, 3 * FIRST_READ_BYTES], [2 * FIRST_READ_BYTES, body.length]] as const) {
    const object = await store.openObject(file);
    const answer = storedAnswer(onDisk(object), 0, { hit: true });
    const writer = answer.body(start, end);
    assert.ok(writer instanceof BodyWriter);
    const { chunks, cut } = await written(writer);
    assert.equal(cut, null);
    assert.ok(Buffer.concat(chunks).equals(body.subarray(start, end)), `[${start}, ${end})`);
    assert.equal(chunks[0]!.length, 16 * 1024, 'the first chunk is short, from memory or not');
    await closed(object.fd);
  }
});

test('an answer from disk: discard closes the file once; a discard after body() leaves the writer its file', async (t) => {
  const { store, index, dir } = await storage(t);
  const file = await put(store, index, '/d.jpg', randomBytes(100));
  const object = await store.openObject(file);
  const answer = storedAnswer(onDisk(object), 0, { hit: true });
  answer.discard();
  await closed(object.fd);
  // The fd's number is taken by the next file opened: a second close would close that one.
  const held: number[] = [];
  t.after(() => held.forEach((fd) => fs.closeSync(fd)));
  while (held.at(-1) !== object.fd && held.length < 100) held.push(fs.openSync(path.join(store.objectsDir, file), 'r'));
  assert.equal(held.at(-1), object.fd);
  answer.discard();
  await fsQueueDrained(dir);
  assert.ok(isOpen(object.fd), 'the number, reused, is not closed again');

  const large = randomBytes(3 * FIRST_READ_BYTES);
  const largeObject = await store.openObject(await put(store, index, '/late.jpg', large));
  const late = storedAnswer(onDisk(largeObject), 0, { hit: true });
  const writer = late.body() as BodyWriter;
  late.discard();
  await fsQueueDrained(dir);
  const { chunks, cut } = await written(writer);
  assert.equal(cut, null);
  assert.ok(Buffer.concat(chunks).equals(large));
  await closed(largeObject.fd);
});

test('releaseCopy closes a copy on disk', async (t) => {
  const { store, index } = await storage(t);
  const object = await store.openObject(await put(store, index, '/r.jpg', Buffer.from('r')));
  releaseCopy(onDisk(object));
  await closed(object.fd);
});

test('an answer passed through: the origin body as it comes, and discard destroys it', () => {
  const make = () => Readable.from([Buffer.from('abc')]);
  const body = make();
  const answer: Answer = passAnswer(
    { status: 200, headers: { 'content-type': 'image/jpeg', 'content-length': '3' }, body, setCookie: ['a=1'] },
    { fwd: 'bypass', passed: true },
  );
  assert.equal(answer.size, 3);
  assert.equal(answer.rangeable, false);
  assert.equal(answer.age, undefined);
  assert.deepEqual(answer.setCookie, ['a=1']);
  assert.equal(answer.body(), body);
  const dropped = make();
  passAnswer({ status: 200, headers: {}, body: dropped }, { fwd: 'bypass' }).discard();
  assert.equal(dropped.destroyed, true);
});
