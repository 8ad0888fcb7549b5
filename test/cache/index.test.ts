// The index: LRU by bytes with files deleted on eviction, the journal replayed
// on load, and start-up recovery of what the journal missed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store, closeFd, type ObjectMeta } from '../../src/cache/store.js';
import { CacheIndex, MAX_VARIANTS } from '../../src/cache/index.js';
import { keyHash, objectFileName, variantKey } from '../../src/cache/key.js';
import { varySpec } from '../../src/http/vary.js';
import { policyFor } from '../../src/http/freshness.js';
import { storage } from '../helpers/cache.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-index-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Commits an object as a fill does and returns its index entry. */
async function commit(store: Store, key: string, size: number): Promise<{ key: string; file: string; size: number }> {
  const policy = policyFor({ url: key, method: 'GET', headers: {} }, { status: 200, headers: { etag: '"v"' } }, Date.now()).toObject();
  const meta: ObjectMeta = JSON.parse(JSON.stringify({ v: 1, key, status: 200, lifetimeSec: 60, policy, bodyBytes: size }));
  const temp = await store.createTemp();
  temp.reserveHeader({ ...meta, bodyBytes: 0 });
  await temp.writeBody(Buffer.alloc(size, 1), 0);
  const file = objectFileName(keyHash(key));
  await temp.commit(meta, file);
  await closeFd(temp.fd);
  return { key, file, size: temp.bodyOffset + size };
}

const exists = (store: Store, file: string) => fs.existsSync(path.join(store.objectsDir, file));

