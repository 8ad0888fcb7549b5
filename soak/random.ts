// A seeded PRNG, so a soak run's catalog, client mix and fault schedule come
// from --seed. Timing still differs between runs (the edge, the scheduler and
// the network are real), so a seed reproduces the plan, not the interleaving.

export class Random {
  #state: number;

  constructor(seed: number) {
    // mulberry32 needs a non-zero 32-bit state; mix the seed so 0, 1, 2 differ well.
    this.#state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0) || 1;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A key of `weights`, chosen in proportion to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    let at = this.next() * total;
    for (const [key, weight] of entries) {
      at -= weight;
      if (at < 0) return key;
    }
    return entries[entries.length - 1]![0];
  }

  /** A log-uniform integer in [min, max]: as many 1-2 KiB objects as 1-2 MiB ones per octave. */
  logUniform(min: number, max: number): number {
    return Math.round(Math.exp(Math.log(min) + this.next() * (Math.log(max) - Math.log(min))));
  }

  /** A child generator, so one consumer's draws do not shift another's. */
  fork(): Random {
    return new Random(this.forkSeed());
  }

  /** The seed of the child `fork()` would make, for a generator made elsewhere (another process). */
  forkSeed(): number {
    return Math.floor(this.next() * 2 ** 32);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}
