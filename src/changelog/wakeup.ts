// Waiters for "something new": each resolves when woken, after its time
// limit, or when its signal aborts, whichever comes first. The log's long
// polls, a relay's wait for the follower's next entry and a held copy's wait
// for the change log to lift its doubt are all this.
export class Wakeup {
  readonly #waiters = new Set<() => void>();

  /** Resolves on the next wake(), after `ms`, or when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  wake(): void {
    for (const done of this.#waiters) done();
  }
}
