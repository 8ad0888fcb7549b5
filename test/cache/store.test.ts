// Object files on disk: header + body written through tmp/, read back, and
// anything damaged refused as CorruptObject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Store, CorruptObject, parseHeader, closeFd, readInto, FIRST_READ_BYTES, type ObjectMeta } from '../../src/cache/store.js';
import { keyHash, objectFileName } from '../../src/cache/key.js';
import { policyFor } from '../../src/http/freshness.js';

/** Any code point, lone surrogates included (cheaper to build than fast-check's 'binary' unit). */
const anyChar = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));
const NOW = Date.parse('2024-03-01T12:00:00Z');

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-store-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function metaFor(key: string, bodyBytes: number, extraHeaders: Record<string, string> = {}): ObjectMeta {
  const headers = { 'content-type': 'image/jpeg', etag: '"v1"', 'cache-control': 'max-age=60', ...extraHeaders };
  const policy = policyFor({ url: key, method: 'GET', headers: {} }, { status: 200, headers }, NOW).toObject();
  // As stored: JSON, so fields that are undefined are not there.
  return JSON.parse(JSON.stringify({ v: 1, key, status: 200, lifetimeSec: 60, policy, bodyBytes })) as ObjectMeta;
}

/** Writes an object the way a fill does: begin with no body, write chunks, commit the final meta. */
async function writeObject(store: Store, meta: ObjectMeta, body: Buffer, chunk = 16 * 1024): Promise<string> {
  const temp = await store.createTemp();
  try {
    temp.reserveHeader({ ...meta, bodyBytes: 0 });
    for (let at = 0; at < body.length; at += chunk) await temp.writeBody(body.subarray(at, at + chunk), at);
    const file = objectFileName(keyHash(meta.key));
    await temp.commit(meta, file);
    return file;
  } finally {
    await closeFd(temp.fd);
  }
}

/** The whole body of an open object: the prefix already read, then the rest from the fd. */
async function readBody(store: Store, file: string): Promise<{ meta: ObjectMeta; body: Buffer }> {
  const object = await store.openObject(file);
  try {
    const rest = Buffer.alloc(object.meta.bodyBytes - object.prefix.length);
    let at = 0;
    while (at < rest.length) {
      const n = await readInto(object.fd, rest.subarray(at), rest.length - at, object.bodyOffset + object.prefix.length + at);
      assert.ok(n > 0, 'file ended early');
      at += n;
    }
    return { meta: object.meta, body: Buffer.concat([object.prefix, rest]) };
  } finally {
    await closeFd(object.fd);
  }
}

function openFds(): number | undefined {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

test('Store.open makes objects/ and tmp/, and empties tmp/ of what a crash left', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'tmp', 'nested'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'tmp', 'half-written'), 'partial');
  fs.writeFileSync(path.join(dir, 'tmp', 'nested', 'x'), 'partial');
  fs.mkdirSync(path.join(dir, 'objects', 'ab'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'objects', 'ab', 'kept'), 'kept');
  const store = await Store.open(dir);
  assert.equal(store.dir, path.resolve(dir));
  assert.deepEqual(fs.readdirSync(store.tmpDir), []);
  assert.equal(fs.readFileSync(path.join(store.objectsDir, 'ab', 'kept'), 'utf8'), 'kept', 'objects/ is left alone');
  const fanOut = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
  assert.deepEqual(fs.readdirSync(store.objectsDir).sort(), fanOut, 'one dir for each first byte of a hash, two hex digits');
  // Opening a fresh directory works too, and twice in a row.
  const fresh = path.join(dir, 'fresh', 'cache');
  await Store.open(fresh);
  await Store.open(fresh);
  assert.ok(fs.statSync(path.join(fresh, 'objects')).isDirectory());
  assert.ok(fs.statSync(path.join(fresh, 'tmp')).isDirectory());
});

