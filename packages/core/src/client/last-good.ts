import type { StoredEntry } from '../backend/contract.js';
import type { Codec } from '../codec/codec.js';

/** How many keys' last good values a client remembers, at most. */
export const LAST_GOOD_ENTRIES = 1000;

interface Remembered {
  /** The codec's entry of the value (a graced entry's inner one), decoded anew on each recall. */
  readonly entry: StoredEntry;
  /** Epoch milliseconds after which the value may not be served, even stale. */
  readonly staleUntil: number;
}

/**
 * The last value this process read or wrote for each graced key (bounded, oldest first out),
 * kept only to serve stale when the backend cannot be reached: a `getOrSet` whose read fails
 * returns it while its grace lasts instead of running the factory against a cache that is down.
 * Only entries written with `grace` are remembered, and never past their grace; a delete, flush or
 * bust by this process forgets them. The entry is kept, not the value: each recall decodes a
 * copy of its own, so callers served during an outage never share an object (and one caller's
 * change to its value is not what the next one is served).
 */
export class LastGood {
  readonly #entries = new Map<string, Remembered>();
  readonly #now: () => number;
  readonly #codec: Codec;

  constructor(now: () => number, codec: Codec) {
    this.#now = now;
    this.#codec = codec;
  }

  /** Remembers `entry` (the codec's) for `fullKey` until `staleUntil` (epoch ms). */
  remember(fullKey: string, entry: StoredEntry, staleUntil: number): void {
    const entries = this.#entries;
    entries.delete(fullKey);
    if (entries.size >= LAST_GOOD_ENTRIES) {
      entries.delete(entries.keys().next().value as string);
    }
    entries.set(fullKey, { entry, staleUntil });
  }

  /**
   * The remembered value of `fullKey` while its grace lasts, decoded now, as `{ value }`; else
   * `undefined` (also when it no longer decodes: a deserializer that throws now).
   */
  recall(fullKey: string): { readonly value: unknown } | undefined {
    const found = this.#entries.get(fullKey);
    if (found === undefined) return undefined;
    if (this.#now() >= found.staleUntil) {
      this.#entries.delete(fullKey);
      return undefined;
    }
    try {
      return { value: this.#codec.decode(found.entry, fullKey) };
    } catch {
      this.#entries.delete(fullKey);
      return undefined;
    }
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
