import {
  CacheBatchError,
  CacheErrorCode,
  isCacheError,
  type CacheBackendError,
  type StoredEntry,
} from '@stowage/core';

// A batch (`getMany`, `setMany`, `deleteMany`) is split into one share per server, each one
// round trip. These helpers group a batch's indexes by server and turn the shares' outcomes into
// the call's outcome: the backend never decides for the caller what a failed share means.

/** One server's share of a batch: its keys and its pending answer. */
export interface Share {
  /** The keys of this share, as the caller passed them (without the backend's `keyPrefix`). */
  readonly keys: readonly string[];
  /** Settles when the server answered the whole share; rejects with its Stowage error. */
  readonly done: Promise<unknown>;
}

/** The failed shares of a batch: their keys, and one error per failed server. */
export interface FailedShares {
  /** The keys of every failed share. */
  readonly keys: readonly string[];
  /** One error per failed share, in the order they failed. */
  readonly failures: readonly CacheBackendError[];
}

/** What a batch answered before one of its shares failed, for {@link CacheBatchError}. */
export interface PartialAnswer {
  /** `getMany`: the entries, aligned with the keys asked; a failed share's keys `undefined`. */
  readonly entries?: ReadonlyArray<StoredEntry | undefined>;
  /** `setMany`: every key not stored, refused or sent to a failed server. */
  readonly notStored?: readonly string[];
}

/** A batch being settled: its operation's name (for the error) and its shares. */
export interface SharedBatch {
  /** The backend method, for the error (`getMany`, `setMany`, `deleteMany`). */
  readonly operation: string;
  /** One share per server the batch went to. */
  readonly shares: readonly Share[];
}

/**
 * The indexes of a batch (into the caller's list) grouped by server: `locate(index)` names the
 * server. The groups hold the indexes themselves, in order, never positions in `indexes`.
 */
export function byServer(
  indexes: readonly number[],
  locate: (index: number) => number,
): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (const index of indexes) {
    const node = locate(index);
    const group = groups.get(node);
    if (group === undefined) groups.set(node, [index]);
    else group.push(index);
  }
  return groups;
}

/** `0, 1, …, length − 1`. */
export function allIndexes(length: number): number[] {
  return Array.from({ length }, (_, index) => index);
}

/** Where each distinct key of a list first occurs. */
export interface Distinct {
  /** Key → index of its first occurrence. */
  readonly first: ReadonlyMap<string, number>;
  /** The index of each distinct key's first occurrence, in order. */
  readonly indexes: readonly number[];
}

/** The distinct keys of `keys`: a batch asks each once and copies the answer to duplicates. */
export function distinctKeys(keys: readonly string[]): Distinct {
  const first = new Map<string, number>();
  const indexes: number[] = [];
  keys.forEach((key, index) => {
    if (!first.has(key)) {
      first.set(key, index);
      indexes.push(index);
    }
  });
  return { first, indexes };
}

/** Copies each duplicate key's result from its first occurrence (a no-op without duplicates). */
export function copyDuplicates<T>(keys: readonly string[], results: T[], distinct: Distinct): void {
  if (distinct.first.size === keys.length) return;
  keys.forEach((key, index) => {
    results[index] = results[distinct.first.get(key) as number] as T;
  });
}

/**
 * Waits for every share of a batch. All answered: resolves. Some failed while others answered:
 * throws `CacheBatchError` with what `partial()` builds from the failed shares, `indeterminate`
 * when a failed share's writes may have been sent. All failed: throws the first failure as it is
 * (a `CacheBackendError` or `CacheTimeoutError`), since there is no partial answer to carry.
 */
export async function settleShares(
  batch: SharedBatch,
  partial: (failed: FailedShares) => PartialAnswer,
): Promise<void> {
  const { operation, shares } = batch;
  const keys: string[] = [];
  // In the order the shares failed, as `CacheBatchError.failures` promises.
  const failures: CacheBackendError[] = [];
  await Promise.all(
    shares.map((share) =>
      share.done.then(
        () => undefined,
        (error: unknown) => {
          failures.push(error as CacheBackendError);
          keys.push(...share.keys);
        },
      ),
    ),
  );
  if (failures.length === 0) return;
  const firstFailure = failures[0] as CacheBackendError;
  // A batch in flight when the backend closed is a closed call, not a partial answer.
  const closed = failures.find((failure) => isCacheError(failure, CacheErrorCode.Closed));
  if (closed !== undefined) throw closed;
  if (failures.length === shares.length) throw firstFailure;
  throw new CacheBatchError(
    `memcached ${operation} failed on ${failures.length} of ${shares.length} servers: ${firstFailure.message}`,
    {
      backend: 'memcached',
      operation,
      indeterminate: failures.some((failure) => failure.indeterminate),
      failures,
      failedKeys: keys,
      ...partial({ keys, failures }),
    },
  );
}