test('an object round-trips: meta and body, small, empty, large and with a header over the first read', async (t) => {
  const store = await Store.open(tempDir(t));
  const cases: [label: string, meta: ObjectMeta, body: Buffer][] = [
    ['small', metaFor('/a.jpg', 5), Buffer.from('hello')],
    ['empty', metaFor('/empty.jpg', 0), Buffer.alloc(0)],
    ['unicode key', metaFor('/caf%C3%A9.jpg?w=200&format=webp', 3), Buffer.from([0, 255, 10])],
    ['exactly the first read', metaFor('/first.bin', FIRST_READ_BYTES), randomBytes(FIRST_READ_BYTES)],
    ['large', metaFor('/large.bin', 300_001), randomBytes(300_001)],
    ['huge header', metaFor('/h.jpg', 1000, { 'x-big': 'x'.repeat(FIRST_READ_BYTES + 5000) }), randomBytes(1000)],
  ];
  for (const [label, meta, body] of cases) {
    const file = await writeObject(store, meta, body);
    const read = await readBody(store, file);
    assert.deepEqual(read.meta, meta, label);
    assert.ok(read.body.equals(body), label);
    const { meta: onlyMeta, fileBytes } = await store.readMeta(file);
    assert.deepEqual(onlyMeta, meta, label);
    assert.equal(fileBytes, fs.statSync(path.join(store.objectsDir, file)).size, label);
  }
  assert.deepEqual(fs.readdirSync(store.tmpDir), [], 'commit moves the temp file out of tmp/');
  assert.equal((await store.listObjectFiles()).length, cases.length);
});

test('the prefix holds the first body bytes, at most what the first read got', async (t) => {
  const store = await Store.open(tempDir(t));
  const small = randomBytes(1000);
  const smallFile = await writeObject(store, metaFor('/s', small.length), small);
  const large = randomBytes(200_000);
  const largeFile = await writeObject(store, metaFor('/l', large.length), large);
  for (const [file, body] of [[smallFile, small], [largeFile, large]] as const) {
    const object = await store.openObject(file);
    try {
      assert.ok(object.prefix.length <= body.length);
      assert.ok(object.bodyOffset + object.prefix.length <= FIRST_READ_BYTES);
      assert.ok(object.prefix.equals(body.subarray(0, object.prefix.length)));
    } finally {
      await closeFd(object.fd);
    }
  }
  const object = await store.openObject(smallFile);
  await closeFd(object.fd);
  assert.equal(object.prefix.length, small.length, 'a small object comes whole with its header');
});

test('commit keeps the reservation: a final header a little longer than the first fits, much longer throws', async (t) => {
  const store = await Store.open(tempDir(t));
  const meta = metaFor('/grow.jpg', 123_456_789_012);
  const temp = await store.createTemp();
  try {
    temp.reserveHeader({ ...meta, bodyBytes: 0 });
    const offset = temp.bodyOffset;
    await temp.writeBody(Buffer.from('x'), 0);
    await assert.rejects(temp.commit({ ...meta, key: `/${'k'.repeat(100)}` }, objectFileName(keyHash('/grow.jpg'))), /outgrew/);
    // The reservation is 64 bytes past the first header: 65 more do not fit.
    await assert.rejects(temp.commit({ ...meta, bodyBytes: 0, key: `${meta.key}${'k'.repeat(65)}` }, objectFileName(keyHash('/grow.jpg'))), /outgrew/);
    assert.equal(temp.bodyOffset, offset);
    await temp.discard();
  } finally {
    await closeFd(temp.fd);
  }
  assert.deepEqual(fs.readdirSync(store.tmpDir), [], 'discard removes the temp file');
});

test('parseHeader: null while more bytes are needed, CorruptObject for what is not ours', async (t) => {
  const store = await Store.open(tempDir(t));
  const meta = metaFor('/p.jpg', 4);
  const file = await writeObject(store, meta, Buffer.from('body'));
  const bytes = fs.readFileSync(path.join(store.objectsDir, file));
  const parsed = parseHeader(bytes);
  assert.ok(parsed);
  assert.deepEqual(parsed.meta, meta);
  assert.equal(bytes.length, parsed.bodyOffset + 4);
  assert.equal(parseHeader(bytes.subarray(0, parsed.bodyOffset - 1)), null);
  assert.equal(parseHeader(bytes.subarray(0, 12)), null);
  assert.deepEqual(parseHeader(bytes.subarray(0, parsed.bodyOffset))?.meta, meta);
  assert.throws(() => parseHeader(bytes.subarray(0, 11)), CorruptObject);
  assert.throws(() => parseHeader(Buffer.alloc(0)), CorruptObject);
});

