/**
 * The backend contract: what every storage backend (memory, memcached, Redis, or your own)
 * implements. A backend moves bytes and a 32-bit flags value and nothing else: the client owns
 * keys (prefix, scope, validation, hashing), encoding (flags, compression, encryption), integrity,
 * recent keys, deadlines and the error policy.
 *
 * Run `@stowage/conformance` against a backend to check it keeps this contract.
 */

/**
 * The value limit every bundled backend applies by default, in bytes (after compression and
 * encryption): 1 MiB − 512, the largest value memcached's default `-I 1m` stores with a 250-byte
 * key. One limit on memory, memcached and Redis, so a unit test on the memory backend refuses
 * what production memcached would.
 */
export const DEFAULT_MAX_VALUE_BYTES: number = 1024 * 1024 - 512;

/** A value or a promise of it. Backends that answer synchronously save the client a promise. */
export type Awaitable<T> = T | Promise<T>;

/** What a backend stores under a key: opaque bytes plus the flags value. */
export interface StoredEntry {
  /**
   * The payload. The client never mutates a buffer after handing it over, and backends must not
   * mutate one they return; a backend may therefore keep and return the same buffer. An
   * in-process backend may keep the entry object itself and hand it back on reads: the client
   * recognises the entries it made and skips decoding their bytes.
   */
  readonly value: Uint8Array;
  /**
   * An unsigned 32-bit integer stored opaquely beside the value. The client stores a
   * {@link CacheReturnCode}; backends must round-trip any value from 0 to 2^32 − 1.
   */
  readonly flags: number;
}

/**
 * Something a backend absorbed without failing the call: an item larger than the limit read as a
 * miss, a reply it threw away. The client turns it into a `warning` event of kind `'backend'`.
 */
export interface BackendWarning {
  /** The backend method that saw it (`get`, `getMany`, …). */
  readonly operation: string;
  /** The full key it concerns, when there is one. */
  readonly key?: string | undefined;
  /** What happened, as a Stowage error (its `code` says what kind). */
  readonly error: Error;
}

/** One write of a batch (`setMany`). */
export interface BackendWrite {
  /** The full key (already prefixed, scoped and validated by the client). */
  readonly key: string;
  /** The bytes and flags to store. */
  readonly entry: StoredEntry;
}

/** Static facts about a backend. The conformance suite checks every claim. */
export interface BackendCapabilities {
  /**
   * Finest TTL the store enforces. A `'seconds'` backend rounds a fractional TTL **up** to whole
   * seconds, so 0.5 s becomes 1 s and never 0 (which would mean "no expiry").
   */
  readonly ttlPrecision: 'milliseconds' | 'seconds';
  /**
   * `true` when `clear()` removes only this backend's own namespace; `false` when it has to flush
   * the whole server (memcached cannot list keys).
   */
  readonly scopedClear: boolean;
  /**
   * Optional: the per-call deadline, in milliseconds, the backend enforces itself — every call
   * the client makes settles within this long, rejecting with `CacheTimeoutError` when the server
   * does not answer in time. When it is a positive number no greater than the client's own
   * `timeoutMs`, the client arms no second timer per call; otherwise (absent, larger, or not a
   * positive number) the client keeps its timer, so its `timeoutMs` holds whatever is declared.
   * Declare it only if every method but `clear()` and `close()` keeps it.
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Counter semantics of `incr`/`decr`:
   * - `'unsigned64'` — memcached: values are 0 … 2^64 − 1, `incr` wraps at 2^64, `decr` stops at 0;
   * - `'signed64'` — Redis: values are −2^63 … 2^63 − 1, `decr` may go negative, overflow is an error.
   */
  readonly counters: 'unsigned64' | 'signed64';
  /** `true` when `flush(delaySeconds)` honours a delay greater than 0. */
  readonly delayedFlush: boolean;
}

/** Size limits a backend enforces; the client checks them before any I/O. */
export interface BackendLimits {
  /** Largest full key, in UTF-8 bytes. memcached's limit, 250, is every bundled backend's default. */
  readonly maxKeyBytes: number;
  /** Largest stored payload, in bytes, after compression and encryption. */
  readonly maxValueBytes: number;
}

