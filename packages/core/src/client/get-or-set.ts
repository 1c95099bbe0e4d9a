import { isPromise } from '../backend/port.js';
import { isCacheError, type CacheError } from '../errors.js';
import type { ClientCore } from './client-core.js';
import type { GetOrSetOptions } from './client-options.js';
import { MISS, type ReadPath } from './read-path.js';
import type { WritePath } from './write-path.js';

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
}

/**
 * `getOrSet` on one client: read; on a miss run the factory and store its result, sharing one run
 * between concurrent callers (single-flight). Backend failures fail open unless `strict`.
 */
export class GetOrSet {
  readonly #core: ClientCore;
  readonly #reads: ReadPath;
  readonly #writes: WritePath;

  constructor(core: ClientCore, paths: { reads: ReadPath; writes: WritePath }) {
    this.#core = core;
    this.#reads = paths.reads;
    this.#writes = paths.writes;
  }

  /** Runs `call`; a hit the backend answered synchronously resolves without a flight. */
  run<V>(call: GetOrSetCall<V>): Promise<V> {
    const flights = this.#core.flights;
    const joined = flights.join(call.fullKey);
    if (joined !== undefined) return joined as Promise<V>;
    let read: unknown;
    let failure: { error: unknown } | undefined;
    try {
      read = this.#reads.one('getOrSet', call.key, call.fullKey);
    } catch (error) {
      failure = { error };
    }
    if (failure === undefined && read !== MISS && !isPromise(read))
      return Promise.resolve(read as V);
    const flight = flights.start(call.fullKey);
    flight.promise = this.#fly(call, { read, failure, flight }).finally(() => {
      flights.land(flight);
    });
    return flight.promise as Promise<V>;
  }

  /** The rest of the call once the read started: wait for it, then run the factory on a miss. */
  async #fly<V>(
    call: GetOrSetCall<V>,
    state: { read: unknown; failure: { error: unknown } | undefined; flight: Flight },
  ): Promise<V> {
    const options = call.options;
    const stats = this.#core.books.stats;
    const policy: FailOpenPolicy = {
      strict: options?.strict === true,
      report: (error) => options?.onError?.(error),
      onReportError: () => {
        stats.listenerErrors++;
      },
    };
    let cached: unknown = MISS;
    let readFailed = state.failure !== undefined;
    if (state.failure !== undefined) {
      failOpen(state.failure.error, policy);
    } else {
      try {
        cached = await state.read;
      } catch (error) {
        readFailed = true;
        failOpen(error, policy);
      }
    }
    if (cached !== MISS) return cached as V;
    const value = await call.factory();
    // After a failed read the backend is down or slow: a write would only add its own deadline
    // to the caller's wait (and likely fail the same way), so the result is returned unstored.
    // This process wrote or deleted the key since the read: its write stands, not this result.
    if (value === undefined || readFailed || state.flight.superseded) return value;
    try {
      const entry = this.#writes.encode(call.key, call.fullKey, value);
      await this.#writes.one({
        operation: 'getOrSet',
        key: call.key,
        fullKey: call.fullKey,
        entry,
        ttlSeconds: call.ttlSeconds,
        verify: options?.skipIntegrityCheck !== true,
      });
    } catch (error) {
      failOpen(error, policy);
    }
    return value;
  }
}
