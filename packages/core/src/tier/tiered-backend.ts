import type {
  Awaitable,
  BackendCapabilities,
  BackendLimits,
  BackendWrite,
  CacheBackend,
  StoredEntry,
} from '../backend/contract.js';
import { LEASE_FLAGS } from '../backend/lease-marker.js';
import { isPromise } from '../backend/port.js';
import { sameEntry } from '../bytes.js';
import { BusLink, type BusOption } from './bus-link.js';
import type { ResolvedL1 } from './l1-options.js';
import { L1Store, type L1Stats } from './l1-store.js';

/** How the tier is built: its L1, the bus (if any), the clock and where bus warnings go. */
export interface TierOptions {
  readonly l1: ResolvedL1;
  readonly bus: BusOption | undefined;
  /** Epoch milliseconds (the client's clock). */
  readonly now: () => number;
  /** Reports a `bus` warning. */
  readonly warn: (error: Error) => void;
  /**
   * Another process changed `keys` (`undefined`: everything, or messages may have been lost):
   * what the client keeps beside the L1 for those keys (the last good values `getOrSet` serves
   * while the backend is down) must go too.
   */
  readonly changedElsewhere: (keys: readonly string[] | undefined) => void;
}

/** A TTL in seconds as the longest life of an L1 copy, in milliseconds (`0`: no expiry). */
function ttlMs(ttlSeconds: number): number {
  return ttlSeconds > 0 ? ttlSeconds * 1000 : Infinity;
}

/** Whether an entry may be kept: never a lease marker (waiters must see it go). */
function keepable(entry: StoredEntry | undefined): StoredEntry | undefined {
  return entry === undefined || entry.flags === LEASE_FLAGS ? undefined : entry;
}

/**
 * Runs `then` on what `answer` holds, synchronously when it is a value; `always` runs on
 * success and failure alike. The answer is handed on unchanged (a rejection rejects).
 */
function settle<T>(
  answer: Awaitable<T>,
  then: (value: T) => void,
  always: () => void,
): Awaitable<T> {
  if (!isPromise(answer)) {
    then(answer);
    always();
    return answer;
  }
  return answer.then(
    (value) => {
      then(value);
      always();
      return value;
    },
    (error: unknown) => {
      always();
      throw error;
    },
  );
}

/**
 * Sends with `send` and settles as {@link settle} does; a synchronous throw runs `always` too and
 * is thrown on.
 */
function run<T>(
  send: () => Awaitable<T>,
  then: (value: T) => void,
  always: () => void,
): Awaitable<T> {
  let answer: Awaitable<T>;
  try {
    answer = send();
  } catch (error) {
    always();
    throw error;
  }
  return settle(answer, then, always);
}

/**
 * The L1 tier: a {@link CacheBackend} in front of a remote one that answers repeat reads from
 * process memory. It sits below the client's port, so every rule above it — keys, scopes,
 * encoding, integrity checks, leases, quarantine, deadlines — is the same with or without it, and
 * what reaches the remote backend is exactly what would without it.
 *
 * Consistency, in the client's "when in doubt, delete" sense:
 * - a write or delete by this process drops the key's copy before it is sent; a copy is kept
 *   again only from a confirmed answer (a `set` that stored, a read) of an operation that no
 *   invalidation of the key raced with — a read that began before a delete never refills it;
 * - every change is published on the bus after the remote backend answered (or failed: a write
 *   in doubt may have landed), and other processes drop their copies when it arrives;
 * - with a bus, copies are served only while the subscription is live, and all are dropped
 *   whenever it was lost (messages may have been missed);
 * - lease markers are never kept; a copy lives at most `l1.ttl` and, when this process wrote
 *   it, no longer than the write's TTL.
 */
