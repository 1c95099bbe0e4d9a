import { CacheConfigError, CacheValueError } from '@stowage/core';
import {
  closedError,
  integerOption,
  MEMCACHED_MAX_KEY_BYTES,
  parseUrlOptions,
  retainedBytes,
  sameEntry,
  toBytes,
  ttlToMilliseconds,
  type BackendCapabilities,
  type BackendLimits,
  type BackendUrlOptions,
  type BackendWrite,
  type CacheBackend,
  type StoredEntry,
  DEFAULT_MAX_VALUE_BYTES as CORE_DEFAULT_MAX_VALUE_BYTES,
} from '@stowage/core/backend';
import { LRUCache } from 'lru-cache';

/**
 * Default largest value, in bytes: core's `DEFAULT_MAX_VALUE_BYTES` (1 MiB − 512), the same on
 * every bundled backend, so a value the memory backend accepts in a unit test is one production
 * memcached stores too.
 */
export const DEFAULT_MAX_VALUE_BYTES: number = CORE_DEFAULT_MAX_VALUE_BYTES;
/** Default bound on entries. */
export const DEFAULT_MAX_ENTRIES = 10_000;
/** Default bound on stored bytes (keys, values and bookkeeping), 64 MiB. */
export const DEFAULT_MAX_BYTES: number = 64 * 1024 * 1024;

/** A clock in milliseconds; only differences matter. */
export interface MemoryClock {
  /** The current time in milliseconds. Must not go backwards; start tests above 0. */
  now(): number;
}

/** Options of {@link createMemoryBackend}. */
export interface MemoryBackendOptions {
  /**
   * Most entries kept; the least recently used are evicted first.
   * @default 10000
   */
  readonly maxEntries?: number | undefined;
  /**
   * Most bytes kept, counting each entry as value bytes + key length + 64 bytes of bookkeeping,
   * plus the payload text the client's codec keeps on String and JSON entries it writes
   * unencrypted and uncompressed (kept so hits need not decode bytes; `retainedBytes` in
   * `@stowage/core/backend`).
   * @default 67108864 (64 MiB)
   */
  readonly maxBytes?: number | undefined;
  /**
   * Largest value in bytes, as memcached's `-I`; the client refuses larger values before calling
   * the backend.
   * @default 1048576 (1 MiB)
   */
  readonly maxValueBytes?: number | undefined;
  /**
   * Largest full key in UTF-8 bytes. The default is memcached's limit, so a unit test fails where
   * production memcached would.
   * @default 250
   */
  readonly maxKeyBytes?: number | undefined;
  /**
   * Clock for TTLs. Pass one in tests to move time without waiting: `vi.useFakeTimers()` does not
   * move lru-cache's clock.
   * @default performance
   */
  readonly clock?: MemoryClock | undefined;
}

const ENTRY_OVERHEAD_BYTES = 64;
const UNSIGNED_64 = 2n ** 64n;
const DECIMAL = /^\d{1,20} *$/; // memcached pads a shrinking counter with spaces

/**
 * The in-memory backend: an lru-cache 11 that stores bytes and flags exactly like the remote
 * backends, so the client's encoding, size limits and key rules behave as in production. Meant
 * for unit tests and small single-process services; entries are not shared between processes.
 *
 * - bounded by entries and bytes, least recently used evicted first;
 * - memcached's limits by default (250-byte keys, 1 MiB values);
 * - TTLs in milliseconds against an injectable clock; no timers, so no timer overflow and no idle
 *   CPU (lru-cache's `ttlAutopurge` is off; expired entries go on access or under pressure);
 * - counters follow memcached: unsigned 64-bit, `incr` wraps, `decr` stops at 0.
 */
export class MemoryBackend implements CacheBackend {
  /** @inheritdoc */
  readonly name: string = 'memory';
  /** @inheritdoc */
  readonly capabilities: BackendCapabilities = {
    ttlPrecision: 'milliseconds',
    scopedClear: true,
    counters: 'unsigned64',
    delayedFlush: true,
  };
  /** @inheritdoc */
  readonly limits: BackendLimits;
  readonly #lru: LRUCache<string, StoredEntry>;
  readonly #clock: MemoryClock;
  #flushAt: number | undefined;
  #closed = false;

