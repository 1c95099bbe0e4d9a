import { isPromise } from '../backend/port.js';
import { CacheLeaseTimeoutError, isCacheError, type CacheError } from '../errors.js';
import type { ClientCore } from './client-core.js';
import type { GetOrSetOptions } from './client-options.js';
import { resolveLease, type ResolvedLease } from './lease-options.js';
import { Leases, type HeldLease } from './leases.js';
import type { Ledger } from './ledger.js';
import { LEASED, MISS, type ReadPath } from './read-path.js';
import type { CheckedWrite, WritePath } from './write-path.js';
import type { StoredEntry } from '../backend/contract.js';

/** One flight of a {@link SingleFlight}: the promise concurrent callers share, and its state. */
export interface Flight {
  /** The key callers join it under. */
  readonly key: string;
  /** A group it belongs to, for {@link SingleFlight.supersedeGroup}; `undefined` for none. */
  readonly group: string | undefined;
  /** What joiners get: set by the caller of {@link SingleFlight.start} right after it. */
  promise: Promise<unknown>;
  /**
   * Set when something newer than the flight's read happened to its key (a write, a delete, an
   * invalidation): the flight must not store its result, and nobody joins it any more.
   */
  superseded: boolean;
}

/**
 * Single-flight: concurrent calls for the same key in this process share one run. Used by
 * `getOrSet` and by `@stowage/decorator`, so both follow one rule: a write or delete of the key
 * by this process supersedes the flight in progress — later callers start their own run, and the
 * superseded one does not store its (older) result.
 */
export class SingleFlight {
  readonly #flights = new Map<string, Flight>();

  /** The promise of the flight callers can join for `key`, if any. */
  join(key: string): Promise<unknown> | undefined {
    return this.#flights.get(key)?.promise;
  }

  /**
   * Registers a new flight for `key` (replacing one in progress) and returns it. The caller sets
   * `flight.promise` at once and calls {@link SingleFlight.land} when that promise settles.
   */
  start(key: string, group?: string): Flight {
    const flight: Flight = { key, group, promise: Promise.resolve(), superseded: false };
    this.#flights.set(key, flight);
    return flight;
  }

