/**
 * A key the client stored or found recently (Q2's `RecentKey`). memcached cannot list its keys,
 * so the client remembers them to be able to bust them later.
 */
export class RecentKey {
  /** The caller's key, without prefix or scope. */
  readonly key: string;
  /** Everything the client put before the key: prefix and scope segment, separator included. */
  readonly prefix: string;
  /** The key as stored on the server (differs from `prefix + key` only for hashed long keys). */
  readonly fullKey: string;
  /** True when the client encrypts its values. */
  isEncrypted: boolean;
  /** When the entry expires, in epoch milliseconds; `undefined` when it does not (or is unknown). */
  expiresAtMs: number | undefined;

  constructor(
    key: string,
    prefix = '',
    isEncrypted = false,
    expiresAtMs?: number,
    fullKey?: string,
  ) {
    this.key = key;
    this.prefix = prefix;
    this.isEncrypted = isEncrypted;
    this.expiresAtMs = expiresAtMs;
    this.fullKey = fullKey ?? prefix + key;
  }

  /** Q2's `expire_time`: when the entry expires, or `null` when it does not or is unknown. */
  get expireTime(): Date | null {
    return this.expiresAtMs === undefined ? null : new Date(this.expiresAtMs);
  }
}

/** The default number of keys a {@link RecentKeysStack} remembers. */
export const DEFAULT_RECENT_KEYS = 100;

/**
 * A bounded stack of unique {@link RecentKey}s (Q2's `RecentKeysStack`), newest last. Appending a
 * key that is already there moves it to the end; past `maxSize` the oldest is dropped. Every
 * operation is O(1) and does no I/O.
 */
export class RecentKeysStack {
  /** Most keys kept. */
  readonly maxSize: number;
  readonly #entries = new Map<string, RecentKey>();
  readonly #now: () => number;

  /**
   * @param maxSize - most keys kept (default {@link DEFAULT_RECENT_KEYS}); 0 keeps none.
   * @param now - clock in epoch milliseconds, used to hide expired entries (default `Date.now`).
   */
  constructor(maxSize: number = DEFAULT_RECENT_KEYS, now: () => number = Date.now) {
    if (!Number.isInteger(maxSize) || maxSize < 0) {
      throw new TypeError('`maxSize` must be an integer ≥ 0');
    }
    this.maxSize = maxSize;
    this.#now = now;
  }

  /** Number of keys held, expired ones included until the next read. */
  get size(): number {
    return this.#entries.size;
  }

  /** Adds `item` as the newest key, replacing an entry with the same full key. */
  append(item: RecentKey): void {
    if (this.maxSize === 0) return;
    this.#entries.delete(item.fullKey);
    this.#entries.set(item.fullKey, item);
    this.#evict();
  }

  /**
   * Records a key as newest. A key recorded again keeps its object: its expiry changes only when
   * `expiresAtMs` is given (a write), not on a read.
   */
  record(
    fullKey: string,
    key: string,
    prefix: string,
    isEncrypted: boolean,
    expiresAtMs?: number | null,
  ): void {
    if (this.maxSize === 0) return;
    const existing = this.#entries.get(fullKey);
    if (existing === undefined) {
      this.#entries.set(
        fullKey,
        new RecentKey(key, prefix, isEncrypted, expiresAtMs ?? undefined, fullKey),
      );
      this.#evict();
      return;
    }
    this.#entries.delete(fullKey);
    this.#entries.set(fullKey, existing);
    existing.isEncrypted = isEncrypted;
    if (expiresAtMs !== undefined) existing.expiresAtMs = expiresAtMs ?? undefined;
  }

  /** Changes the expiry of a remembered key (after a `touch`); `null` means none. */
  setExpiry(fullKey: string, expiresAtMs: number | null): void {
    const existing = this.#entries.get(fullKey);
    if (existing !== undefined) existing.expiresAtMs = expiresAtMs ?? undefined;
  }

  /** Removes a key (a `RecentKey` or a full key); does nothing when it is not there (Q2's `remove_safe`). */
  removeSafe(item: RecentKey | string): void {
    this.#entries.delete(typeof item === 'string' ? item : item.fullKey);
  }

  /** Forgets every key. */
  clear(): void {
    this.#entries.clear();
  }

  /** The live keys, oldest first; drops expired ones. */
  list(): RecentKey[] {
    const now = this.#now();
    const live: RecentKey[] = [];
    for (const [fullKey, entry] of this.#entries) {
      if (entry.expiresAtMs !== undefined && entry.expiresAtMs <= now)
        this.#entries.delete(fullKey);
      else live.push(entry);
    }
    return live;
  }

  /** Iterates the live keys, oldest first. */
  [Symbol.iterator](): IterableIterator<RecentKey> {
    return this.list()[Symbol.iterator]();
  }

  #evict(): void {
    while (this.#entries.size > this.maxSize) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}
