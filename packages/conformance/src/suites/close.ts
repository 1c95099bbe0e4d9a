import { CacheErrorCode, type CacheBackend } from '@stowage/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { attempt, entry, rejectionOf } from '../helpers.js';

const KEY = 'cf-closed';

/** Every method but `close`, called on a closed backend. */
const CALLS: ReadonlyArray<readonly [string, (backend: CacheBackend) => unknown]> = [
  ['get', (b) => b.get(KEY)],
  ['getMany', (b) => b.getMany([KEY])],
  ['set', (b) => b.set(KEY, entry('x'), 0)],
  ['setAndRead', (b) => b.setAndRead?.(KEY, entry('x'), 0)],
  ['setMany', (b) => b.setMany([{ key: KEY, entry: entry('x') }], 0)],
  ['add', (b) => b.add(KEY, entry('x'), 0)],
  ['touch', (b) => b.touch(KEY, 1)],
  ['incr', (b) => b.incr(KEY, 1n)],
  ['decr', (b) => b.decr(KEY, 1n)],
  ['delete', (b) => b.delete(KEY)],
  ['deleteIf', (b) => b.deleteIf?.(KEY, entry('x'))],
  ['deleteMany', (b) => b.deleteMany([KEY])],
  ['clear', (b) => b.clear()],
  ['flush', (b) => b.flush(0)],
];

/**
 * `close()` is idempotent, and afterwards every method throws or rejects with
 * `CacheClosedError` (code `E_CACHE_CLOSED`) — not a transport error, not a silent miss.
 */
export function describeClose(ctx: SuiteContext): void {
  describe('close', () => {
    let closed: CacheBackend;
    beforeAll(async () => {
      closed = await ctx.another();
      await closed.set(KEY, entry('held before close'), 0);
      await closed.close();
    });

    it('is idempotent: closing again resolves', async () => {
      await expect(attempt(() => closed.close())).resolves.toBeUndefined();
      await expect(attempt(() => closed.close())).resolves.toBeUndefined();
    });

    for (const [method, call] of CALLS) {
      it(`${method} after close rejects with E_CACHE_CLOSED`, async ({ skip }) => {
        const held = (closed as unknown as Record<string, unknown>)[method];
        if (held === undefined) return skip(`${method} is not implemented`);
        const error = await rejectionOf(() => call(closed));
        expect(error).toMatchObject({ code: CacheErrorCode.Closed });
      });
    }
  });
}
