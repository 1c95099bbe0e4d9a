import type { StoredEntry } from '../backend/contract.js';
import { LEASE_FLAGS } from '../backend/lease-marker.js';
import {
  GRACE_FLAGS,
  NOT_FOUND_FLAGS,
  unwrapGraced,
  type GraceMeta,
  type GracedEntry,
} from '../codec/grace.js';
import { isPromise } from '../backend/port.js';
import { asBatchError, CacheDecodeError, type CacheError } from '../errors.js';
import type { CacheOperation } from '../events.js';
import type { ClientCore } from './client-core.js';
import type { Ledger } from './ledger.js';

/** What a read returns for a key it did not find (or found nothing it could decode). */
export const MISS: unique symbol = Symbol('miss');
/** What a `getOrSet` read returns for a key that holds another caller's lease marker. */
export const LEASED: unique symbol = Symbol('leased');
/** What {@link ReadPath.peek} returns for a key that holds a value this process cannot read. */
export const UNREADABLE: unique symbol = Symbol('unreadable');
/** What a `getOrSet` read returns for a "not found" entry (`negativeTtl`): `undefined`, cached. */
export const NOT_FOUND: unique symbol = Symbol('not found');

/**
 * A value written with `grace`, as a `getOrSet` read returns it once stale (past its `ttl`, within
 * its grace) and a `getEntry` read always: the decoded value, the entry exactly as stored (a
 * refresh commits over it with `setIf`), its header, and the codec's entry inside.
 */
export class Graced {
  readonly value: unknown;
  readonly entry: StoredEntry;
  readonly meta: GraceMeta;
  readonly inner: StoredEntry;

  constructor(value: unknown, entry: StoredEntry, graced: GracedEntry) {
    this.value = value;
    this.entry = entry;
    this.meta = graced.meta;
    this.inner = graced.inner;
  }
}

/** Operations whose reads want stale values and "not found" entries rather than a miss. */
function wantsStale(operation: CacheOperation): boolean {
  return operation === 'getOrSet' || operation === 'getEntry';
}

// Q2's codes are 1–4; anything above is one of Stowage's own entries (or unknown flags).
const MAX_Q2_CODE = 4;

/** One `getMany`: the caller keys, their full keys, and when it began (`-1`: not timed). */
interface Batch {
  readonly callerKeys: readonly string[];
  readonly fullKeys: readonly string[];
  readonly started: number;
}

/**
 * The read path of one client: backend read, quarantine overlay, decoding (a failure is a miss
 * plus a warning), and the bookkeeping of hits and misses. An in-process backend's answer is
 * handled synchronously, without a promise.
 *
 * `#received` takes four positional arguments: an object would be allocated on every hit.
 */
export class ReadPath {
  readonly #core: ClientCore;
  readonly #ledger: Ledger;

  constructor(core: ClientCore, ledger: Ledger) {
    this.#core = core;
    this.#ledger = ledger;
  }

  /**
   * Reads one key: the decoded value or {@link MISS}, synchronously when the backend answered
   * synchronously, else a promise of it. Failures are thrown (or the promise rejects) already
   * counted and reported.
   */
  one(operation: CacheOperation, key: string, fullKey: string): unknown {
    const started = this.#ledger.started();
    let entry;
    try {
      entry = this.#core.port.get(operation, fullKey);
    } catch (error) {
      throw this.#failed(operation, error, { key, fullKey, started });
    }
    if (isPromise(entry)) {
      return entry.then(
        (found) => this.#timed(operation, started, this.#received(operation, key, fullKey, found)),
        (error: unknown) => {
          throw this.#failed(operation, error, { key, fullKey, started });
        },
      );
    }
    return this.#timed(operation, started, this.#received(operation, key, fullKey, entry));
  }

