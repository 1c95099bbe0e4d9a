import type { StoredEntry } from '../backend/contract.js';
import type { ResolvedL1 } from './l1-options.js';

/** Bytes counted per entry on top of its value: the key, the slot, the map's own node. */
const SLOT_OVERHEAD_BYTES = 96;

/** One kept copy. */
interface Slot {
  readonly entry: StoredEntry;
  /** Epoch milliseconds after which the copy is gone. */
  readonly expiresAt: number;
  /** What the copy counts against `maxBytes`. */
  readonly bytes: number;
  /** The store's use counter when the copy was last moved to the young end. */
  tick: number;
}

/** A read or write of one key in flight: whether the key was invalidated since it began. */
interface Pending {
  /** Operations of this key in flight. */
  count: number;
  /** The invalidation counter's value at this key's last invalidation. */
  invalidatedAt: number;
}

/** What the L1 counts, for `client.l1Stats()`. */
export interface L1Stats {
  /** Reads answered from the L1. */
  readonly hits: number;
  /** Reads that went to the remote backend. */
  readonly misses: number;
  /** Copies kept now. */
  readonly entries: number;
  /** Bytes the kept copies count against `maxBytes`. */
  readonly bytes: number;
  /** Copies dropped to stay within `maxEntries` or `maxBytes`. */
  readonly evictions: number;
  /** Copies dropped because this or another process changed their key (or a clear). */
  readonly invalidations: number;
  /** Whether the L1 serves copies now: `false` while its bus is not live. */
  readonly live: boolean;
}

/**
 * The L1's copies: a map in least-recently-used order, bounded by count and bytes, each copy with
 * an expiry. It also keeps the "was this key invalidated while a read or write of it was in
 * flight" ledger that decides whether an answer from the remote backend may be kept: a copy
 * filled after an invalidation it raced with would bring a deleted or overwritten value back.
 */
export class L1Store {
  readonly #options: ResolvedL1;
  readonly #now: () => number;
  readonly #slots = new Map<string, Slot>();
  readonly #pending = new Map<string, Pending>();
  /** Counts invalidations; a fill compares it with its start. */
  #invalidations = 0;
  /** {@link L1Store.#invalidations} at the last clear: fills that began before it are refused. */
  #clearedAt = 0;
  #bytes = 0;
  #ticks = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #dropped = 0;

  constructor(options: ResolvedL1, now: () => number) {
    this.#options = options;
    this.#now = now;
  }

  /** The copy of `key`, or `undefined` (counted as a miss). */
  get(key: string): StoredEntry | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) {
      this.#misses++;
      return undefined;
    }
    if (slot.expiresAt <= this.#now()) {
      this.#remove(key, slot);
      this.#misses++;
      return undefined;
    }
    // Move to the young end only when half the capacity was used since the copy last moved: most
    // hits then cost a map look-up and two comparisons (a delete and re-insert per hit would cost
    // more than the rest of the hit), and eviction stays close to least-recently-used.
    const ticks = ++this.#ticks;
    if (ticks - slot.tick > this.#options.maxEntries >>> 1) {
      this.#slots.delete(key);
      this.#slots.set(key, slot);
      slot.tick = ticks;
    }
    this.#hits++;
    return slot.entry;
  }

  /**
   * Marks the start of a read or write of `key` whose answer may fill the L1, and returns the
   * token {@link L1Store.fill} needs.
   */
  begin(key: string): number {
    const pending = this.#pending.get(key);
    if (pending === undefined) this.#pending.set(key, { count: 1, invalidatedAt: 0 });
    else pending.count++;
    return this.#invalidations;
  }

  /**
   * Ends what {@link L1Store.begin} started and keeps `entry` for at most `ttlMs` (capped by the
   * L1's `ttl`) — unless `key` or the whole L1 was invalidated since, or `entry` is undefined.
   */
  fill(key: string, token: number, entry: StoredEntry | undefined, ttlMs: number = Infinity): void {
    const pending = this.#pending.get(key);
    if (pending === undefined) return;
    const invalidatedAt = pending.invalidatedAt;
    if (--pending.count === 0) this.#pending.delete(key);
    if (entry === undefined || ttlMs <= 0 || invalidatedAt > token || this.#clearedAt > token) {
      return;
    }
    this.#keep(key, entry, Math.min(ttlMs, this.#options.ttlMs));
  }

  /** Drops the copy of `key`; reads and writes of it in flight will not fill the L1. */
  invalidate(key: string): void {
    const count = ++this.#invalidations;
    const pending = this.#pending.get(key);
    if (pending !== undefined) pending.invalidatedAt = count;
    const slot = this.#slots.get(key);
    if (slot !== undefined) {
      this.#remove(key, slot);
      this.#dropped++;
    }
  }

  /** Drops every copy; nothing in flight fills the L1. */
  clear(): void {
    this.#clearedAt = ++this.#invalidations;
    this.#dropped += this.#slots.size;
    this.#slots.clear();
    this.#bytes = 0;
  }

  /** What the L1 counts; `live` is the caller's. */
  stats(live: boolean): L1Stats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      entries: this.#slots.size,
      bytes: this.#bytes,
      evictions: this.#evictions,
      invalidations: this.#dropped,
      live,
    };
  }

  #keep(key: string, entry: StoredEntry, ttlMs: number): void {
    const options = this.#options;
    // The bytes and, for text values, the string a hit decodes and keeps alive beside them.
    const bytes = entry.value.byteLength * 2 + key.length * 2 + SLOT_OVERHEAD_BYTES;
    if (bytes * 10 > options.maxBytes) return;
    const old = this.#slots.get(key);
    if (old !== undefined) this.#remove(key, old);
    this.#slots.set(key, { entry, expiresAt: this.#now() + ttlMs, bytes, tick: ++this.#ticks });
    this.#bytes += bytes;
    while (this.#slots.size > options.maxEntries || this.#bytes > options.maxBytes) {
      const oldest = this.#slots.entries().next().value as [string, Slot];
      this.#remove(oldest[0], oldest[1]);
      this.#evictions++;
    }
  }

  #remove(key: string, slot: Slot): void {
    this.#slots.delete(key);
    this.#bytes -= slot.bytes;
  }
}
