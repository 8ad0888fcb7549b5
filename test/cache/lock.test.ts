// One process per cache dir: the lock file names its holder, a live holder
// keeps others out, a dead one's lock is taken over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { lockCacheDir, CacheDirLocked } from '../../src/cache/lock.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgedge-lock-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the lock names this process; a second taker is refused while it is held; unlocking frees it', async (t) => {
  const dir = tempDir(t);
  const unlock = await lockCacheDir(dir);
  assert.equal(fs.readFileSync(path.join(dir, 'lock'), 'utf8'), `${process.pid}\n`);
  // The holder's own pid counts as gone (a restarted container reuses pids), so another live process holds it here.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => child.kill());
  fs.writeFileSync(path.join(dir, 'lock'), `${child.pid}\n`);
  await assert.rejects(lockCacheDir(dir), (error: unknown) => error instanceof CacheDirLocked && error.message === `cache dir ${dir} is in use by process ${child.pid}`);
  assert.equal(fs.readFileSync(path.join(dir, 'lock'), 'utf8'), `${child.pid}\n`, 'a refused taker leaves the lock alone');
  await unlock();
  assert.equal(fs.existsSync(path.join(dir, 'lock')), false);
  const again = await lockCacheDir(dir);
  await again();
});

test('a lock left by a process that is gone, by this pid, or holding no pid is taken over', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  for (const content of [`${child.pid}\n`, `${process.pid}\n`, 'garbage\n', '', '0\n', '-5\n']) {
    fs.writeFileSync(path.join(dir, 'lock'), content);
    const unlock = await lockCacheDir(dir);
    assert.equal(fs.readFileSync(path.join(dir, 'lock'), 'utf8'), `${process.pid}\n`, JSON.stringify(content));
    await unlock();
  }
});

test('a cache dir that cannot hold a lock file is an error of its own, not a lock', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(lockCacheDir(path.join(dir, 'missing')), (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT');
});

test('unlocking a lock that is already gone is not an error', async (t) => {
  const dir = tempDir(t);
  const unlock = await lockCacheDir(dir);
  fs.rmSync(path.join(dir, 'lock'));
  await unlock();
});

test('a stale lock that goes while it is read is taken over all the same', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  // A FIFO as the lock: its reader waits for the writer, so the test removes
  // the lock at a known point, after the taker found it and before it removes it.
  const lock = path.join(dir, 'lock');
  execFileSync('mkfifo', [lock]);
  const taking = lockCacheDir(dir);
  const writer = await fsp.open(lock, 'w');
  fs.rmSync(lock);
  await writer.write(`${child.pid}\n`);
  await writer.close();
  const unlock = await taking;
  assert.equal(fs.readFileSync(lock, 'utf8'), `${process.pid}\n`);
  await unlock();
});

test(
  'a lock held by a live process of another user is in use: not being allowed to signal it does not make it gone',
  { skip: process.getuid?.() === 0 ? false : 'needs root, to run the taker as another user' },
  async (t) => {
    const dir = tempDir(t);
    fs.chmodSync(dir, 0o777);
    // This process (root) holds the lock; the taker runs as nobody, from a copy of the module it can read.
    fs.writeFileSync(path.join(dir, 'lock'), `${process.pid}\n`);
    const module = path.join(dir, 'lock.mjs');
    fs.copyFileSync(new URL('../../src/cache/lock.js', import.meta.url), module);
    fs.chmodSync(module, 0o644);
    const script = `import(process.argv[1]).then((m) => m.lockCacheDir(process.argv[2])).then(
      () => console.log('taken'), (error) => console.log(error.constructor.name + ': ' + error.message))`;
    const taker = spawn(process.execPath, ['-e', script, module, dir], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => taker.kill());
    let out = '';
    taker.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await new Promise((resolve) => taker.once('exit', resolve));
    assert.equal(out.trim(), `CacheDirLocked: cache dir ${dir} is in use by process ${process.pid}`);
    assert.equal(fs.readFileSync(path.join(dir, 'lock'), 'utf8'), `${process.pid}\n`);
  },
);