  /** Ends `flight`: later calls start their own run. A superseded flight may be gone already. */
  land(flight: Flight): void {
    if (this.#flights.get(flight.key) === flight) this.#flights.delete(flight.key);
  }

  /** Supersedes the flight in progress for `key`, if any. */
  supersede(key: string): void {
    const flight = this.#flights.get(key);
    if (flight === undefined) return;
    flight.superseded = true;
    this.#flights.delete(key);
  }

  /** Supersedes every flight of `group`. */
  supersedeGroup(group: string): void {
    for (const flight of this.#flights.values()) {
      if (flight.group === group) this.supersede(flight.key);
    }
  }

  /** Supersedes every flight. */
  supersedeAll(): void {
    for (const flight of this.#flights.values()) flight.superseded = true;
    this.#flights.clear();
  }
}

/** How a cache problem is handled where the cache must not fail the caller's work. */
export interface FailOpenPolicy {
  /** `true` throws the problem instead of reporting it. */
  readonly strict: boolean;
  /** Receives the problem when it is not thrown. A throw from it is absorbed (see `onReportError`). */
  readonly report: (error: CacheError) => void;
  /** Told when `report` itself threw. @default ignored */
  readonly onReportError?: ((error: unknown) => void) | undefined;
}

/**
 * The fail-open policy in one place (`getOrSet` and the decorator): a Stowage error is handed to
 * `report`, unless `strict`, when it is thrown; anything else is a bug and is always thrown.
 */
export function failOpen(error: unknown, policy: FailOpenPolicy): void {
  if (policy.strict || !isCacheError(error)) throw error;
  try {
    policy.report(error);
  } catch (reportError) {
    policy.onReportError?.(reportError);
  }
}

/** One `getOrSet` call once its key and TTL are known. */
export interface GetOrSetCall<V> {
  /** The caller's key. */
  readonly key: string;
  /** Its full key. */
  readonly fullKey: string;
  /** TTL of the write, in seconds. */
  readonly ttlSeconds: number;
  /** Computes the value on a miss. */
  readonly factory: () => V | Promise<V>;
  /** The call's options. */
  readonly options: GetOrSetOptions | undefined;
  /** The call's lease, resolved before any I/O; `false` for none. */
  readonly lease: ResolvedLease | false;
}

/** Where a call's read left it. */
interface ReadState {
  /** The read's answer (a value, `MISS`, `LEASED`, or a promise of one); unused after a throw. */
  readonly read: unknown;
  /** What the read threw synchronously, if it did. */
  readonly failure: { error: unknown } | undefined;
  /** The call's flight, or `undefined` with `singleFlight: false`. */
  readonly flight: Flight | undefined;
}

/** Whether a flight was superseded; a function because the flag changes across awaits. */
function superseded(flight: Flight | undefined): boolean {
  return flight?.superseded === true;
}

/**
 * `getOrSet` on one client: read; on a miss take the key's lease, run the factory and store its
 * result under the lease. Concurrent callers in this process share one run (single-flight);
 * callers in other processes find the lease and wait for the value. Backend failures fail open
 * unless `strict`.
 */
export class GetOrSet {
  readonly #core: ClientCore;
  readonly #reads: ReadPath;
  readonly #writes: WritePath;
  readonly #leases: Leases;

  constructor(core: ClientCore, paths: { reads: ReadPath; writes: WritePath; ledger: Ledger }) {
    this.#core = core;
    this.#reads = paths.reads;
    this.#writes = paths.writes;
    this.#leases = new Leases(core, { ledger: paths.ledger, reads: paths.reads });
  }

  /**
   * The lease a call takes: its `lease` option over the client's, none when the backend has no
   * `setIf`. Throws `CacheConfigError` for a bad option, before any I/O.
   */
  leaseOf(options: GetOrSetOptions | undefined): ResolvedLease | false {
    if (this.#core.port.backend.setIf === undefined) return false;
    const option = options?.lease;
    return option === undefined
      ? this.#core.settings.lease
      : resolveLease(option, this.#core.settings.lease);
  }

  /** Runs `call`; a hit the backend answered synchronously resolves without a flight. */
  run<V>(call: GetOrSetCall<V>): Promise<V> {
    const flights = this.#core.flights;
    const shared = call.options?.singleFlight !== false;
    if (shared) {
      const joined = flights.join(call.fullKey);
      if (joined !== undefined) return joined as Promise<V>;
    }
    let read: unknown = MISS;
    let failure: { error: unknown } | undefined;
    if (call.options?.afterMiss !== true) {
      try {
        read = this.#reads.one('getOrSet', call.key, call.fullKey);
      } catch (error) {
        failure = { error };
      }
      if (failure === undefined && read !== MISS && read !== LEASED && !isPromise(read))
        return Promise.resolve(read as V);
    }
    if (!shared) return this.#fly(call, { read, failure, flight: undefined });
    const flight = flights.start(call.fullKey);
    flight.promise = this.#fly(call, { read, failure, flight }).finally(() => {
      flights.land(flight);
    });
    return flight.promise as Promise<V>;
  }

  /** The fail-open policy of one call. */
  #policy(options: GetOrSetOptions | undefined): FailOpenPolicy {
    const stats = this.#core.books.stats;
    return {
      strict: options?.strict === true,
      report: (error) => options?.onError?.(error),
      onReportError: () => {
        stats.listenerErrors++;
      },
    };
  }

  /** The rest of the call once the read started: wait for it, then lease and compute on a miss. */
  async #fly<V>(call: GetOrSetCall<V>, state: ReadState): Promise<V> {
    const policy = this.#policy(call.options);
    let cached: unknown;
    if (state.failure !== undefined) {
      failOpen(state.failure.error, policy);
      return this.#unstored(call);
    }
    try {
      cached = await state.read;
    } catch (error) {
      failOpen(error, policy);
      return this.#unstored(call);
    }
    if (cached !== MISS && cached !== LEASED) return cached as V;
    if (call.lease === false) return this.#computeAndSet(call, state.flight, policy);
    return this.#leased(call, { flight: state.flight, policy, seenMarker: cached === LEASED });
  }

