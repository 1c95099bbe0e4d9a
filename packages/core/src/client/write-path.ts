import type { BackendWrite, StoredEntry } from '../backend/contract.js';
import { isPromise, rejection } from '../backend/port.js';
import { sameEntry } from '../bytes.js';
import { asBatchError, CacheError, CacheErrorCode, CacheValueError } from '../errors.js';
import type { CacheOperation } from '../events.js';
import type { ClientCore } from './client-core.js';
import { isIndeterminate, type KeyedWrite, type Ledger } from './ledger.js';

/** One write of `set` or `getOrSet`, and whether its integrity check runs. */
export interface CheckedWrite extends KeyedWrite {
  /** The client operation it serves (`set`, `getOrSet`). */
  readonly operation: CacheOperation;
  /** Read the value back and compare (the integrity check); `false` trusts the server's answer. */
  readonly verify: boolean;
}

/**
 * The write path of one client: `set` with its integrity check, `setMany`, `add`, and the
 * bookkeeping of what the server holds afterwards. Settles without extra ticks when the backend
 * answers synchronously.
 */
export class WritePath {
  readonly #core: ClientCore;
  readonly #ledger: Ledger;

  constructor(core: ClientCore, ledger: Ledger) {
    this.#core = core;
    this.#ledger = ledger;
  }

  /**
   * Encodes `value` for `fullKey`, or throws `CacheValueError` (before any I/O) for a value that
   * cannot be cached or is over the backend's `maxValueBytes` after encoding.
   */
  encode(key: string, fullKey: string, value: unknown): StoredEntry {
    if (value === undefined) throw new CacheValueError('value is not cacheable: undefined', key);
    const entry = this.#core.codec.encode(value, fullKey, key);
    const limit = this.#core.settings.maxValueBytes;
    if (entry.value.byteLength > limit) {
      throw new CacheValueError(
        `value is too large: ${entry.value.byteLength} bytes after encoding, the backend's limit is ${limit}`,
        key,
      );
    }
    return entry;
  }

  /**
   * Writes one entry. With `verify`, what the server holds afterwards is read back and must be
   * the bytes and flags sent. Resolves whether the server holds it; never throws (rejects).
   */
  one(write: CheckedWrite): Promise<boolean> {
    const operation = write.operation;
    const port = this.#core.port;
    const started = this.#ledger.started();
    let answer;
    try {
      if (!write.verify) answer = port.set(operation, write);
      else if (port.readsBack) answer = port.setAndRead(operation, write);
      else return this.#setThenGet(write, started);
    } catch (error) {
      return rejection(this.#failed(write, started, error));
    }
    if (isPromise(answer)) {
      return answer.then(
        (result) => this.#written(write, started, result),
        (error: unknown) => {
          throw this.#failed(write, started, error);
        },
      );
    }
    try {
      return Promise.resolve(this.#written(write, started, answer));
    } catch (error) {
      return rejection(error);
    }
  }

  /**
   * Writes one entry under a lease: stores it only while the key still holds the lease marker
   * `expected` (`setIf`, compare-and-set). Resolves `'lost'` when it did not (the key was deleted,
   * overwritten, flushed or the lease expired: nothing was written), else whether the server
   * holds the entry — with `verify`, what `setIf` read back must be the bytes and flags sent.
   * Failures reject already counted; a write in doubt is quarantined like any other.
   */
  async replace(write: CheckedWrite, expected: StoredEntry): Promise<boolean | 'lost'> {
    const port = this.#core.port;
    const started = this.#ledger.started();
    let result: StoredEntry | false | undefined;
    try {
      const pending = port.setIf(write.operation, write.fullKey, {
        expected,
        entry: write.entry,
        ttlSeconds: write.ttlSeconds,
      });
      result = isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw this.#failed(write, started, error);
    }
    if (result === false) {
      this.#ledger.leaseLost(write.operation, write.key, write.fullKey);
      // Not a failure: someone deleted or replaced the key, which is what a lease is for.
      this.#ledger.timing(write.operation, started, 'ok');
      return 'lost';
    }
    // Without the check, whatever the server reports holding counts as stored.
    return this.#written(write, started, write.verify ? result : result !== undefined);
  }

  /** The integrity check on a backend without `setAndRead`: `set`, then `get` when it stored. */
  async #setThenGet(write: CheckedWrite, started: number): Promise<boolean> {
    const { operation } = write;
    const port = this.#core.port;
    let readBack: StoredEntry | undefined;
    try {
      const pendingSet = port.set(operation, write);
      if (isPromise(pendingSet) ? await pendingSet : pendingSet) {
        const pendingGet = port.get(operation, write.fullKey);
        readBack = isPromise(pendingGet) ? await pendingGet : pendingGet;
      }
    } catch (error) {
      throw this.#failed(write, started, error);
    }
    return this.#written(write, started, readBack);
  }

  #failed(write: CheckedWrite, started: number, error: unknown): CacheError {
    this.#ledger.timing(write.operation, started, 'error');
    return this.#ledger.failed(write.operation, error, write);
  }

