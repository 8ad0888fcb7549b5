// One process per cache dir: the lock file names its holder, a live holder
// keeps others out, a dead one's lock is taken over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
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
