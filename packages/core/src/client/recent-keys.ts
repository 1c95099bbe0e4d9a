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

/** One remembered key: a node of the stack's recency list, reused once its key is evicted. */
class Slot {
  fullKey = '';
  key = '';
  prefix = '';
  isEncrypted = false;
  expiresAtMs: number | undefined = undefined;
  older: Slot | undefined = undefined;
  newer: Slot | undefined = undefined;
}

/**
 * A bounded stack of unique {@link RecentKey}s (Q2's `RecentKeysStack`), newest last. Appending a
 * key that is already there moves it to the end; past `maxSize` the oldest is dropped. Every
 * operation but `list` is O(1), allocation-free once the stack is full, and does no I/O: a
 * client records a key on every hit, so this is on the hot path.
 */
export class RecentKeysStack {
  /** Most keys kept. */
  readonly maxSize: number;
  // A map from full key to slot, and the slots in a doubly linked list from oldest to newest:
  // moving a key to the end is a few pointer writes, and evicting reuses the oldest slot.
  readonly #slots = new Map<string, Slot>();
  #oldest: Slot | undefined;
  #newest: Slot | undefined;
  readonly #now: () => number;
  readonly #encrypted: boolean;

  /**
   * @param maxSize - most keys kept (default {@link DEFAULT_RECENT_KEYS}); 0 keeps none.
   * @param now - clock in epoch milliseconds, used to hide expired entries (default `Date.now`).
   * @param options.encrypted - whether the keys {@link RecentKeysStack.record} records hold
   *   encrypted values (`RecentKey.isEncrypted`); a client's keys all share its setting.
   *   @default false
   */
  constructor(
    maxSize: number = DEFAULT_RECENT_KEYS,
    now: () => number = Date.now,
    options: { readonly encrypted?: boolean | undefined } = {},
  ) {
    if (!Number.isInteger(maxSize) || maxSize < 0) {
      throw new TypeError('`maxSize` must be an integer ≥ 0');
    }
    this.maxSize = maxSize;
    this.#now = now;
    this.#encrypted = options.encrypted ?? false;
  }

  /** Number of keys held, expired ones included until the next read. */
  get size(): number {
    return this.#slots.size;
  }

  /** Adds `item` as the newest key, replacing an entry with the same full key. */
  append(item: RecentKey): void {
    if (this.maxSize === 0) return;
    const slot = this.#slotFor(item.fullKey, item.key, item.prefix);
    slot.isEncrypted = item.isEncrypted;
    slot.expiresAtMs = item.expiresAtMs;
  }

  /**
   * Records a key as newest (a hit or a write; a write then sets its expiry with
   * {@link RecentKeysStack.setExpiry}). A key recorded again keeps its expiry. `prefix` is what
   * the client put before the caller's key (prefix and scope).
   */
  record(fullKey: string, key: string, prefix: string): void {
    if (this.maxSize === 0) return;
    const existing = this.#slots.get(fullKey);
    if (existing !== undefined) {
      if (existing !== this.#newest) {
        this.#unlink(existing);
        this.#link(existing);
      }
      return;
    }
    const slot = this.#slotFor(fullKey, key, prefix);
    slot.isEncrypted = this.#encrypted;
    slot.expiresAtMs = undefined;
  }

  /** Changes the expiry of a remembered key (after a `touch`); `null` means none. */
  setExpiry(fullKey: string, expiresAtMs: number | null): void {
    const existing = this.#slots.get(fullKey);
    if (existing !== undefined) existing.expiresAtMs = expiresAtMs ?? undefined;
  }

  /** Removes a key (a `RecentKey` or a full key); does nothing when it is not there (Q2's `remove_safe`). */
  removeSafe(item: RecentKey | string): void {
    const fullKey = typeof item === 'string' ? item : item.fullKey;
    const slot = this.#slots.get(fullKey);
    if (slot === undefined) return;
    this.#slots.delete(fullKey);
    this.#unlink(slot);
  }

  /** Forgets every key. */
  clear(): void {
    this.#slots.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
  }

  /**
   * The live keys, oldest first; drops expired ones. Each call returns new `RecentKey` objects, a
   * snapshot: changing one does not change the stack.
   */
  list(): RecentKey[] {
    const now = this.#now();
    const live: RecentKey[] = [];
    let slot = this.#oldest;
    while (slot !== undefined) {
      const next = slot.newer;
      if (slot.expiresAtMs !== undefined && slot.expiresAtMs <= now) {
        this.#slots.delete(slot.fullKey);
        this.#unlink(slot);
      } else {
        live.push(
          new RecentKey(slot.key, slot.prefix, slot.isEncrypted, slot.expiresAtMs, slot.fullKey),
        );
      }
      slot = next;
    }
    return live;
  }

  /** Iterates the live keys, oldest first. */
  [Symbol.iterator](): IterableIterator<RecentKey> {
    return this.list()[Symbol.iterator]();
  }

  /**
   * The slot of `fullKey`, made newest: the existing one, or a new one (the oldest, reused, when
   * the stack is full). Flags and expiry are left to the caller.
   */
  #slotFor(fullKey: string, key: string, prefix: string): Slot {
    let slot = this.#slots.get(fullKey);
    if (slot !== undefined) {
      this.#unlink(slot);
    } else {
      const oldest = this.#oldest;
      if (oldest !== undefined && this.#slots.size >= this.maxSize) {
        this.#slots.delete(oldest.fullKey);
        this.#unlink(oldest);
        slot = oldest;
      } else {
        slot = new Slot();
      }
      slot.fullKey = fullKey;
      this.#slots.set(fullKey, slot);
    }
    slot.key = key;
    slot.prefix = prefix;
    this.#link(slot);
    return slot;
  }

  /** Puts a slot that is in no list at the newest end. */
  #link(slot: Slot): void {
    slot.older = this.#newest;
    slot.newer = undefined;
    if (this.#newest === undefined) this.#oldest = slot;
    else this.#newest.newer = slot;
    this.#newest = slot;
  }

  #unlink(slot: Slot): void {
    if (slot.older === undefined) this.#oldest = slot.newer;
    else slot.older.newer = slot.newer;
    if (slot.newer === undefined) this.#newest = slot.older;
    else slot.newer.older = slot.older;
    slot.older = undefined;
    slot.newer = undefined;
  }
}