test('damaged files are CorruptObject, a missing one is ENOENT, and no fd leaks', async (t) => {
  const store = await Store.open(tempDir(t));
  const body = randomBytes(100);
  const good = await writeObject(store, metaFor('/good.jpg', body.length), body);
  const bytes = fs.readFileSync(path.join(store.objectsDir, good));
  const { bodyOffset } = parseHeader(bytes)!;
  const bigBody = randomBytes(200_000);
  const big = await writeObject(store, metaFor('/big.jpg', bigBody.length), bigBody);
  const bigBytes = fs.readFileSync(path.join(store.objectsDir, big));

  const withJson = (json: string): Buffer => {
    const header = Buffer.alloc(12);
    Buffer.from('IMGEDGE1').copy(header);
    header.writeUInt32BE(Buffer.byteLength(json), 8);
    return Buffer.concat([header, Buffer.from(json)]);
  };
  const lengthField = (n: number): Buffer => {
    const copy = Buffer.from(bytes);
    copy.writeUInt32BE(n, 8);
    return copy;
  };
  const notJson = Buffer.from(bytes);
  notJson.write('{not json', 12);
  const badMagic = Buffer.from(bytes);
  badMagic.write('IMGEDGE2', 0);

  // Each with the reason openObject gives, or, where the file opens, the one readMeta gives.
  const damaged: [label: string, content: Buffer, openFails: boolean, reason: string][] = [
    ['empty file', Buffer.alloc(0), true, 'short header'],
    ['shorter than the fixed header', bytes.subarray(0, 7), true, 'short header'],
    ['bad magic', badMagic, true, 'bad magic'],
    ['a JPEG, not ours', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(100)]), true, 'bad magic'],
    ['header cut short', bytes.subarray(0, bodyOffset - 10), true, 'short header'],
    ['header length past the end of the file', lengthField(10_000), true, 'short header'],
    ['header length of exactly 1 MiB, past the end', lengthField(1024 * 1024), true, 'short header'],
    ['header length over 1 MiB', lengthField(1024 * 1024 + 1), true, 'header too long'],
    ['header is not JSON', notJson, true, 'header is not JSON'],
    ['JSON lacking fields', withJson('{"v":1,"key":"/x"}'), true, 'header lacks fields'],
    ['JSON of another version', withJson(JSON.stringify({ ...metaFor('/x', 0), v: 2 })), true, 'header lacks fields'],
    ['JSON null', withJson('null'), true, 'header lacks fields'],
    ['JSON a number', withJson('1'), true, 'header lacks fields'],
    ['a key that is not a string', withJson(JSON.stringify({ ...metaFor('/x', 0), key: 7 })), true, 'header lacks fields'],
    ['a policy that is not an object', withJson(JSON.stringify({ ...metaFor('/x', 0), policy: 'fresh' })), true, 'header lacks fields'],
    ['a null policy', withJson(JSON.stringify({ ...metaFor('/x', 0), policy: null })), true, 'header lacks fields'],
    ['negative body length', withJson(JSON.stringify({ ...metaFor('/x', 0), bodyBytes: -1 })), true, 'header lacks fields'],
    ['body cut short', bytes.subarray(0, bytes.length - 1), true, 'short body'],
    ['body missing', bytes.subarray(0, bodyOffset), true, 'short body'],
    ['body longer than the header says', Buffer.concat([bytes, Buffer.from('extra')]), false, 'size differs from header'],
    ['large body cut short (past the first read)', bigBytes.subarray(0, bigBytes.length - 1000), false, 'size differs from header'],
  ];
  const before = openFds();
  for (const [label, content, openFails, reason] of damaged) {
    const file = `ab/${label.replaceAll(/\W+/g, '-')}`;
    fs.mkdirSync(path.join(store.objectsDir, 'ab'), { recursive: true });
    fs.writeFileSync(path.join(store.objectsDir, file), content);
    const corrupt = (error: unknown) => error instanceof CorruptObject && error.message === reason;
    if (openFails) {
      await assert.rejects(store.openObject(file), corrupt, `openObject: ${label}`);
    } else {
      const object = await store.openObject(file);
      await closeFd(object.fd);
      // The prefix holds body bytes only, never what follows the body.
      assert.ok(object.prefix.length <= object.meta.bodyBytes, label);
    }
    await assert.rejects(store.readMeta(file), corrupt, `readMeta: ${label}`);
  }
  await assert.rejects(store.openObject('ab/missing'), (error: NodeJS.ErrnoException) => error.code === 'ENOENT');
  await assert.rejects(store.readMeta('ab/missing'), (error: NodeJS.ErrnoException) => error.code === 'ENOENT');
  if (before !== undefined) assert.equal(openFds(), before, 'every fd opened for a damaged file is closed');
});

