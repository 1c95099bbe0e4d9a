import { asBatchError, CacheErrorCode, type CacheBackend } from '@stowage/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { entry, rejectionOf, textOf } from '../helpers.js';
import type { PartialBatchFixture } from '../types.js';

const SLOW = { timeout: 15_000 };
const TRANSPORT_CODE = new RegExp(`^(${CacheErrorCode.Backend}|${CacheErrorCode.Timeout})$`);

type Call = readonly [string, (backend: CacheBackend) => unknown];
const READS: readonly Call[] = [
  ['get', (b) => b.get('cf-down')],
  ['getMany', (b) => b.getMany(['cf-down-a', 'cf-down-b'])],
];
const WRITES: readonly Call[] = [
  ['set', (b) => b.set('cf-down', entry('v'), 0)],
  ['setMany', (b) => b.setMany([{ key: 'cf-down', entry: entry('v') }], 0)],
  ['add', (b) => b.add('cf-down', entry('v'), 0)],
  ['touch', (b) => b.touch('cf-down', 1)],
  ['incr', (b) => b.incr('cf-down', 1n)],
  ['decr', (b) => b.decr('cf-down', 1n)],
  ['delete', (b) => b.delete('cf-down')],
  ['deleteMany', (b) => b.deleteMany(['cf-down-a', 'cf-down-b'])],
];

/**
 * Transport failures. On an unreachable server (connection refused) every call rejects with a
 * `CacheBackendError` or `CacheTimeoutError` carrying the backend's name, never a raw client
 * error, and with `indeterminate: false`: reads never are, and nothing of a write could be sent.
 * With one server of two down, batches reject with a `CacheBatchError` carrying the healthy part.
 */
export function describeFailures(ctx: SuiteContext): void {
  const { createUnreachable, createPartial } = ctx;

  describe.skipIf(createUnreachable === undefined)('failures: unreachable server', () => {
    let dead: CacheBackend;
    beforeAll(async () => {
      dead = await createUnreachable!();
    });
    afterAll(async () => {
      await dead?.close();
    });

    for (const [method, call] of [...READS, ...WRITES]) {
      const what = READS.some(([read]) => read === method) ? 'a read' : 'nothing was sent';
      it(
        `${method} rejects with a CacheBackendError, indeterminate false (${what})`,
        SLOW,
        async () => {
          const error = await rejectionOf(() => call(dead));
          expect(error).toMatchObject({
            name: expect.stringMatching(/^Cache(Backend|Timeout|Batch)Error$/) as unknown,
            code: expect.stringMatching(TRANSPORT_CODE) as unknown,
            backend: dead.name,
            operation: method,
            indeterminate: false,
          });
        },
      );
    }
  });

  describe.skipIf(createPartial === undefined)('failures: one server of two down', () => {
    let fixture: PartialBatchFixture;
    beforeAll(async () => {
      fixture = await createPartial!();
    });
    afterAll(async () => {
      await fixture?.backend.close();
      await fixture?.teardown?.();
    });

    it('getMany rejects with a CacheBatchError holding the healthy entry', SLOW, async () => {
      const { backend, healthyKey, failedKey } = fixture;
      expect(await backend.set(healthyKey, entry('healthy'), 0)).toBe(true);
      const error = await rejectionOf(() => backend.getMany([healthyKey, failedKey]));
      expect(error).toMatchObject({ name: 'CacheBatchError', code: CacheErrorCode.Backend });
      const batch = asBatchError(error)!;
      expect(batch.entries).toHaveLength(2);
      expect(textOf(batch.entries?.[0])).toBe('healthy');
      expect(batch.entries?.[1]).toBeUndefined();
      expect(batch.failedKeys).toContain(failedKey);
      expect(batch.failedKeys).not.toContain(healthyKey);
    });

    it(
      'setMany rejects with a CacheBatchError listing only the failed key as not stored',
      SLOW,
      async () => {
        const { backend, healthyKey, failedKey } = fixture;
        const writes = [healthyKey, failedKey].map((k) => ({ key: k, entry: entry(`new ${k}`) }));
        const error = await rejectionOf(() => backend.setMany(writes, 0));
        expect(error).toMatchObject({ name: 'CacheBatchError', code: CacheErrorCode.Backend });
        const batch = asBatchError(error)!;
        expect(batch.notStored).toContain(failedKey);
        expect(batch.notStored).not.toContain(healthyKey);
        expect(textOf(await backend.get(healthyKey))).toBe(`new ${healthyKey}`);
      },
    );

    it('deleteMany rejects with a CacheBatchError naming the failed key', SLOW, async () => {
      const { backend, healthyKey, failedKey } = fixture;
      await backend.set(healthyKey, entry('to delete'), 0);
      const error = await rejectionOf(() => backend.deleteMany([healthyKey, failedKey]));
      expect(error).toMatchObject({ name: 'CacheBatchError', code: CacheErrorCode.Backend });
      expect(asBatchError(error)!.failedKeys).toEqual([failedKey]);
      expect(await backend.get(healthyKey)).toBeUndefined();
    });
  });
}
