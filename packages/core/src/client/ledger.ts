import type { StoredEntry } from '../backend/contract.js';
import { toCacheError, type CallInfo } from '../backend/deadline.js';
import type { CacheError } from '../errors.js';
import { logTo, type CacheLogger } from '../logger.js';
import type {
  CacheEvents,
  CacheOperation,
  CacheStats,
  TimingEvent,
  WarningKind,
} from '../events.js';
import type { WriteQuarantine } from './quarantine.js';
import type { LastGood } from './last-good.js';
import type { RecentKeysStack } from './recent-keys.js';

/** Where outcomes are booked, shared by a client and every client scoped from it. */
export interface Books {
  /** The counters `stats()` returns. */
  readonly stats: CacheStats;
  /** The event emitter behind `on()`. */
  readonly events: CacheEvents;
  /** The recent keys behind `recentKeys()` and `bustRecent()`. */
  readonly recent: RecentKeysStack;
  /** The write quarantine, or `undefined` when it is off. */
  readonly quarantine: WriteQuarantine | undefined;
  /** Last good values of graced keys, served stale when the backend is down. */
  readonly lastGood: LastGood;
  /** The clock, in epoch milliseconds. */
  readonly now: () => number;
  /** The backend's name, for errors. */
  readonly backend: string;
  /** The `logger` option: warnings and absorbed errors are logged there too. */
  readonly logger: CacheLogger | undefined;
}

/** A write the client sent: the caller's key, the full key, what was stored, and for how long. */
export interface KeyedWrite {
  /** The caller's key. */
  readonly key: string;
  /** The full key on the server. */
  readonly fullKey: string;
  /** The bytes and flags sent. */
  readonly entry: StoredEntry;
  /** Time to live in seconds; `0` = no expiry. */
  readonly ttlSeconds: number;
}

/** Where a failure or warning happened, when it concerns one key. */
export interface KeyAt {
  /** The caller's key. */
  readonly key?: string | undefined;
  /** The full key. */
  readonly fullKey?: string | undefined;
  /** For a failed write: the entry it sent, which may still land (quarantined when in doubt). */
  readonly entry?: StoredEntry | undefined;
}

/** The outcome a `timing` event reports. */
export type Outcome = TimingEvent['outcome'];

/** True when a failed write may still have reached the server. */
export function isIndeterminate(error: CacheError): boolean {
  return (error as { indeterminate?: unknown }).indeterminate === true;
}

/**
 * The one place outcomes are booked: counted in `stats()`, recorded in the recent keys and the
 * write quarantine, and emitted as events. One ledger per client (it knows the client's key head,
 * which recent keys record); the books behind it are shared with the clients scoped from it.
 */
export class Ledger {
  readonly #books: Books;
  readonly #head: string;

  constructor(books: Books, head: string) {
    this.#books = books;
    this.#head = head;
  }

  /** `performance.now()` when someone listens to `timing`, else `-1` (no clock read). */
  started(): number {
    return this.#books.events.has('timing') ? performance.now() : -1;
  }

  /**
   * What a read may return for `fullKey`: the entry found, unless the key is in doubt after a
   * timed-out write and the entry is not what this process confirmed since (then a miss).
   */
  admit(fullKey: string, found: StoredEntry | undefined): StoredEntry | undefined {
    const quarantine = this.#books.quarantine;
    return quarantine !== undefined && quarantine.size > 0
      ? quarantine.admit(fullKey, found)
      : found;
  }

