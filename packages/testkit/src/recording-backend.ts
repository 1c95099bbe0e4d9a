// A Map-based backend that keeps the backend contract and records every call, so tests can
// assert exactly what reached the backend (or that nothing did). Core's tests use it where the
// memory backend cannot go (core cannot depend on a backend package).
import {
  contractError,
  VALUE_ERROR,
  type Answer,
  type Entry,
  type Write,
} from './backend-shape.js';

/** memcached's key limit, the default of every bundled backend. */
const MEMCACHED_MAX_KEY_BYTES = 250;

/** One recorded backend call. */
export interface BackendCall {
  readonly op: string;
  readonly keys: readonly string[];
  /** TTL in seconds, for writes and `touch`. */
  readonly ttl?: number;
  /** Delay in seconds, for `flush`. */
  readonly delay?: number;
}

/** Options of {@link RecordingBackend}. */
export interface RecordingBackendOptions {
  /** Answer every call with a promise instead of synchronously. @default false */
  readonly async?: boolean;
  /** Offer `setAndRead`. @default false */
  readonly setAndRead?: boolean;
  /** Offer `deleteIf` (compare-and-delete). @default false */
  readonly deleteIf?: boolean;
  /** Offer `setIf` (compare-and-set, which leases need). @default false */
  readonly setIf?: boolean;
  /** Declared `capabilities.delayedFlush`. @default true */
  readonly delayedFlush?: boolean;
  readonly maxKeyBytes?: number;
  readonly maxValueBytes?: number;
  /** Clock in milliseconds for TTLs. @default Date.now */
  readonly now?: () => number;
}

interface Slot {
  entry: Entry;
  expiresAt: number | undefined;
}

const UNSIGNED_64 = 2n ** 64n;

/**
 * A contract-keeping in-memory backend that records calls. `tamper` lets a test make the
 * "server" store different bytes (or nothing) than it was given, for the integrity check.
 */
export class RecordingBackend {
  readonly name: string = 'recording';
  readonly capabilities: {
    readonly ttlPrecision: 'milliseconds';
    readonly scopedClear: boolean;
    readonly counters: 'unsigned64';
    readonly delayedFlush: boolean;
  };
  readonly limits: { readonly maxKeyBytes: number; readonly maxValueBytes: number };
  readonly calls: BackendCall[] = [];
  /**
   * Applied to every stored entry: return a different entry to store, or `undefined` to store
   * nothing while still answering "stored".
   */
  tamper: ((key: string, entry: Entry) => Entry | undefined) | undefined;
  /** Per key, whether a write (`set`, `setMany`, `add`, `setAndRead`) is refused. */
  refuse: ((key: string) => boolean) | undefined;
  /** How many times `close` was called. */
  closeCount = 0;
  /** Present only with the `setAndRead` option, as the contract's optional method. */
  setAndRead?: (key: string, entry: Entry, ttl: number) => Answer<Entry | undefined>;
  /** Present only with the `deleteIf` option, as the contract's optional method. */
  deleteIf?: (key: string, expected: Entry) => Answer<boolean>;
  /** Present only with the `setIf` option, as the contract's optional method. */
  setIf?: (
    key: string,
    expected: Entry,
    entry: Entry,
    ttl: number,
  ) => Answer<Entry | false | undefined>;
  readonly #slots = new Map<string, Slot>();
  readonly #async: boolean;
  readonly #now: () => number;

  constructor(options: RecordingBackendOptions = {}) {
    this.capabilities = {
      ttlPrecision: 'milliseconds',
      scopedClear: true,
      counters: 'unsigned64',
      delayedFlush: options.delayedFlush ?? true,
    };
    this.limits = {
      maxKeyBytes: options.maxKeyBytes ?? MEMCACHED_MAX_KEY_BYTES,
      maxValueBytes: options.maxValueBytes ?? 1024 * 1024,
    };
    this.#async = options.async ?? false;
    this.#now = options.now ?? Date.now;
    if (options.setAndRead === true) {
      this.setAndRead = (key, entry, ttl) => {
        this.calls.push({ op: 'setAndRead', keys: [key], ttl });
        return this.#answer(this.#store(key, entry, ttl) ? this.#read(key) : undefined);
      };
    }
    if (options.deleteIf === true) {
      this.deleteIf = (key, expected) => {
        this.calls.push({ op: 'deleteIf', keys: [key] });
        const same = this.#holds(key, expected);
        if (same) this.#slots.delete(key);
        return this.#answer(same);
      };
    }
    if (options.setIf === true) {
      this.setIf = (key, expected, entry, ttl) => {
        this.calls.push({ op: 'setIf', keys: [key], ttl });
        if (!this.#holds(key, expected)) return this.#answer(false);
        return this.#answer(this.#store(key, entry, ttl) ? this.#read(key) : undefined);
      };
    }
  }

  /** Whether `key` holds exactly `expected` (flags and bytes). */
  #holds(key: string, expected: Entry): boolean {
    const held = this.#read(key);
    return (
      held !== undefined &&
      held.flags === expected.flags &&
      Buffer.from(held.value).equals(Buffer.from(expected.value))
    );
  }

  /** Ops of the recorded calls, in order. */
  get ops(): string[] {
    return this.calls.map((call) => call.op);
  }

