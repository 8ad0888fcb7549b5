// Cache keys grouped by their path, so that a purge or a change names a path
// (every query and variant of it) or a prefix, and finds the keys without a
// scan of every key held. Used by the index and by the copies held in memory.
import { keyPath } from './key.js';

export class KeysByPath {
  readonly #byPath = new Map<string, Set<string>>();

  add(key: string): void {
    const path = keyPath(key);
    let keys = this.#byPath.get(path);
    if (!keys) this.#byPath.set(path, (keys = new Set()));
    keys.add(key);
  }

  delete(key: string): void {
    const path = keyPath(key);
    const keys = this.#byPath.get(path);
    keys?.delete(key);
    if (keys?.size === 0) this.#byPath.delete(path);
  }

  /** The keys of this path. */
  of(path: string): string[] {
    return [...(this.#byPath.get(path) ?? [])];
  }

  /** The keys of every path starting with `prefix`. */
  under(prefix: string): string[] {
    const keys: string[] = [];
    for (const [path, set] of this.#byPath) if (path.startsWith(prefix)) keys.push(...set);
    return keys;
  }
}