  /**
   * After a failed read the backend is down or slow: a write would only add its own deadline to
   * the caller's wait (and likely fail the same way), so the result is returned unstored.
   */
  async #unstored<V>(call: GetOrSetCall<V>): Promise<V> {
    return await call.factory();
  }

  /** A miss with leases: take the lease or wait for its holder, then compute under it. */
  async #leased<V>(
    call: GetOrSetCall<V>,
    at: { flight: Flight | undefined; policy: FailOpenPolicy; seenMarker: boolean },
  ): Promise<V> {
    const lease = call.lease as ResolvedLease;
    const shared = call.options?.singleFlight !== false;
    let acquired;
    try {
      acquired = await this.#leases.acquire(call, lease, {
        seenMarker: at.seenMarker,
        waitMs: shared ? lease.waitMs : 0,
      });
    } catch (error) {
      failOpen(error, at.policy);
      return this.#unstored(call);
    }
    switch (acquired.status) {
      case 'hit':
        return acquired.value as V;
      case 'held':
        return this.#underLease(call, { held: acquired.lease, ...at });
      case 'unreadable':
        // Nothing to lease over: replace what cannot be read, as before leases.
        return this.#computeAndSet(call, at.flight, at.policy);
      case 'busy':
        if (shared && lease.onTimeout === 'throw') {
          throw new CacheLeaseTimeoutError(
            `gave up after ${Math.round(acquired.waitedMs)} ms waiting for another caller's lease on the key`,
            { key: call.key, waitedMs: acquired.waitedMs },
          );
        }
        // Someone else holds the lease: compute for this caller, store nothing.
        return this.#unstored(call);
    }
  }

  /** Runs the factory under a held lease and stores its result with `setIf`, or releases it. */
  async #underLease<V>(
    call: GetOrSetCall<V>,
    at: { held: HeldLease; flight: Flight | undefined; policy: FailOpenPolicy },
  ): Promise<V> {
    const { held } = at;
    let value: V;
    try {
      value = await call.factory();
    } catch (error) {
      await this.#leases.release(held);
      throw error;
    }
    held.stop();
    // This process wrote or deleted the key since the read: its write stands, not this result.
    if (value === undefined || superseded(at.flight) || held.lost) {
      await this.#leases.release(held);
      return value;
    }
    try {
      const entry = this.#writes.encode(call.key, call.fullKey, value);
      await this.#writes.replace(this.#write(call, entry), held.marker);
    } catch (error) {
      await this.#leases.release(held);
      failOpen(error, at.policy);
    }
    return value;
  }

  /** Without a lease: run the factory and store its result unless this process superseded it. */
  async #computeAndSet<V>(
    call: GetOrSetCall<V>,
    flight: Flight | undefined,
    policy: FailOpenPolicy,
  ): Promise<V> {
    const value = await call.factory();
    if (value === undefined || superseded(flight)) return value;
    try {
      const entry = this.#writes.encode(call.key, call.fullKey, value);
      await this.#writes.one(this.#write(call, entry));
    } catch (error) {
      failOpen(error, policy);
    }
    return value;
  }

  #write<V>(call: GetOrSetCall<V>, entry: StoredEntry): CheckedWrite {
    return {
      operation: 'getOrSet',
      key: call.key,
      fullKey: call.fullKey,
      entry,
      ttlSeconds: call.ttlSeconds,
      verify: call.options?.skipIntegrityCheck !== true,
    };
  }
}
