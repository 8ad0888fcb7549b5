// One process per cache dir: two would empty each other's tmp/ and interleave
// one journal. The lock names the holder's pid; a lock whose process is gone
// (kill -9, a crash) is taken over.
import fsp from 'node:fs/promises';
import path from 'node:path';

export class CacheDirLocked extends Error {}

function alive(pid: number): boolean {
  if (pid === process.pid) return false; // a container restart can reuse our pid
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function lockCacheDir(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fsp.writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return () => fsp.rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Number() ignores the newline; an unreadable or empty lock reads as 0, no process.
      const holder = Number(await fsp.readFile(file, 'utf8').catch(() => ''));
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
        throw new CacheDirLocked(`cache dir ${dir} is in use by process ${holder}`);
      }
      await fsp.rm(file, { force: true });
    }
  }
  throw new CacheDirLocked(`cache dir ${dir}: could not take the lock`);
}