export class TieredBackend implements CacheBackend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly limits: BackendLimits;
  readonly setAndRead?: CacheBackend['setAndRead'];
  readonly setIf?: CacheBackend['setIf'];
  readonly deleteIf?: CacheBackend['deleteIf'];
  readonly ping?: CacheBackend['ping'];
  readonly serverFor?: CacheBackend['serverFor'];
  readonly onWarning?: CacheBackend['onWarning'];
  readonly #remote: CacheBackend;
  readonly #store: L1Store;
  readonly #link: BusLink | undefined;
  /** Whether copies may be served and kept: always without a bus, while it is live with one. */
  #live: boolean;
  /** Timers of delayed flushes, which empty every L1 again when the server runs them. */
  readonly #delayedClears = new Set<NodeJS.Timeout>();

  constructor(remote: CacheBackend, options: TierOptions) {
    this.#remote = remote;
    this.name = remote.name;
    this.capabilities = remote.capabilities;
    this.limits = remote.limits;
    this.#store = new L1Store(options.l1, options.now);
    this.#live = options.bus === undefined;
    this.#link =
      options.bus === undefined
        ? undefined
        : new BusLink(options.bus, {
            drop: (keys) => {
              for (const key of keys) this.#store.invalidate(key);
              options.changedElsewhere(keys);
            },
            dropAll: (why) => {
              this.#store.clear();
              // Losing the bus changed nothing yet: the last good values stay for a backend outage.
              if (why !== 'lost') options.changedElsewhere(undefined);
            },
            liveness: (live) => {
              this.#live = live;
            },
            warn: options.warn,
          });
    if (remote.setAndRead !== undefined) {
      this.setAndRead = (key, entry, ttl) => this.#setAndRead(key, entry, ttl);
    }
    if (remote.setIf !== undefined) {
      this.setIf = (key, expected, entry, ttl) => this.#setIf(key, { expected, entry, ttl });
    }
    if (remote.deleteIf !== undefined) {
      const deleteIf = remote.deleteIf.bind(remote);
      this.deleteIf = (key, expected) => this.#changing([key], () => deleteIf(key, expected));
    }
    if (remote.ping !== undefined) this.ping = remote.ping.bind(remote);
    if (remote.serverFor !== undefined) this.serverFor = remote.serverFor.bind(remote);
    if (remote.onWarning !== undefined) this.onWarning = remote.onWarning.bind(remote);
  }

  /** What the L1 counts (hits, misses, size, evictions) and whether it serves now. */
  stats(): L1Stats {
    return this.#store.stats(this.#live);
  }

  get(key: string): Awaitable<StoredEntry | undefined> {
    if (!this.#live) return this.#remote.get(key);
    const copy = this.#store.get(key);
    if (copy !== undefined) return copy;
    const token = this.#store.begin(key);
    let kept: StoredEntry | undefined;
    let expiry: Awaitable<number> | undefined;
    return run(
      () => {
        const answer = this.#remote.get(key);
        expiry = this.#expiryOf(key);
        return answer;
      },
      (found) => {
        kept = this.#live ? keepable(found) : undefined;
      },
      () => this.#fill(key, { token, entry: kept, expiry }),
    );
  }

  /**
   * How long the remote backend keeps `key` (`ttlOf`), asked right after the read that fills its
   * copy so a pipelining backend sends both in one write: a copy must not outlive the item. `0`
   * (keep nothing) when the item is gone or the question failed; `undefined` when the backend
   * cannot tell (the copy lives `l1.ttl`).
   */
  #expiryOf(key: string): Awaitable<number> | undefined {
    const remote = this.#remote;
    if (remote.ttlOf === undefined || !this.#live) return undefined;
    let answer: Awaitable<number | undefined>;
    try {
      answer = remote.ttlOf(key);
    } catch {
      return 0;
    }
    return isPromise(answer)
      ? answer.then(
          (ms) => ms ?? 0,
          () => 0,
        )
      : (answer ?? 0);
  }

  /** Fills `key`'s copy once its remote expiry (if asked) is known. */
  #fill(
    key: string,
    fill: {
      readonly token: number;
      readonly entry: StoredEntry | undefined;
      readonly expiry: Awaitable<number> | undefined;
    },
  ): void {
    const { token, entry, expiry } = fill;
    if (!isPromise(expiry)) {
      this.#store.fill(key, token, entry, expiry);
      return;
    }
    void expiry.then((ms) => this.#store.fill(key, token, entry, ms));
  }

  getMany(keys: readonly string[]): Awaitable<ReadonlyArray<StoredEntry | undefined>> {
    if (!this.#live) return this.#remote.getMany(keys);
    const found: Array<StoredEntry | undefined> = new Array<StoredEntry | undefined>(keys.length);
    const missing: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const copy = this.#store.get(keys[i] as string);
      if (copy === undefined) missing.push(i);
      else found[i] = copy;
    }
    if (missing.length === 0) return found;
    const missingKeys = missing.map((i) => keys[i] as string);
    const tokens = missingKeys.map((key) => this.#store.begin(key));
    let answered: ReadonlyArray<StoredEntry | undefined> | undefined;
    let expiries: Array<Awaitable<number> | undefined> = [];
    const fillAll = (): void => {
      for (let j = 0; j < missingKeys.length; j++) {
        const entry = answered !== undefined && this.#live ? keepable(answered[j]) : undefined;
        const token = tokens[j] as number;
        this.#fill(missingKeys[j] as string, { token, entry, expiry: expiries[j] });
      }
    };
    const merged = run(
      () => {
        const answer = this.#remote.getMany(missingKeys);
        expiries = missingKeys.map((key) => this.#expiryOf(key));
        return answer;
      },
      (entries) => {
        answered = entries;
        for (let j = 0; j < missing.length; j++) found[missing[j] as number] = entries[j];
      },
      fillAll,
    );
    return isPromise(merged) ? merged.then(() => found) : found;
  }

  set(key: string, entry: StoredEntry, ttlSeconds: number): Awaitable<boolean> {
    // Without `setAndRead` the client's integrity check is this `set` and then a `get`: keeping a
    // copy now would answer that `get` from memory and check nothing.
    const keeps = this.#remote.setAndRead !== undefined;
    return this.#writing(
      key,
      ttlSeconds,
      () => this.#remote.set(key, entry, ttlSeconds),
      (stored) => (stored && keeps ? entry : undefined),
    );
  }

  #setAndRead(
    key: string,
    entry: StoredEntry,
    ttlSeconds: number,
  ): Awaitable<StoredEntry | undefined> {
    const remote = this.#remote as Required<Pick<CacheBackend, 'setAndRead'>>;
    return this.#writing(
      key,
      ttlSeconds,
      () => remote.setAndRead(key, entry, ttlSeconds),
      (read) => (sameEntry(read, entry) ? entry : undefined),
    );
  }

  #setIf(
    key: string,
    write: { readonly expected: StoredEntry; readonly entry: StoredEntry; readonly ttl: number },
  ): Awaitable<StoredEntry | false | undefined> {
    const remote = this.#remote as Required<Pick<CacheBackend, 'setIf'>>;
    const { expected, entry, ttl } = write;
    return this.#writing(
      key,
      ttl,
      () => remote.setIf(key, expected, entry, ttl),
      (read) => (read !== false && sameEntry(read, entry) ? entry : undefined),
    );
  }

  add(key: string, entry: StoredEntry, ttlSeconds: number): Awaitable<boolean> {
    return this.#writing(
      key,
      ttlSeconds,
      () => this.#remote.add(key, entry, ttlSeconds),
      (added) => (added ? entry : undefined),
    );
  }

  setMany(writes: readonly BackendWrite[], ttlSeconds: number): Awaitable<readonly string[]> {
    const store = this.#store;
    const tokens = writes.map((write) => {
      store.invalidate(write.key);
      return store.begin(write.key);
    });
    let refused: ReadonlySet<string> | undefined;
    const end = (): void => {
      for (let i = 0; i < writes.length; i++) {
        const { key, entry } = writes[i] as BackendWrite;
        const kept =
          refused !== undefined && !refused.has(key) && this.#live ? keepable(entry) : undefined;
        store.fill(key, tokens[i] as number, kept, ttlMs(ttlSeconds));
        this.#link?.changed(key);
      }
    };
    // With duplicate keys the last write wins remotely; keep no copy of a key written twice.
    const seen = new Set<string>();
    const twice = new Set<string>();
    for (const { key } of writes) (seen.has(key) ? twice : seen).add(key);
    return run(
      () => this.#remote.setMany(writes, ttlSeconds),
      (notStored) => {
        refused = new Set([...notStored, ...twice]);
      },
      end,
    );
  }

  touch(key: string, ttlSeconds: number): Awaitable<boolean> {
    return this.#changing([key], () => this.#remote.touch(key, ttlSeconds));
  }

  incr(key: string, delta: bigint): Awaitable<bigint | undefined> {
    return this.#changing([key], () => this.#remote.incr(key, delta));
  }

  decr(key: string, delta: bigint): Awaitable<bigint | undefined> {
    return this.#changing([key], () => this.#remote.decr(key, delta));
  }

  delete(key: string): Awaitable<boolean> {
    return this.#changing([key], () => this.#remote.delete(key));
  }

  deleteMany(keys: readonly string[]): Awaitable<void> {
    return this.#changing(keys, () => this.#remote.deleteMany(keys));
  }

  clear(): Awaitable<void> {
    return this.#clearing(() => this.#remote.clear());
  }

  flush(delaySeconds: number): Awaitable<void> {
    if (delaySeconds > 0) {
      // memcached empties itself only when the delay ends: copies filled in between would
      // outlive the items, so every L1 is emptied again then (this process's timer, unref'd).
      const timer = setTimeout(() => {
        this.#delayedClears.delete(timer);
        this.#store.clear();
        this.#link?.cleared();
      }, delaySeconds * 1000);
      timer.unref();
      this.#delayedClears.add(timer);
    }
    return this.#clearing(() => this.#remote.flush(delaySeconds));
  }

  /** Closes the bus, then the remote backend. */
  async close(): Promise<void> {
    await this.closeTier();
    await this.#remote.close();
  }

  /** Closes the bus and empties the L1, leaving the remote backend open (a client that does not own it). */
  async closeTier(): Promise<void> {
    this.#live = false;
    for (const timer of this.#delayedClears) clearTimeout(timer);
    this.#delayedClears.clear();
    this.#store.clear();
    await this.#link?.close();
  }

  /**
   * A write of `key` whose confirmed answer may leave a copy: drops the copy, sends, keeps
   * `kept(answer)` unless an invalidation raced, and publishes the change either way.
   */
  #writing<T>(
    key: string,
    ttlSeconds: number,
    send: () => Awaitable<T>,
    kept: (answer: T) => StoredEntry | undefined,
  ): Awaitable<T> {
    const store = this.#store;
    store.invalidate(key);
    const token = store.begin(key);
    let entry: StoredEntry | undefined;
    const end = (): void => {
      store.fill(key, token, entry, ttlMs(ttlSeconds));
      this.#link?.changed(key);
    };
    return run(
      send,
      (value) => {
        entry = this.#live ? keepable(kept(value)) : undefined;
      },
      end,
    );
  }

  /** A change of `keys` that leaves no copy (deletes, touch, counters): drop, send, drop, publish. */
  #changing<T>(keys: readonly string[], send: () => Awaitable<T>): Awaitable<T> {
    for (const key of keys) this.#store.invalidate(key);
    const end = (): void => {
      for (const key of keys) {
        // Again after the answer: a read that began in between must not keep what it saw.
        this.#store.invalidate(key);
        this.#link?.changed(key);
      }
    };
    return run(send, () => {}, end);
  }

  #clearing(send: () => Awaitable<void>): Awaitable<void> {
    this.#store.clear();
    const end = (): void => {
      this.#store.clear();
      this.#link?.cleared();
    };
    return run(send, () => {}, end);
  }
}
