/**
 * Batches in parts. A multi-key command may not cross hash slots on a Redis Cluster, so a batch
 * goes out as parts (one command or pipeline per slot, one command per key for `getMany`) that
 * different nodes answer. When a node fails, only its parts fail: the helpers here collect what
 * each part answered and build the error the backend contract asks for — `CacheBatchError` with
 * the healthy parts' answer when some answered, the first failure as it is when none did.
 */
import { CacheBackendError, CacheBatchError, type CacheError } from '@stowage/core';
import type { StoredEntry } from '@stowage/core/backend';
import { groupBySlot, keySlot } from './cluster-slot.js';

/**
 * Positions of `keys` in batches of at most `batchSize` that one multi-key command may carry. On
 * a Cluster each batch lies in one hash slot; standalone, the keys are only cut into batches.
 */
export function commandBatches(
  keys: readonly string[],
  layout: { readonly cluster: boolean; readonly batchSize: number },
): number[][] {
  const groups = layout.cluster
    ? [...groupBySlot(keys).values()]
    : [Array.from({ length: keys.length }, (_, i) => i)];
  const batches: number[][] = [];
  for (const group of groups) {
    for (let i = 0; i < group.length; i += layout.batchSize) {
      batches.push(group.slice(i, i + layout.batchSize));
    }
  }
  return batches;
}

/** The keys at `positions`, each once (a batch may repeat a key), in the caller's order. */
export function keysAt(keys: readonly string[], positions: Iterable<number>): string[] {
  const inOrder = [...positions].sort((a, b) => a - b);
  return [...new Set(inOrder.map((i) => keys[i] as string))];
}

/** One part of a batch: the positions (in the caller's keys) it carries, and its outcome. */
export interface BatchPart<T> {
  /** Positions of the part's keys in the batch, in the caller's order. */
  readonly positions: readonly number[];
  /** Settles when the part's node answered, or rejects with what went wrong. */
  readonly done: Promise<T>;
}

/** Every part of a batch, settled: what the answered ones resolved, and why the others failed. */
export interface SettledParts<T> {
  /** The parts that answered, with what they resolved. */
  readonly answered: ReadonlyArray<{ readonly positions: readonly number[]; readonly value: T }>;
  /** The parts that failed, with their raw error (a transport failure). */
  readonly failed: ReadonlyArray<{
    readonly positions: readonly number[];
    readonly reason: unknown;
  }>;
}

/** Waits for every part — a failed one does not stop the others from being collected. */
export async function settleParts<T>(parts: ReadonlyArray<BatchPart<T>>): Promise<SettledParts<T>> {
  const outcomes = await Promise.allSettled(parts.map((part) => part.done));
  const answered: Array<{ positions: readonly number[]; value: T }> = [];
  const failed: Array<{ positions: readonly number[]; reason: unknown }> = [];
  outcomes.forEach((outcome, i) => {
    const { positions } = parts[i] as BatchPart<T>;
    if (outcome.status === 'fulfilled') answered.push({ positions, value: outcome.value });
    else failed.push({ positions, reason: outcome.reason });
  });
  return { answered, failed };
}

/** A batch whose parts have settled, for {@link checkParts}. */
export interface PartsOutcome {
  /** The backend method (`getMany`, `setMany`, `deleteMany`). */
  readonly operation: string;
  /** The backend's keys of the batch, in the caller's order. */
  readonly keys: readonly string[];
  /** The same keys as Redis sees them (`keyPrefix` included): they decide the hash slot. */
  readonly full: readonly string[];
  /** How the parts settled. */
  readonly settled: SettledParts<unknown>;
  /** ioredis's slot map (`RedisClientLike.slots`), to count the failed nodes. */
  readonly slots: ReadonlyArray<readonly string[] | undefined> | undefined;
  /** Maps a part's raw error to the Stowage error of a call that sent it. */
  readonly toError: (reason: unknown) => CacheError;
  /** What the healthy parts answered, given the failed positions: `entries` or `notStored`. */
  readonly partial: (failed: ReadonlySet<number>) => {
    readonly entries?: ReadonlyArray<StoredEntry | undefined>;
    readonly notStored?: readonly string[];
  };
}

/**
 * Returns when every part answered. Throws the first failure as it is when no part answered,
 * and otherwise a `CacheBatchError` carrying the healthy parts' answer: `failures` holds one
 * error per failed node, `failedKeys` the keys of the failed parts (each once, in the caller's
 * order), and `indeterminate` is true when a failed part held writes that may have been sent.
 */
export function checkParts(outcome: PartsOutcome): void {
  const { operation, keys, settled } = outcome;
  if (settled.failed.length === 0) return;
  const failures = new Map<string, CacheBackendError>();
  const failedPositions = new Set<number>();
  let indeterminate = false;
  for (const part of settled.failed) {
    const error = outcome.toError(part.reason);
    // Anything but a transport failure (a closed backend, a bug) is the call's outcome as is.
    if (!(error instanceof CacheBackendError)) throw error;
    if (settled.answered.length === 0) throw error;
    indeterminate ||= error.indeterminate;
    // The master serving the part's slot; the slot itself when the map does not say.
    const slot = keySlot(outcome.full[part.positions[0] as number] as string);
    const node = outcome.slots?.[slot]?.[0] ?? `slot ${slot}`;
    if (!failures.has(node)) failures.set(node, error);
    for (const position of part.positions) failedPositions.add(position);
  }
  const failedKeys = keysAt(keys, failedPositions);
  const errors = [...failures.values()];
  const first = errors[0] as CacheBackendError;
  throw new CacheBatchError(
    `redis ${operation} failed for ${failedKeys.length} of ${keys.length} keys, on ${errors.length} cluster node${errors.length === 1 ? '' : 's'}: ${first.message}`,
    {
      backend: 'redis',
      operation,
      indeterminate,
      failures: errors,
      failedKeys,
      ...outcome.partial(failedPositions),
    },
  );
}