  /** Emits the timing of a one-key read that began at `started` (`-1`: nobody listens). */
  #timed(operation: CacheOperation, started: number, value: unknown): unknown {
    if (started >= 0) this.#ledger.timing(operation, started, value === MISS ? 'miss' : 'hit');
    return value;
  }

  #failed(
    operation: CacheOperation,
    error: unknown,
    at: { readonly key: string; readonly fullKey: string; readonly started: number },
  ): CacheError {
    this.#ledger.timing(operation, at.started, 'error');
    return this.#ledger.failed(operation, error, at);
  }

  /** Decodes what a read found and books the hit or the miss. */
  #received(
    operation: CacheOperation,
    key: string,
    fullKey: string,
    found: StoredEntry | undefined,
  ): unknown {
    const ledger = this.#ledger;
    if (found !== undefined && found.flags > MAX_Q2_CODE) {
      const special = this.#special(operation, key, fullKey, found);
      if (special !== undefined) return special;
    }
    // A key in doubt after a timed-out write reads only what this process confirmed since.
    const entry = ledger.admit(fullKey, found);
    if (entry !== undefined) {
      try {
        const value = this.#core.codec.decode(entry, fullKey);
        ledger.hit(operation, key, fullKey);
        return value;
      } catch (error) {
        ledger.warn('decode', error as CacheError, { operation, key, fullKey });
      }
    }
    ledger.miss(operation, key, fullKey);
    return MISS;
  }

  /**
   * Stowage's own entries: a lease marker (another caller is computing the key), a "not found"
   * entry, a graced entry (fresh, or stale past its `ttl`). Plain reads see a miss for all but a
   * fresh value; `getOrSet` and `getEntry` see {@link LEASED}, {@link NOT_FOUND} and
   * {@link Graced}. Returns `undefined` for other flags (decoded, and refused, as usual).
   */
  #special(operation: CacheOperation, key: string, fullKey: string, found: StoredEntry): unknown {
    const ledger = this.#ledger;
    const flags = found.flags;
    if (flags === LEASE_FLAGS) {
      // Never a value, and no decode warning.
      ledger.miss(operation, key, fullKey);
      return operation === 'getOrSet' ? LEASED : MISS;
    }
    if (flags === NOT_FOUND_FLAGS) {
      if (wantsStale(operation)) {
        ledger.hit(operation, key, fullKey);
        return NOT_FOUND;
      }
      ledger.miss(operation, key, fullKey);
      return MISS;
    }
    if (flags !== GRACE_FLAGS) return undefined;
    const value = this.#graced(operation, key, fullKey, found);
    if (value === MISS) ledger.miss(operation, key, fullKey);
    else if (value instanceof Graced && value.meta.freshUntil <= this.#core.books.now())
      this.#core.books.stats.staleHits++;
    else ledger.hit(operation, key, fullKey);
    return value;
  }

  /** A graced entry: its value while fresh, a {@link Graced} after (to those who want one), else MISS. */
  #graced(operation: CacheOperation, key: string, fullKey: string, found: StoredEntry): unknown {
    const entry = this.#ledger.admit(fullKey, found);
    if (entry === undefined) return MISS;
    const graced = unwrapGraced(entry);
    let value: unknown;
    try {
      if (graced === undefined)
        throw new CacheDecodeError('malformed grace header', { key: fullKey, flags: entry.flags });
      value = this.#core.codec.decode(graced.inner, fullKey);
    } catch (error) {
      this.#ledger.warn('decode', error as CacheError, { operation, key, fullKey });
      return MISS;
    }
    const { meta } = graced;
    const now = this.#core.books.now();
    if (now >= meta.staleUntil) return MISS;
    if (!wantsStale(operation)) return now < meta.freshUntil ? value : MISS;
    this.#core.books.lastGood.remember(fullKey, value, meta.staleUntil);
    if (now < meta.freshUntil && operation === 'getOrSet') return value;
    return new Graced(value, entry, graced);
  }

  /**
   * A `getOrSet` waiter's poll: the decoded value (booked as a hit), {@link MISS} when the key
   * holds nothing, {@link LEASED} for a lease marker, {@link UNREADABLE} for a value that does
   * not decode or a key in doubt here. Misses and markers are not booked: one call polls many
   * times. Failures reject already counted and reported.
   */
  async peek(key: string, fullKey: string): Promise<unknown> {
    let found: StoredEntry | undefined;
    try {
      const pending = this.#core.port.get('getOrSet', fullKey);
      found = isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw this.#ledger.failed('getOrSet', error, { key, fullKey });
    }
    if (found === undefined) return MISS;
    if (found.flags === LEASE_FLAGS) return LEASED;
    if (found.flags === NOT_FOUND_FLAGS || found.flags === GRACE_FLAGS) {
      const value = this.#special('getOrSet', key, fullKey, found);
      return value === MISS ? UNREADABLE : value;
    }
    const entry = this.#ledger.admit(fullKey, found);
    if (entry === undefined) return UNREADABLE;
    try {
      const value = this.#core.codec.decode(entry, fullKey);
      this.#ledger.hit('getOrSet', key, fullKey);
      return value;
    } catch (error) {
      this.#ledger.warn('decode', error as CacheError, { operation: 'getOrSet', key, fullKey });
      return UNREADABLE;
    }
  }

  /**
   * Reads many distinct keys (`fullKeys[i]` is the full key of `callerKeys[i]`) in one backend
   * call: a map of the hits, in the order given. A partly failed batch is counted and reported,
   * then answered with what the healthy part found (`partialBatches: 'return'`) or thrown.
   */
  many(
    callerKeys: readonly string[],
    fullKeys: readonly string[],
  ): Map<string, unknown> | Promise<Map<string, unknown>> {
    const batch: Batch = { callerKeys, fullKeys, started: this.#ledger.started() };
    let entries;
    try {
      entries = this.#core.port.getMany('getMany', fullKeys);
    } catch (error) {
      return this.#manyFailed(batch, error);
    }
    if (isPromise(entries)) {
      return entries.then(
        (found) => this.#gotMany(batch, found),
        (error: unknown) => this.#manyFailed(batch, error),
      );
    }
    return this.#gotMany(batch, entries);
  }

  #manyFailed(batch: Batch, error: unknown): Map<string, unknown> {
    const keys = batch.fullKeys.length;
    this.#ledger.timingOf('getMany', { started: batch.started, keys, outcome: 'error' });
    const failure = this.#ledger.failed('getMany', error);
    const partial = asBatchError(failure);
    if (
      partial?.entries === undefined ||
      partial.entries.length !== keys ||
      this.#core.settings.partialBatches === 'throw'
    ) {
      throw failure;
    }
    // The healthy part's answer; the failed part's keys read as misses (timing already sent).
    return this.#gotMany({ ...batch, started: -1 }, partial.entries);
  }

  #gotMany(batch: Batch, entries: ReadonlyArray<StoredEntry | undefined>): Map<string, unknown> {
    const { callerKeys, fullKeys } = batch;
    const result = new Map<string, unknown>();
    for (let i = 0; i < fullKeys.length; i++) {
      const key = callerKeys[i] as string;
      const value = this.#received('getMany', key, fullKeys[i] as string, entries[i]);
      if (value !== MISS) result.set(key, value);
    }
    const outcome = result.size > 0 ? 'hit' : 'miss';
    this.#ledger.timingOf('getMany', { started: batch.started, keys: fullKeys.length, outcome });
    return result;
  }
}