  /**
   * Books an answered write. `result` is what `set` resolved, or with `verify` what was read
   * back, which must be the bytes and flags that were sent.
   */
  #written(
    write: CheckedWrite,
    started: number,
    result: boolean | StoredEntry | undefined,
  ): boolean {
    const { operation } = write;
    const ledger = this.#ledger;
    const stored = write.verify
      ? sameEntry(result as StoredEntry | undefined, write.entry)
      : (result as boolean);
    if (write.verify && !stored) {
      const message =
        result === undefined
          ? 'integrity check failed: the server does not hold the value after the write'
          : 'integrity check failed: the server holds different bytes than were written';
      ledger.warn('integrity', new CacheError(CacheErrorCode.Write, message), {
        operation,
        key: write.key,
        fullKey: write.fullKey,
      });
    }
    if (stored) ledger.stored(operation, write);
    else ledger.notStored(operation, write.key, write.fullKey);
    ledger.timing(operation, started, stored ? 'ok' : 'error');
    return stored;
  }

  /**
   * Stores distinct keys in one pipelined call, without the integrity check, all with
   * `ttlSeconds`. Resolves the caller keys that were not stored. A partly failed batch is
   * counted and reported, then answered (`partialBatches: 'return'`) or thrown.
   */
  async many(writes: readonly KeyedWrite[], ttlSeconds: number): Promise<string[]> {
    const core = this.#core;
    const ledger = this.#ledger;
    const started = ledger.started();
    const sent: BackendWrite[] = writes.map((write) => ({
      key: write.fullKey,
      entry: write.entry,
    }));
    let refused: readonly string[];
    try {
      const pending = core.port.run(core.port.writing('setMany', undefined), (backend) =>
        backend.setMany(sent, ttlSeconds),
      );
      refused = isPromise(pending) ? await pending : pending;
    } catch (error) {
      ledger.timingOf('setMany', { started, keys: writes.length, outcome: 'error' });
      refused = this.#manyFailed(writes, ledger.failed('setMany', error));
    }
    const failed = new Set(refused);
    const notStored: string[] = [];
    for (const write of writes) {
      if (failed.has(write.fullKey)) {
        ledger.notStored('setMany', write.key, write.fullKey);
        notStored.push(write.key);
      } else {
        ledger.stored('setMany', write);
      }
    }
    const outcome = notStored.length === 0 ? 'ok' : 'error';
    ledger.timingOf('setMany', { started, keys: writes.length, outcome });
    return notStored;
  }

  /**
   * A failed `setMany`: writes that may still land are put in quarantine; a partial failure
   * answers the full keys not stored (or is thrown with `partialBatches: 'throw'`), any other
   * failure is thrown.
   */
  #manyFailed(writes: readonly KeyedWrite[], failure: CacheError): readonly string[] {
    const partial = asBatchError(failure);
    if (isIndeterminate(failure)) {
      // Only the failed part's writes are in doubt when the backend says which they were.
      const doubtful = partial === undefined ? undefined : new Set(partial.failedKeys);
      this.#ledger.inDoubt(
        writes
          .filter((write) => doubtful === undefined || doubtful.has(write.fullKey))
          .map((write) => [write.fullKey, write.entry] as const),
      );
    }
    if (partial?.notStored === undefined || this.#core.settings.partialBatches === 'throw') {
      throw failure;
    }
    return partial.notStored;
  }

  /** Stores only if the key holds nothing. Resolves `false` when it already exists. */
  async add(write: KeyedWrite): Promise<boolean> {
    const core = this.#core;
    let added: boolean;
    try {
      const pending = core.port.run(core.port.writing('add', write.fullKey), (backend) =>
        backend.add(write.fullKey, write.entry, write.ttlSeconds),
      );
      added = isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw this.#ledger.failed('add', error, write);
    }
    if (added) this.#ledger.stored('add', write);
    else this.#ledger.notAdded(write.key, write.fullKey);
    return added;
  }
}