test('going over the limit evicts the least recently used and deletes its file', async (t) => {
  const store = await Store.open(tempDir(t));
  const evicted: string[] = [];
  const a = await commit(store, '/a.jpg', 1000);
  const b = await commit(store, '/b.jpg', 1000);
  const c = await commit(store, '/c.jpg', 1000);
  const limit = a.size + b.size + c.size + 10;
  const index = await CacheIndex.load(store, limit, { evicted: (e) => evicted.push(e.key) });
  for (const entry of [a, b, c]) index.set(entry);
  index.get('/a.jpg');
  const d = await commit(store, '/d.jpg', 1000);
  index.set(d);
  assert.deepEqual(evicted, ['/b.jpg']);
  // Deleted in the background: on a loaded machine that can take a while.
  for (let waited = 0; exists(store, b.file) && waited < 10_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(exists(store, b.file), false, 'the evicted file is deleted');
  assert.equal(exists(store, a.file), true);
  assert.ok(index.bytes <= limit);
  await index.close();
});

test('a reload replays the journal; a clean close keeps use order', async (t) => {
  const dir = tempDir(t);
  const store = await Store.open(dir);
  const index = await CacheIndex.load(store, 1 << 30);
  for (const key of ['/x.jpg', '/y.jpg', '/z.jpg']) index.set(await commit(store, key, 100));
  index.get('/x.jpg');
  await index.close();
  const again = await CacheIndex.load(await Store.open(dir), 1 << 30);
  assert.deepEqual([...again.entriesOldestFirst()].map((e) => e.key), ['/y.jpg', '/z.jpg', '/x.jpg']);
  assert.deepEqual(again.keysOfPath('/x.jpg'), ['/x.jpg']);
  await again.close();
});

test('recovery adopts a whole file the journal missed, removes a foreign one, drops an entry whose file is gone', async (t) => {
  const dir = tempDir(t);
  const store = await Store.open(dir);
  const index = await CacheIndex.load(store, 1 << 30);
  const kept = await commit(store, '/kept.jpg', 100);
  const lost = await commit(store, '/lost.jpg', 100);
  index.set(kept);
  index.set(lost);
  await index.close();
  // A crash between a rename and its journal line: the file is there, the journal knows nothing.
  const orphan = await commit(store, '/orphan.jpg', 100);
  fs.writeFileSync(path.join(store.objectsDir, 'ab', 'not-ours.tmp'), 'junk');
  fs.rmSync(path.join(store.objectsDir, lost.file));

  const restarted = await Store.open(dir);
  const reloaded = await CacheIndex.load(restarted, 1 << 30);
  const mine = await commit(restarted, '/new-since-start.jpg', 100);
  const found = await reloaded.recover();
  assert.deepEqual(found, { adopted: 1, removed: 1, dropped: 1 });
  assert.equal(reloaded.peek('/orphan.jpg')?.file, orphan.file);
  assert.equal(reloaded.peek('/lost.jpg'), undefined);
  assert.equal(fs.existsSync(path.join(restarted.objectsDir, 'ab', 'not-ours.tmp')), false);
  assert.ok(exists(restarted, mine.file), 'a file this process committed is left alone');
  assert.equal(restarted.committedHere(mine.file), false, 'recovery over: the store no longer keeps what it committed');
  await reloaded.close();
});

test('variants sit beside their primary key: found by path, bounded per key, and never beside an unvaried object', async (t) => {
  const dir = tempDir(t);
  const store = await Store.open(dir);
  const index = await CacheIndex.load(store, 1 << 30);
  const names = ['accept-language'];
  const variant = (lang: string) => variantKey('/v.jpg?w=1', names, varySpec(names, { 'accept-language': lang }));
  index.set(await commit(store, '/v.jpg?w=1', 10));
  index.set(await commit(store, variant('en'), 10));
  assert.equal(index.peek('/v.jpg?w=1'), undefined, 'a variant replaces the unvaried object');
  index.set(await commit(store, variant('de'), 10));
  assert.deepEqual(index.variedNames('/v.jpg?w=1'), [names]);
  assert.deepEqual(new Set(index.keysOfPath('/v.jpg')), new Set([variant('en'), variant('de')]));
  assert.deepEqual(new Set(index.keysWithPrefix('/v')), new Set([variant('en'), variant('de')]));
  assert.equal(index.getVariant(variant('en'))?.key, variant('en'));

  for (let i = 0; i < MAX_VARIANTS - 1; i++) index.set(await commit(store, variant(`x${i}`), 10));
  assert.equal(index.keysOfPath('/v.jpg').length, MAX_VARIANTS);
  assert.equal(index.peek(variant('de')), undefined, 'the least recently used variant went');
  assert.ok(index.peek(variant('en')), 'the one used since stayed');

  await index.close();
  const reloaded = await CacheIndex.load(store, 1 << 30);
  assert.equal(reloaded.keysOfPath('/v.jpg').length, MAX_VARIANTS, 'variants survive a restart');
  assert.deepEqual(reloaded.variedNames('/v.jpg?w=1'), [names]);
  reloaded.set(await commit(store, '/v.jpg?w=1', 10));
  assert.deepEqual(reloaded.keysOfPath('/v.jpg'), ['/v.jpg?w=1'], 'an unvaried object replaces every variant');
  assert.deepEqual(reloaded.variedNames('/v.jpg?w=1'), []);
  await reloaded.close();
});

/** Waits (bounded) until index.log holds a line; the journal is written in the background. */
async function journalHas(dir: string, line: string): Promise<boolean> {
  const file = path.join(dir, 'index.log');
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 5))) {
    if (fs.readFileSync(file, 'utf8').split('\n').includes(line)) return true;
  }
  return false;
}

test('each add and removal is written to the journal as it happens, not only at a clean close', async (t) => {
  const { dir, store, index } = await storage(t);
  const a = await commit(store, '/a.jpg', 10);
  index.set(a);
  assert.ok(await journalHas(dir, `+ ${a.file} ${a.size} /a.jpg`));
  assert.equal(index.delete('/a.jpg'), true);
  assert.ok(await journalHas(dir, `- ${a.file}`));
});

