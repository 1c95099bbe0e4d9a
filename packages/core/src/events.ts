import type { CacheError } from './errors.js';

/** The client operations that events and errors name. */
export type CacheOperation =
  | 'get'
  | 'getMany'
  | 'set'
  | 'setMany'
  | 'add'
  | 'touch'
  | 'incr'
  | 'decr'
  | 'delete'
  | 'deleteMany'
  | 'flushAll'
  | 'bustRecent'
  | 'getOrSet'
  | 'getEntry'
  /** `invalidateTags` / `deleteByTag`: the tags' version keys are deleted. */
  | 'invalidateTags'
  | 'ping'
  | 'quarantine'
  /** The shared recent-keys file (`localPath`): a background flush or a read. */
  | 'recentKeys'
  /** The L1 tier's invalidation bus (`bus`): connecting, a lost subscription, a dropped message. */
  | 'bus';

/** A read found the key. */
export interface HitEvent {
  readonly operation: CacheOperation;
  /** The caller's key. */
  readonly key: string;
  /** The key on the server. */
  readonly fullKey: string;
}

/** A read did not find the key (or found an item that could not be decoded). */
export type MissEvent = HitEvent;

/** A write finished. */
export interface SetEvent extends HitEvent {
  /** True when the server holds the value (and, with the integrity check, holds exactly it). */
  readonly stored: boolean;
}

/** Keys were deleted. */
export interface DeleteEvent {
  readonly operation: CacheOperation;
  /** The caller's keys. */
  readonly keys: readonly string[];
}

/** What a warning is about. */
export type WarningKind =
  | 'decode'
  | 'integrity'
  | 'quarantine'
  | 'listener'
  | 'backend'
  | 'factory'
  /** The shared recent-keys file (`localPath`) is corrupt, foreign, or could not be written. */
  | 'recentKeys'
  /** The L1 tier's bus could not connect, lost its subscription (the L1 was emptied), or dropped a message. */
  | 'bus';

/** Something went wrong that did not fail the call: an undecodable item, a failed integrity check. */
export interface WarningEvent {
  readonly kind: WarningKind;
  readonly operation: CacheOperation;
  /** The caller's key, when there is one. */
  readonly key: string | undefined;
  /** The key on the server, when there is one. */
  readonly fullKey: string | undefined;
  /** What happened. */
  readonly error: CacheError | Error;
}

/** A call failed with an error that was thrown to the caller (or, in `getOrSet`, reported). */
export interface ErrorEvent {
  readonly operation: CacheOperation;
  /** The caller's key, when the call had one. */
  readonly key: string | undefined;
  readonly error: CacheError;
}

/** How long a backend call took. */
export interface TimingEvent {
  readonly operation: CacheOperation;
  /** Wall time of the backend call, in milliseconds (from `performance.now()`). */
  readonly durationMs: number;
  /** How many keys the call concerned. */
  readonly keys: number;
  /** `'hit'`, `'miss'`, `'ok'` or `'error'`. */
  readonly outcome: 'hit' | 'miss' | 'ok' | 'error';
}

/**
 * Events a client emits. Subscribe with `client.on(name, listener)`. Events are synchronous,
 * listeners that throw are ignored (and counted in `stats().listenerErrors`), and nothing is
 * allocated for an event nobody listens to.
 */
export interface CacheEventMap {
  hit: HitEvent;
  miss: MissEvent;
  set: SetEvent;
  delete: DeleteEvent;
  warning: WarningEvent;
  error: ErrorEvent;
  timing: TimingEvent;
}

/** Name of a client event. */
export type CacheEventName = keyof CacheEventMap;

/** A listener for event `E`. */
export type CacheListener<E extends CacheEventName> = (event: CacheEventMap[E]) => void;

/** Counters since the client was created, shared by a client and its scoped clients. */
export interface CacheStats {
  hits: number;
  misses: number;
  sets: number;
  /** Writes the server refused or the integrity check rejected. */
  setFailures: number;
  deletes: number;
  /** Calls that failed with a backend error or timeout. */
  errors: number;
  decodeErrors: number;
  integrityFailures: number;
  listenerErrors: number;
  /** `getOrSet` calls that joined a run already in flight for their key in this process (single-flight). */
  joins: number;
  /** Leases `getOrSet` took on a miss (it then ran the factory). */
  leasesTaken: number;
  /** `getOrSet` calls that found another caller's lease and waited for its value. */
  leaseWaits: number;
  /** Lease waits that ended without a value (the factory ran, or `CacheLeaseTimeoutError`). */
  leaseTimeouts: number;
  /** Reads that found a value past its `ttl` but within its `grace` (`getOrSet`, `getEntry`). */
  staleHits: number;
  /** Calls that answered a stale value (factory failed or too slow, backend down, or `staleWhileRevalidate`). */
  staleServed: number;
  /** Results not stored because the lease was lost: the key was deleted, overwritten or flushed meanwhile, or the lease expired. */
  leasesLost: number;
}

/** A tiny typed event emitter with no `'error'`-throws-when-unheard semantics. */
export class CacheEvents {
  readonly #listeners: { [E in CacheEventName]?: Array<CacheListener<E>> } = {};
  readonly #onListenerError: () => void;

  constructor(onListenerError: () => void) {
    this.#onListenerError = onListenerError;
  }

  /** True when `event` has a listener; check before building an event object. */
  has(event: CacheEventName): boolean {
    const list = this.#listeners[event];
    return list !== undefined && list.length > 0;
  }

  /** Adds a listener; returns a function that removes it. */
  on<E extends CacheEventName>(event: E, listener: CacheListener<E>): () => void {
    const list = (this.#listeners[event] ??= []) as Array<CacheListener<E>>;
    list.push(listener);
    return () => {
      const index = list.indexOf(listener);
      if (index !== -1) list.splice(index, 1);
    };
  }

  /** Calls every listener of `event`; a listener that throws does not stop the others. */
  emit<E extends CacheEventName>(event: E, payload: CacheEventMap[E]): void {
    const list = this.#listeners[event];
    if (list === undefined) return;
    for (const listener of list.slice()) {
      try {
        listener(payload);
      } catch {
        this.#onListenerError();
      }
    }
  }
}
