// The partial-batch rule on its own, without a cluster: what a batch whose parts settled throws.
import {
  asBatchError,
  CacheBackendError,
  CacheBatchError,
  CacheClosedError,
  type StoredEntry,
} from '@stowage/core';
import { describe, expect, it } from 'vitest';
import {
  checkParts,
  commandBatches,
  keysAt,
  settleParts,
  type PartsOutcome,
} from '../src/cluster-batch.js';
import { keySlot } from '../src/cluster-slot.js';

const entry = (text: string): StoredEntry => ({ value: Buffer.from(text), flags: 0 });

/** Two keys in different slots (and so, here, on different nodes), and one more in the first's. */
const KEYS = ['{a}1', '{b}1', '{a}2'];
const SLOTS: string[][] = [];
SLOTS[keySlot('{a}1')] = ['10.0.0.1:7000'];
SLOTS[keySlot('{b}1')] = ['10.0.0.2:7000'];

/** A transport failure as the runner maps it: indeterminate for a write that was sent. */
const failure = (operation: string, write: boolean): CacheBackendError =>
  new CacheBackendError(`redis ${operation} failed: Connection is closed.`, {
    backend: 'redis',
    operation,
    indeterminate: write,
  });

async function outcome(
  operation: string,
  parts: ReadonlyArray<{ positions: number[]; fails: boolean }>,
  partial: PartsOutcome['partial'] = () => ({}),
): Promise<PartsOutcome> {
  const settled = await settleParts(
    parts.map(({ positions, fails }) => ({
      positions,
      done: fails ? Promise.reject(new Error('Connection is closed.')) : Promise.resolve('ok'),
    })),
  );
  return {
    operation,
    keys: KEYS,
    full: KEYS,
    settled,
    slots: SLOTS,
    toError: () => failure(operation, operation !== 'getMany'),
    partial,
  };
}

function thrown(run: () => void): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('checkParts', () => {
  it('returns when every part answered', async () => {
    const all = await outcome('getMany', [
      { positions: [0, 2], fails: false },
      { positions: [1], fails: false },
    ]);
    expect(thrown(() => checkParts(all))).toBeUndefined();
  });

  it('some parts failed: a CacheBatchError with the healthy part, the failed keys and nodes', async () => {
    const entries = [entry('a1'), undefined, entry('a2')];
    const some = await outcome(
      'getMany',
      [
        { positions: [1], fails: true },
        { positions: [0], fails: false },
        { positions: [2], fails: false },
      ],
      () => ({ entries }),
    );
    const error = thrown(() => checkParts(some));
    expect(error).toBeInstanceOf(CacheBatchError);
    const batch = asBatchError(error)!;
    expect(batch).toMatchObject({
      backend: 'redis',
      operation: 'getMany',
      failedKeys: ['{b}1'],
      entries,
      indeterminate: false,
    });
    expect(batch.failures).toHaveLength(1);
    expect(batch.message).toMatch(/1 of 3 keys, on 1 cluster node: .*Connection is closed/);
  });

  it('counts one failure per node, lists each failed key once in the caller’s order, and is indeterminate for writes', async () => {
    const writes = await outcome(
      'setMany',
      [
        { positions: [2], fails: true },
        { positions: [0], fails: true },
        { positions: [1], fails: false },
      ],
      (failed) => ({ notStored: keysAt(KEYS, failed) }),
    );
    const batch = asBatchError(thrown(() => checkParts(writes)))!;
    expect(batch.failedKeys).toEqual(['{a}1', '{a}2']);
    expect(batch.notStored).toEqual(['{a}1', '{a}2']);
    // Both failed parts are on the node of slot {a}: one failure.
    expect(batch.failures).toHaveLength(1);
    expect(batch.indeterminate).toBe(true);
  });

  it('no part answered: the first failure as it is, not a CacheBatchError', async () => {
    const none = await outcome('deleteMany', [
      { positions: [0, 2], fails: true },
      { positions: [1], fails: true },
    ]);
    const error = thrown(() => checkParts(none));
    expect(error).toBeInstanceOf(CacheBackendError);
    expect(error).not.toBeInstanceOf(CacheBatchError);
    expect(error).toMatchObject({ operation: 'deleteMany', indeterminate: true });
  });

  it('an error that is not a transport failure is thrown as it is', async () => {
    const closed = new CacheClosedError('the redis backend is closed');
    const some = await outcome('getMany', [
      { positions: [0], fails: true },
      { positions: [1, 2], fails: false },
    ]);
    expect(thrown(() => checkParts({ ...some, toError: () => closed }))).toBe(closed);
  });
});

describe('commandBatches', () => {
  it('cuts a standalone batch into batchSize pieces, in order', () => {
    const keys = Array.from({ length: 5 }, (_, i) => `k${i}`);
    expect(commandBatches(keys, { cluster: false, batchSize: 2 })).toEqual([[0, 1], [2, 3], [4]]);
  });

  it('keeps each Cluster batch in one hash slot', () => {
    const keys = ['{x}1', '{y}1', '{x}2', '{x}3'];
    const batches = commandBatches(keys, { cluster: true, batchSize: 2 });
    expect(batches).toEqual([[0, 2], [3], [1]]);
    for (const batch of batches) {
      expect(new Set(batch.map((i) => keySlot(keys[i]!))).size).toBe(1);
    }
  });
});