test('an object larger than the whole cache is never kept: not indexed, not found by path, its file deleted', async (t) => {
  const { store, index } = await storage(t, 100);
  const big = await commit(store, '/big.jpg', 500);
  index.set(big);
  assert.equal(index.count, 0);
  assert.deepEqual(index.keysOfPath('/big.jpg'), []);
  assert.deepEqual(index.keysWithPrefix('/'), []);
  for (let waited = 0; exists(store, big.file) && waited < 10_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(exists(store, big.file), false);
});

test('deleteIfCurrent leaves an entry that has been replaced; evicted is told of evictions only, removed of every entry let go', async (t) => {
  const evicted: string[] = [];
  const removed: string[] = [];
  // Room for two entries of 10 bytes (the sizes the entries say are what count).
  const { store, index } = await storage(t, 25, {
    evicted: (e) => evicted.push(e.file),
    removed: (e) => removed.push(e.file),
  });
  const sized = async (key: string) => ({ ...(await commit(store, key, 10)), size: 10 });
  const first = await sized('/a.jpg');
  const second = await sized('/a.jpg');
  index.set(first);
  index.set(second);
  index.deleteIfCurrent(first);
  assert.equal(index.peek('/a.jpg'), second, 'the replacement stays');
  assert.deepEqual(index.keysOfPath('/a.jpg'), ['/a.jpg']);
  const b = await sized('/b.jpg');
  index.set(b);
  index.delete('/b.jpg');
  assert.deepEqual(index.keysOfPath('/b.jpg'), []);
  assert.deepEqual(index.keysOfPath('/never.jpg'), []);
  assert.deepEqual(evicted, [], 'a replacement and a delete are not evictions');
  index.set(await sized('/c.jpg'));
  index.set(await sized('/d.jpg'));
  assert.deepEqual(evicted, [second.file]);
  assert.deepEqual(removed, [first.file, b.file, second.file]);
});

test('variants varying on different names are told apart, and one variant removed leaves the others found', async (t) => {
  const { store, index } = await storage(t);
  const one = variantKey('/n.jpg', ['x-a', 'b'], 'v');
  const other = variantKey('/n.jpg', ['x-ab'], 'v');
  index.set(await commit(store, one, 10));
  index.set(await commit(store, other, 10));
  assert.deepEqual(new Set(index.variedNames('/n.jpg').map((names) => names.join('|'))), new Set(['x-a|b', 'x-ab']));
  index.delete(one);
  assert.deepEqual(index.variedNames('/n.jpg'), [['x-ab']]);
  assert.equal(index.getVariant(other)?.key, other);
  index.delete(other);
  assert.deepEqual(index.variedNames('/n.jpg'), []);
});

test('a journal that grows long while running is rewritten, without waiting for a close', async (t) => {
  const { dir, index } = await storage(t);
  // Each replacement writes two lines (the old file removed, the new one added); the files need not exist.
  let last = '';
  for (let i = 0; i < 5100; i++) index.set({ key: '/hot.jpg', file: (last = objectFileName(keyHash('/hot.jpg'))), size: 1 });
  // The last add is in the file once the appends are written (after the rewrite, if there was one).
  assert.ok(await journalHas(dir, `+ ${last} 1 /hot.jpg`));
  const lines = fs.readFileSync(path.join(dir, 'index.log'), 'utf8').split('\n').length;
  assert.ok(lines < 1000, `index.log has ${lines} lines`);
});

test('recovery removes an object file whose name is not its key\'s hash', async (t) => {
  const dir = tempDir(t);
  const store = await Store.open(dir);
  const index = await CacheIndex.load(store, 1 << 30);
  await index.close();
  const object = await commit(store, '/real.jpg', 10);
  const misnamed = objectFileName(keyHash('/other.jpg'));
  fs.renameSync(path.join(store.objectsDir, object.file), path.join(store.objectsDir, misnamed));
  const reloaded = await CacheIndex.load(await Store.open(dir), 1 << 30);
  assert.deepEqual(await reloaded.recover(), { adopted: 0, removed: 1, dropped: 0 });
  assert.equal(reloaded.count, 0);
  assert.equal(exists(store, misnamed), false);
  await reloaded.close();
});

test('a journal that cannot be written is reported through the index\'s events', async (t) => {
  const dir = tempDir(t);
  const store = await Store.open(dir);
  // index.log leads nowhere: read, it is empty; opened for appending, it fails.
  fs.symlinkSync(path.join(dir, 'missing', 'index.log'), path.join(dir, 'index.log'));
  const failures: Error[] = [];
  const index = await CacheIndex.load(store, 1 << 30, { journalFailed: (error) => failures.push(error) });
  for (const deadline = Date.now() + 5000; failures.length === 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 5));
  await index.close();
  assert.equal((failures[0] as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
});
