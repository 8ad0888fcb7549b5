// Files that must survive a crash: written to a temp name, fsynced, renamed
// over the old one, and the directory fsynced so the rename itself is kept.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces file with text atomically: a reader (or a restart) sees the old text or the new. */
export async function writeFileDurably(file: string, text: string): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await fsp.open(temp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fsp.rename(temp, file);
  } catch (error) {
    await fsp.rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(path.dirname(file));
}

/**
 * fsyncs of a directory shared by the callers that need one at the same time:
 * a caller that arrives while one runs waits for the next, which starts when
 * that one ends and covers every caller that came meanwhile (group commit for
 * directory entries).
 */
export class DirSyncs {
  readonly #running = new Map<string, Promise<void>>();
  readonly #next = new Map<string, Promise<void>>();

  sync(dir: string): Promise<void> {
    const next = this.#next.get(dir);
    if (next) return next;
    const running = this.#running.get(dir);
    const start = (): Promise<void> => {
      this.#next.delete(dir);
      const sync = fsyncDir(dir).finally(() => {
        if (this.#running.get(dir) === sync) this.#running.delete(dir);
      });
      this.#running.set(dir, sync);
      return sync;
    };
    if (!running) return start();
    const queued = running.catch(() => {}).then(start);
    this.#next.set(dir, queued);
    return queued;
  }
}