  /** A read found `key`. */
  hit(operation: CacheOperation, key: string, fullKey: string): void {
    const books = this.#books;
    books.stats.hits++;
    books.recent.record(fullKey, key, this.#head);
    if (books.events.has('hit')) books.events.emit('hit', { operation, key, fullKey });
  }

  /** A read did not find `key` (or found nothing it could decode). */
  miss(operation: CacheOperation, key: string, fullKey: string): void {
    const books = this.#books;
    books.stats.misses++;
    if (books.events.has('miss')) books.events.emit('miss', { operation, key, fullKey });
  }

  /** The server holds `write.entry` under `write.fullKey`. */
  stored(operation: CacheOperation, write: KeyedWrite): void {
    const books = this.#books;
    books.stats.sets++;
    books.recent.record(write.fullKey, write.key, this.#head);
    books.recent.setExpiry(
      write.fullKey,
      write.ttlSeconds === 0 ? null : books.now() + write.ttlSeconds * 1000,
    );
    books.quarantine?.confirm(write.fullKey, write.entry);
    if (books.events.has('set'))
      books.events.emit('set', { operation, key: write.key, fullKey: write.fullKey, stored: true });
  }

  /** A write was refused, or its integrity check failed: the server holds something else. */
  notStored(operation: CacheOperation, key: string, fullKey: string): void {
    const books = this.#books;
    books.stats.setFailures++;
    // Nothing this process can vouch for any more.
    books.quarantine?.confirm(fullKey, undefined);
    if (books.events.has('set'))
      books.events.emit('set', { operation, key, fullKey, stored: false });
  }

  /**
   * A write under a lease was refused because the lease was gone (the key was deleted,
   * overwritten or flushed meanwhile, or the lease expired): not a failure, nothing changed.
   */
  leaseLost(operation: CacheOperation, key: string, fullKey: string): void {
    const books = this.#books;
    books.stats.leasesLost++;
    if (books.events.has('set'))
      books.events.emit('set', { operation, key, fullKey, stored: false });
  }

  /** An `add` found the key taken: nothing changed, nothing is counted as a failure. */
  notAdded(key: string, fullKey: string): void {
    const events = this.#books.events;
    if (events.has('set')) events.emit('set', { operation: 'add', key, fullKey, stored: false });
  }

  /** A counter changed the bytes under `fullKey`: a key in doubt reads as a miss until its window ends. */
  counted(fullKey: string): void {
    this.#books.quarantine?.confirm(fullKey, undefined);
  }

  /** A `touch` gave `fullKey` a new TTL. */
  touched(fullKey: string, ttlSeconds: number): void {
    const books = this.#books;
    books.recent.setExpiry(fullKey, ttlSeconds === 0 ? null : books.now() + ttlSeconds * 1000);
  }

  /** Keys were deleted (`fullKeys[i]` is the full key of `keys[i]`). */
  deleted(operation: CacheOperation, keys: readonly string[], fullKeys: readonly string[]): void {
    const books = this.#books;
    for (const fullKey of fullKeys) {
      books.recent.removeSafe(fullKey);
      books.quarantine?.confirm(fullKey, undefined);
    }
    books.stats.deletes += fullKeys.length;
    if (books.events.has('delete')) books.events.emit('delete', { operation, keys });
  }

  /** The server was flushed: no recent key and no key in doubt is left. */
  flushed(): void {
    this.#books.recent.clear();
    this.#books.quarantine?.confirmAllDeleted();
  }

  /**
   * Counts and reports a failed call and returns the Stowage error to throw. A failed write whose
   * bytes may still land (`indeterminate`) puts its key in quarantine with the entry it sent.
   */
  failed(operation: CacheOperation, error: unknown, at?: KeyAt): CacheError {
    const books = this.#books;
    const info: CallInfo = {
      backend: books.backend,
      operation,
      key: at?.fullKey,
      write: at?.entry !== undefined,
    };
    const cacheError = toCacheError(error, info);
    books.stats.errors++;
    if (books.events.has('error'))
      books.events.emit('error', { operation, key: at?.key, error: cacheError });
    if (at?.entry !== undefined && at.fullKey !== undefined && isIndeterminate(cacheError)) {
      books.quarantine?.begin(at.fullKey, at.entry);
    }
    return cacheError;
  }

  /** Puts keys whose writes may still land in quarantine, without their bytes when unknown. */
  inDoubt(writes: Iterable<readonly [string, StoredEntry | undefined]>): void {
    const quarantine = this.#books.quarantine;
    if (quarantine === undefined) return;
    for (const [fullKey, entry] of writes) quarantine.begin(fullKey, entry);
  }

  /** Something went wrong that does not fail the call. */
  warn(kind: WarningKind, error: CacheError, at: KeyAt & { operation: CacheOperation }): void {
    const books = this.#books;
    if (kind === 'decode') books.stats.decodeErrors++;
    else if (kind === 'integrity') books.stats.integrityFailures++;
    logTo(books.logger, 'warn', { what: `${kind} warning in ${at.operation}`, error });
    if (books.events.has('warning')) {
      books.events.emit('warning', {
        kind,
        operation: at.operation,
        key: at.key,
        fullKey: at.fullKey,
        error,
      });
    }
  }

  /** Emits the `timing` of a one-key call that began at `started` (no-op when it is `-1`). */
  timing(operation: CacheOperation, started: number, outcome: Outcome): void {
    if (started >= 0) this.timingOf(operation, { started, keys: 1, outcome });
  }

  /** Emits the `timing` of a call over `keys` keys. */
  timingOf(
    operation: CacheOperation,
    call: { readonly started: number; readonly keys: number; readonly outcome: Outcome },
  ): void {
    if (call.started < 0) return;
    this.#books.events.emit('timing', {
      operation,
      durationMs: performance.now() - call.started,
      keys: call.keys,
      outcome: call.outcome,
    });
  }
}