  constructor(options: MemoryBackendOptions = {}) {
    const maxEntries = integerOption(options.maxEntries, 'maxEntries', DEFAULT_MAX_ENTRIES);
    const maxBytes = integerOption(options.maxBytes, 'maxBytes', DEFAULT_MAX_BYTES);
    const maxValueBytes = integerOption(
      options.maxValueBytes,
      'maxValueBytes',
      DEFAULT_MAX_VALUE_BYTES,
    );
    const maxKeyBytes = integerOption(options.maxKeyBytes, 'maxKeyBytes', MEMCACHED_MAX_KEY_BYTES);
    if (options.clock !== undefined && typeof options.clock.now !== 'function') {
      throw new CacheConfigError('`clock` must have a `now()` method returning milliseconds');
    }
    this.limits = { maxKeyBytes, maxValueBytes };
    this.#clock = options.clock ?? performance;
    this.#lru = new LRUCache<string, StoredEntry>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (entry, key) => retainedBytes(entry) + key.length + ENTRY_OVERHEAD_BYTES,
      // No autopurge: one timer per item spins when a TTL overflows 2^31 ms (measured: 875 ms of CPU
      // per second for 1,000 items). Expired entries are dropped on access instead.
      ttlAutopurge: false,
      // 0 reads the clock on every check instead of caching it behind a 1 ms timer, so an
      // injected clock is obeyed exactly and no timer is created.
      ttlResolution: 0,
      perf: this.#clock,
    });
  }

  #check(): void {
    if (this.#closed) throw closedError('memory');
    if (this.#flushAt !== undefined && this.#clock.now() >= this.#flushAt) {
      this.#flushAt = undefined;
      this.#lru.clear();
    }
  }

  /** Stores `entry`; returns the entry now held (the one given, or a copy of it), else `undefined`. */
  #store(key: string, entry: StoredEntry, ttlSeconds: number): StoredEntry | undefined {
    if (entry.value.byteLength > this.limits.maxValueBytes) {
      // memcached answers "object too large" to an oversized SET and unlinks the old value so no
      // stale data outlives the failed write; do the same.
      this.#lru.delete(key);
      return undefined;
    }
    const ttl = ttlToMilliseconds(ttlSeconds);
    // The entry object itself is kept and handed back on reads (entries are immutable), which
    // lets the client recognise its own entries instead of decoding the bytes on every hit.
    const kept =
      entry.flags >>> 0 === entry.flags ? entry : { value: entry.value, flags: entry.flags >>> 0 };
    this.#lru.set(key, kept, { ttl });
    // lru-cache refuses an entry larger than `maxSize` by not keeping it.
    return this.#lru.has(key) ? kept : undefined;
  }

  /** @inheritdoc */
  get(key: string): StoredEntry | undefined {
    this.#check();
    return this.#lru.get(key);
  }

  /** @inheritdoc */
  getMany(keys: readonly string[]): Array<StoredEntry | undefined> {
    this.#check();
    return keys.map((key) => this.#lru.get(key));
  }

  /** @inheritdoc */
  set(key: string, entry: StoredEntry, ttlSeconds: number): boolean {
    this.#check();
    return this.#store(key, entry, ttlSeconds) !== undefined;
  }

  /** @inheritdoc */
  setAndRead(key: string, entry: StoredEntry, ttlSeconds: number): StoredEntry | undefined {
    this.#check();
    // What it holds right after storing it: the read-back is the entry just kept, as no other
    // code runs in between (one lookup fewer than reading it again).
    return this.#store(key, entry, ttlSeconds);
  }

  /** @inheritdoc */
  setMany(writes: readonly BackendWrite[], ttlSeconds: number): string[] {
    this.#check();
    const failed: string[] = [];
    for (const { key, entry } of writes) {
      if (this.#store(key, entry, ttlSeconds) === undefined) failed.push(key);
    }
    return failed;
  }

  /** @inheritdoc */
  add(key: string, entry: StoredEntry, ttlSeconds: number): boolean {
    this.#check();
    if (this.#lru.has(key)) return false;
    return this.#store(key, entry, ttlSeconds) !== undefined;
  }

  /** @inheritdoc */
  touch(key: string, ttlSeconds: number): boolean {
    this.#check();
    const entry = this.#lru.get(key);
    if (entry === undefined) return false;
    return this.#store(key, entry, ttlSeconds) !== undefined;
  }

  /** @inheritdoc */
  incr(key: string, delta: bigint): bigint | undefined {
    return this.#count(key, delta, true);
  }

  /** @inheritdoc */
  decr(key: string, delta: bigint): bigint | undefined {
    return this.#count(key, delta, false);
  }

  #count(key: string, delta: bigint, up: boolean): bigint | undefined {
    this.#check();
    const entry = this.#lru.get(key);
    if (entry === undefined) return undefined;
    const text = toBytes(entry.value).toString('latin1');
    const current = DECIMAL.test(text) ? BigInt(text.trimEnd()) : -1n;
    if (current < 0n || current >= UNSIGNED_64) {
      throw new CacheValueError(
        `cannot ${up ? 'increment' : 'decrement'} a value that is not an unsigned 64-bit decimal integer`,
      );
    }
    let next = up ? (current + delta) % UNSIGNED_64 : current - delta;
    if (next < 0n) next = 0n;
    // Keep the entry's flags and remaining TTL, as memcached does.
    this.#lru.set(
      key,
      { value: Buffer.from(next.toString(), 'latin1'), flags: entry.flags },
      { noUpdateTTL: true },
    );
    return next;
  }

  /**
   * Deletes `key` only while it holds exactly `expected` (same flags and bytes): the compare-and-
   * delete the client uses when a write quarantine ends. Atomic: the store lives in this thread.
   */
  deleteIf(key: string, expected: StoredEntry): boolean {
    this.#check();
    const held = this.#lru.peek(key);
    if (held === undefined || !sameEntry(held, expected)) return false;
    this.#lru.delete(key);
    return true;
  }

  /**
   * Compare-and-set, the commit of a lease: stores `entry` only while `key` holds exactly
   * `expected` (same flags and bytes), and resolves what it holds afterwards (`false` when the
   * compare failed). Atomic: the store lives in this thread.
   */
  setIf(
    key: string,
    expected: StoredEntry,
    entry: StoredEntry,
    ttlSeconds: number,
  ): StoredEntry | false | undefined {
    this.#check();
    const held = this.#lru.peek(key);
    if (held === undefined || !sameEntry(held, expected)) return false;
    return this.#store(key, entry, ttlSeconds);
  }

  /** @inheritdoc */
  delete(key: string): boolean {
    this.#check();
    // lru-cache answers true for an expired entry it still holds; memcached says NOT_FOUND.
    const existed = this.#lru.has(key);
    this.#lru.delete(key);
    return existed;
  }

  /** @inheritdoc */
  deleteMany(keys: readonly string[]): void {
    this.#check();
    for (const key of keys) this.#lru.delete(key);
  }

  /** In process: nothing to reach; throws only once the backend is closed. */
  ping(): void {
    this.#check();
  }

  /** @inheritdoc */
  clear(): void {
    this.#check();
    this.#lru.clear();
  }

  /** @inheritdoc */
  flush(delaySeconds: number): void {
    this.#check();
    if (delaySeconds > 0) {
      this.#flushAt = this.#clock.now() + delaySeconds * 1000;
      return;
    }
    this.#flushAt = undefined;
    this.#lru.clear();
  }

  /** Number of entries held, expired ones included until they are next touched. */
  get size(): number {
    return this.#lru.size;
  }

  /** Bytes held, as counted for `maxBytes`. */
  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  /** @inheritdoc */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lru.clear();
  }
}

/**
 * Creates an in-memory backend.
 *
 * @example
 * const cache = new CacheClient({ backend: createMemoryBackend({ maxEntries: 1000 }) });
 */
export function createMemoryBackend(options?: MemoryBackendOptions): MemoryBackend {
  return new MemoryBackend(options);
}

/** The query options a `memory://` URL may carry, all positive integers. */
const URL_OPTIONS = {
  maxEntries: 'integer',
  maxBytes: 'integer',
  maxValueBytes: 'integer',
  maxKeyBytes: 'integer',
} as const;

/**
 * Creates a memory backend from a `memory://` URL, for `getCache`. Query parameters set the
 * numeric options: `memory://?maxEntries=1000&maxBytes=1048576`.
 */
export function createBackendFromUrl(url: URL, _options?: BackendUrlOptions): MemoryBackend {
  if (url.protocol !== 'memory:') {
    throw new CacheConfigError(`the memory backend needs a memory:// URL; got ${url.protocol}//`);
  }
  return new MemoryBackend(parseUrlOptions('memory', url.searchParams, URL_OPTIONS));
}
