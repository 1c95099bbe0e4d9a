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

// A flight's placeholder until its caller sets `promise` (at once): one shared settled promise
// instead of a new one on every read through the decorator and `getOrSet`.
const SETTLED: Promise<unknown> = Promise.resolve();

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
    const flight: Flight = { key, group, promise: SETTLED, superseded: false };
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