  /** Full keys currently held (expired ones left out). */
  keys(): string[] {
    return [...this.#slots.keys()].filter((key) => this.#read(key) !== undefined);
  }

  /** Reads an entry without recording a call. */
  peek(key: string): Entry | undefined {
    return this.#read(key);
  }

  /**
   * Writes an entry, without expiry, without recording a call (data "written by another
   * process"). A string is stored as its UTF-8 bytes.
   */
  put(key: string, value: Uint8Array | string, flags: number): void {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    this.#slots.set(key, { entry: { value: bytes, flags }, expiresAt: undefined });
  }

  #expiry(ttlSeconds: number): number | undefined {
    return ttlSeconds === 0 ? undefined : this.#now() + ttlSeconds * 1000;
  }

  #answer<R>(value: R): Answer<R> {
    return this.#async ? Promise.resolve(value) : value;
  }

  #read(key: string): Entry | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAt !== undefined && this.#now() >= slot.expiresAt) {
      this.#slots.delete(key);
      return undefined;
    }
    return slot.entry;
  }

  #store(key: string, entry: Entry, ttl: number): boolean {
    if (this.refuse?.(key) === true) return false;
    const kept = this.tamper === undefined ? entry : this.tamper(key, entry);
    if (kept === undefined) this.#slots.delete(key);
    else this.#slots.set(key, { entry: kept, expiresAt: this.#expiry(ttl) });
    return true;
  }

  // The contract's methods (core's `CacheBackend`), each recorded in `calls`.

  get(key: string): Answer<Entry | undefined> {
    this.calls.push({ op: 'get', keys: [key] });
    return this.#answer(this.#read(key));
  }

  getMany(keys: readonly string[]): Answer<ReadonlyArray<Entry | undefined>> {
    this.calls.push({ op: 'getMany', keys: [...keys] });
    return this.#answer(keys.map((key) => this.#read(key)));
  }

  set(key: string, entry: Entry, ttl: number): Answer<boolean> {
    this.calls.push({ op: 'set', keys: [key], ttl });
    return this.#answer(this.#store(key, entry, ttl));
  }

  setMany(writes: readonly Write[], ttl: number): Answer<readonly string[]> {
    this.calls.push({ op: 'setMany', keys: writes.map((write) => write.key), ttl });
    const failed: string[] = [];
    for (const { key, entry } of writes) if (!this.#store(key, entry, ttl)) failed.push(key);
    return this.#answer(failed);
  }

  add(key: string, entry: Entry, ttl: number): Answer<boolean> {
    this.calls.push({ op: 'add', keys: [key], ttl });
    if (this.#read(key) !== undefined) return this.#answer(false);
    return this.#answer(this.#store(key, entry, ttl));
  }

  touch(key: string, ttl: number): Answer<boolean> {
    this.calls.push({ op: 'touch', keys: [key], ttl });
    const slot = this.#read(key) === undefined ? undefined : this.#slots.get(key);
    if (slot === undefined) return this.#answer(false);
    slot.expiresAt = this.#expiry(ttl);
    return this.#answer(true);
  }

  incr(key: string, delta: bigint): Answer<bigint | undefined> {
    this.calls.push({ op: 'incr', keys: [key] });
    return this.#answer(this.#count(key, delta, 'up'));
  }

  decr(key: string, delta: bigint): Answer<bigint | undefined> {
    this.calls.push({ op: 'decr', keys: [key] });
    return this.#answer(this.#count(key, delta, 'down'));
  }

  // memcached's counter rules: incr wraps at 2^64, decr stops at 0.
  #count(key: string, delta: bigint, direction: 'up' | 'down'): bigint | undefined {
    const entry = this.#read(key);
    if (entry === undefined) return undefined;
    const text = Buffer.from(entry.value).toString('latin1').trimEnd();
    if (!/^\d{1,20}$/.test(text) || BigInt(text) >= UNSIGNED_64) {
      throw contractError(VALUE_ERROR, 'not an unsigned 64-bit decimal integer');
    }
    const current = BigInt(text);
    let next = direction === 'up' ? (current + delta) % UNSIGNED_64 : current - delta;
    if (next < 0n) next = 0n;
    const slot = this.#slots.get(key) as Slot;
    slot.entry = { value: Buffer.from(next.toString(), 'latin1'), flags: entry.flags };
    return next;
  }

  delete(key: string): Answer<boolean> {
    this.calls.push({ op: 'delete', keys: [key] });
    const existed = this.#read(key) !== undefined;
    this.#slots.delete(key);
    return this.#answer(existed);
  }

  deleteMany(keys: readonly string[]): Answer<void> {
    this.calls.push({ op: 'deleteMany', keys: [...keys] });
    for (const key of keys) this.#slots.delete(key);
    return this.#answer(undefined);
  }

  clear(): Answer<void> {
    this.calls.push({ op: 'clear', keys: [] });
    this.#slots.clear();
    return this.#answer(undefined);
  }

  flush(delay: number): Answer<void> {
    this.calls.push({ op: 'flush', keys: [], delay });
    if (delay === 0) this.#slots.clear();
    return this.#answer(undefined);
  }

  close(): Answer<void> {
    this.calls.push({ op: 'close', keys: [] });
    this.closeCount++;
    return this.#answer(undefined);
  }
}