/**
 * A storage backend. Every method may answer synchronously or with a promise.
 *
 * Rules every implementation keeps (the conformance suite checks each):
 * - keys arrive already validated; values are opaque bytes and flags;
 * - a miss is `undefined`, never `null`;
 * - a TTL is in seconds, may be fractional, and `0` means no expiry;
 * - a value over `limits.maxValueBytes` is refused, never thrown: `set`/`add` resolve `false`,
 *   `setMany` lists the key, `setAndRead` resolves `undefined` — and the key holds no older value
 *   afterwards (as memcached unlinks an item on "object too large");
 * - transport failures are thrown as `CacheBackendError` (or `CacheTimeoutError`) with the client
 *   error as `cause` — never swallowed, never logged, never a raw client error. `indeterminate`
 *   follows one rule (`transportError` in `@stowage/core/backend`): a write, deletes included,
 *   whose bytes may have reached the server;
 * - when part of a batch fails (one server of several), the call throws `CacheBatchError` carrying
 *   what the healthy part answered; the client decides whether the caller gets the partial result;
 * - a call on a closed backend throws `CacheClosedError` (code `E_CACHE_CLOSED`) before any I/O;
 * - every call settles: remote backends keep their own per-call deadline and clean up behind it;
 * - a read never returns bytes that belong to another key.
 */
export interface CacheBackend {
  /** Short name used in errors and events (`memory`, `memcached`, `redis`). */
  readonly name: string;
  /** What the backend can do; see {@link BackendCapabilities}. */
  readonly capabilities: BackendCapabilities;
  /** Key and value size limits; see {@link BackendLimits}. */
  readonly limits: BackendLimits;