test('remove deletes one file and tolerates a missing one; listObjectFiles skips stray files', async (t) => {
  const store = await Store.open(tempDir(t));
  const a = await writeObject(store, metaFor('/a', 1), Buffer.from('a'));
  const b = await writeObject(store, metaFor('/b', 1), Buffer.from('b'));
  fs.writeFileSync(path.join(store.objectsDir, 'stray-file'), 'x');
  assert.deepEqual(new Set(await store.listObjectFiles()), new Set([a, b]));
  await store.remove(a);
  await store.remove(a);
  assert.deepEqual(await store.listObjectFiles(), [b]);
});

test('property: any meta and body round-trip through a real Store', async (t) => {
  const store = await Store.open(tempDir(t));
  const meta = fc.record({
    key: fc.string({ unit: anyChar, maxLength: 200 }).map((s) => `/${s}`),
    status: fc.constantFrom(200, 404, 410),
    lifetimeSec: fc.oneof(fc.nat(10 ** 9), fc.double({ min: 0, max: 1e6, noNaN: true })),
    extra: fc.dictionary(fc.stringMatching(/^x-[a-z]{1,10}$/), fc.string({ unit: 'grapheme', maxLength: 50 }), { maxKeys: 5 }),
  });
  await fc.assert(
    fc.asyncProperty(meta, fc.uint8Array({ maxLength: 5000 }), async (m, bytes) => {
      const body = Buffer.from(bytes);
      const full: ObjectMeta = { ...metaFor(m.key, body.length, m.extra), status: m.status, lifetimeSec: m.lifetimeSec };
      const file = await writeObject(store, full, body, 64 + (body.length % 997));
      const read = await readBody(store, file);
      assert.deepEqual(read.meta, JSON.parse(JSON.stringify(full)));
      assert.ok(read.body.equals(body));
      await store.remove(file);
    }),
    { seed: 42, numRuns: 60 },
  );
});

test('a final header exactly 64 bytes longer than the first still fits its reservation', async (t) => {
  const store = await Store.open(tempDir(t));
  const meta = metaFor('/fits.jpg', 0);
  const grown = { ...meta, key: `${meta.key}${'k'.repeat(64)}` };
  const temp = await store.createTemp();
  const file = objectFileName(keyHash(grown.key));
  try {
    temp.reserveHeader(meta);
    await temp.commit(grown, file);
  } finally {
    await closeFd(temp.fd);
  }
  assert.deepEqual((await store.readMeta(file)).meta, grown);
});

test('a commit makes its fan-out dir (and objects/) again when removed; discard twice is harmless', async (t) => {
  const store = await Store.open(tempDir(t));
  const meta = metaFor('/again.jpg', 3);
  fs.rmSync(path.join(store.objectsDir, keyHash(meta.key).slice(0, 2)), { recursive: true });
  const file = await writeObject(store, meta, Buffer.from('abc'));
  assert.ok((await readBody(store, file)).body.equals(Buffer.from('abc')));
  // objects/ itself removed by hand: made again too.
  fs.rmSync(store.objectsDir, { recursive: true });
  const again = await writeObject(store, metaFor('/again2.jpg', 1), Buffer.from('z'));
  assert.ok((await readBody(store, again)).body.equals(Buffer.from('z')));
  const temp = await store.createTemp();
  await closeFd(temp.fd);
  await temp.discard();
  await temp.discard();
  assert.deepEqual(fs.readdirSync(store.tmpDir), []);
});

test('a header longer than the first read: the second read takes the header and a first read of body', async (t) => {
  const store = await Store.open(tempDir(t));
  const body = randomBytes(3 * FIRST_READ_BYTES);
  const meta = metaFor('/long-head.bin', body.length, { 'x-big': 'x'.repeat(FIRST_READ_BYTES + 5000) });
  const file = await writeObject(store, meta, body);
  const object = await store.openObject(file);
  await closeFd(object.fd);
  assert.equal(object.prefix.length, FIRST_READ_BYTES);
  assert.ok(object.prefix.equals(body.subarray(0, FIRST_READ_BYTES)));
});

test('committedHere names the files this process committed, until recovery is over', async (t) => {
  const store = await Store.open(tempDir(t));
  const mine = await writeObject(store, metaFor('/mine.jpg', 1), Buffer.from('m'));
  assert.equal(store.committedHere(mine), true);
  assert.equal(store.committedHere(objectFileName(keyHash('/other.jpg'))), false);
  store.recoveryDone();
  assert.equal(store.committedHere(mine), false, 'after recovery nothing is asked for, and nothing is kept');
});
