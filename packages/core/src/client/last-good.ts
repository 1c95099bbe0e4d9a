/** How many keys' last good values a client remembers, at most. */
export const LAST_GOOD_ENTRIES = 1000;

interface Remembered {
  readonly value: unknown;
  /** Epoch milliseconds after which the value may not be served, even stale. */
  readonly staleUntil: number;
}

/**
 * The last value this process read or wrote for each graced key (bounded, oldest first out),
 * kept only to serve stale when the backend cannot be reached: a `getOrSet` whose read fails
 * returns it while its grace lasts instead of running the factory against a cache that is down.
 * Only entries written with `grace` are remembered, and never past their grace; a delete, flush or
 * bust by this process forgets them.
 */
export class LastGood {
  readonly #entries = new Map<string, Remembered>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Remembers `value` for `fullKey` until `staleUntil` (epoch ms). */
  remember(fullKey: string, value: unknown, staleUntil: number): void {
    const entries = this.#entries;
    entries.delete(fullKey);
    if (entries.size >= LAST_GOOD_ENTRIES) {
      entries.delete(entries.keys().next().value as string);
    }
    entries.set(fullKey, { value, staleUntil });
  }

  /** The remembered value of `fullKey` while its grace lasts, as `{ value }`; else `undefined`. */
  recall(fullKey: string): { readonly value: unknown } | undefined {
    const found = this.#entries.get(fullKey);
    if (found === undefined) return undefined;
    if (this.#now() >= found.staleUntil) {
      this.#entries.delete(fullKey);
      return undefined;
    }
    return found;
  }

  /** Forgets `fullKey` (this process deleted or overwrote it). */
  forget(fullKey: string): void {
    if (this.#entries.size > 0) this.#entries.delete(fullKey);
  }

  /** Forgets everything (a flush). */
  clear(): void {
    this.#entries.clear();
  }
}
