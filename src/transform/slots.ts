// Transforms bounded to the cores: at most `running` at once, at most
// `queued` waiting, and anything beyond that refused at once (503 with
// Retry-After) rather than held in a backlog that only grows.
import { TransformBusy } from '../errors.js';

export class Slots {
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    private readonly running: number,
    private readonly queued: number,
    private readonly onDepth: (queued: number) => void = () => {},
  ) {}

  get queueDepth(): number {
    return this.#waiting.length;
  }

  /** Runs `work` in a slot, after waiting for one if the queue has room. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.running) {
      if (this.#waiting.length >= this.queued) throw new TransformBusy(1);
      await new Promise<void>((resolve) => {
        this.#waiting.push(resolve);
        this.onDepth(this.#waiting.length);
      });
      this.onDepth(this.#waiting.length);
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, so none can jump the queue.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