  /** Reads one entry; `undefined` on a miss. */
  get(key: string): Awaitable<StoredEntry | undefined>;
  /**
   * Reads many entries in as few round trips as the transport allows. The result is aligned with
   * `keys`: element `i` is the entry of `keys[i]` or `undefined`. Duplicate keys are allowed.
   */
  getMany(keys: readonly string[]): Awaitable<ReadonlyArray<StoredEntry | undefined>>;
  /** Stores an entry. Resolves `false` when the server refused it (for example: too large). */
  set(key: string, entry: StoredEntry, ttlSeconds: number): Awaitable<boolean>;
  /**
   * Optional: stores an entry and reads it back in one round trip (memcached: a pipelined set and
   * get on one connection; Redis: one pipeline), for the client's integrity check. Resolves the
   * entry as read back, or `undefined` when the server does not hold it. Without this method the
   * client calls `set` then `get`.
   */
  setAndRead?(
    key: string,
    entry: StoredEntry,
    ttlSeconds: number,
  ): Awaitable<StoredEntry | undefined>;
  /**
   * Stores many entries, pipelined. Resolves the keys that were **not** stored. With duplicate
   * keys the last write wins.
   */
  setMany(writes: readonly BackendWrite[], ttlSeconds: number): Awaitable<readonly string[]>;
  /** Stores only if the key holds nothing; resolves `false` when it already exists. */
  add(key: string, entry: StoredEntry, ttlSeconds: number): Awaitable<boolean>;
  /** Sets a new TTL on an existing entry; resolves `false` on a miss. */
  touch(key: string, ttlSeconds: number): Awaitable<boolean>;
  /**
   * Adds `delta` (≥ 0) to a decimal integer value, keeping its flags and TTL. Works on the bytes
   * whatever the flags (memcached's `incr` does not read them): a String item `'7'` becomes
   * `'8'` and stays a String. Resolves the new value, or `undefined` on a miss. Throws
   * `CacheValueError` when the stored bytes are not a decimal integer. See
   * {@link BackendCapabilities.counters} for the range.
   */
  incr(key: string, delta: bigint): Awaitable<bigint | undefined>;
  /** Subtracts `delta` (≥ 0); otherwise as {@link CacheBackend.incr}. */
  decr(key: string, delta: bigint): Awaitable<bigint | undefined>;
  /** Deletes one entry; resolves `true` when it existed. */
  delete(key: string): Awaitable<boolean>;
  /**
   * Optional: a compare-and-delete. Deletes `key` only while it holds exactly `expected` — the
   * same bytes and flags — atomically with respect to other writers (memcached: `get` then
   * `delete` with the item's CAS value; Redis: one script comparing the stored bytes). Resolves
   * `true` when it deleted, `false` when the key held something else or nothing. The client calls
   * it when a write quarantine ends, so that a newer write by anyone survives; without it the
   * client deletes the key unconditionally (a miss is always safe).
   */
  deleteIf?(key: string, expected: StoredEntry): Awaitable<boolean>;
  /**
   * Optional: compare-and-set, the commit of a lease. Stores `entry` with `ttlSeconds` only while
   * `key` holds exactly `expected` — the same bytes and flags — atomically with respect to other
   * writers (memcached: a `set` carrying the item's CAS value; Redis: one script comparing the
   * stored bytes). A key that was deleted, expired, flushed or overwritten since does not hold
   * `expected`, so the write is refused: that is what makes a lease safe against a delete.
   *
   * Resolves `false` when the key did not hold `expected` (nothing was written); otherwise what
   * the key holds right after the write, read back in the same round trip (the client's
   * integrity check compares it with `entry`), or `undefined` when the server holds nothing.
   * A value over `limits.maxValueBytes` is refused as by `set`: the key is deleted, and the call
   * resolves `undefined`. Without this method the client takes no leases: `getOrSet` falls back
   * to single-flight within the process (see the core README, "Leases").
   */
  setIf?(
    key: string,
    expected: StoredEntry,
    entry: StoredEntry,
    ttlSeconds: number,
  ): Awaitable<StoredEntry | false | undefined>;
  /** Deletes many entries, pipelined. */
  deleteMany(keys: readonly string[]): Awaitable<void>;
  /**
   * Removes this backend's entries: only its own namespace when `capabilities.scopedClear`,
   * otherwise everything on the server.
   */
  clear(): Awaitable<void>;
  /** Removes everything on the server (memcached `flush_all`, Redis `FLUSHDB`), after `delaySeconds`. */
  flush(delaySeconds: number): Awaitable<void>;
  /**
   * Optional: one round trip to every server the backend uses (memcached `noop`, Redis `PING`),
   * for health checks; throws when any of them does not answer. Without it, `ping()` reads a key
   * nobody writes, which reaches one server.
   */
  ping?(): Awaitable<void>;
  /**
   * Optional: how long `key` has left on the server, in milliseconds — `Infinity` when it never
   * expires, `undefined` when the server does not hold it (Redis: `PTTL`). An L1 tier calls it
   * beside the read that fills a copy (in the same tick, so a pipelining backend sends both in one
   * write) and keeps the copy no longer than the server keeps the item. Without it, a copy filled
   * from a read lives `l1.ttl` (memcached's binary protocol has no way to read a TTL).
   */
  ttlOf?(key: string): Awaitable<number | undefined>;
  /**
   * Optional: the server (`host:port`) that holds `key`, for traces (`server.address`). Must not
   * do I/O; `undefined` when it is not known (a cluster, an in-process store).
   */
  serverFor?(key: string): string | undefined;
  /**
   * Optional: registers a listener for {@link BackendWarning}s and returns a function that removes
   * it. Each client calls it once when it is created and removes its listener on `close()`, so a
   * backend shared by several clients warns each of them. Backends never log.
   */
  onWarning?(listener: (warning: BackendWarning) => void): () => void;
  /** Releases connections. Idempotent; closes only clients the backend created itself. */
  close(): Awaitable<void>;
}

/** Options `getCache` passes when it creates a backend from a URL. */
export interface BackendUrlOptions {
  /** Per-call deadline, in milliseconds, that the backend should apply to its own I/O. */
  readonly timeoutMs: number;
  /**
   * Every `host[:port]` of the URL, in order. WHATWG `URL` cannot hold a comma-separated host list
   * (`memcached://h1:11211,h2:11211`), so `getCache` passes a `url` whose host is the first one
   * and the full list here; multi-server backends read this. Empty when the URL has no host
   * (`memory://`). Always set by `getCache`; optional so hand-built options stay valid.
   */
  readonly hosts?: readonly string[] | undefined;
}

/**
 * What a backend package exports so `getCache({ url })` can create it: `memory://` loads
 * `@stowage/backend-memory`, `memcached://` `@stowage/backend-memcached`, `redis://` and
 * `rediss://` `@stowage/backend-redis`.
 */
export interface BackendModule {
  /** Creates a backend from a `CACHE_URL`-style URL. Must not open connections. */
  createBackendFromUrl(url: URL, options: BackendUrlOptions): CacheBackend;
}
