import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { entry, textOf } from '../helpers.js';

/** `flush(0)` empties the server at once; `flush(delay)` waits when `delayedFlush` is declared. */
export function describeFlush(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('flush', () => {
    it('flush(0) removes every key at once', async () => {
      const [a, b] = [key('flush'), key('flush')];
      await ctx.backend().setMany(
        [a, b].map((k) => ({ key: k, entry: entry(k) })),
        0,
      );
      expect((await ctx.backend().getMany([a, b])).map(textOf)).toEqual([a, b]);
      await ctx.backend().flush(0);
      expect(await ctx.backend().getMany([a, b])).toEqual([undefined, undefined]);
    });

    it.skipIf(!ctx.capabilities.delayedFlush)(
      'flush(delay) keeps keys until the delay has passed',
      { timeout: 15_000 },
      async () => {
        const k = key('delayed');
        await ctx.backend().set(k, entry('soon gone'), 0);
        await ctx.backend().flush(1);
        expect(textOf(await ctx.backend().get(k))).toBe('soon gone');
        await ctx.advance(ctx.expireWaitMs(1));
        expect(await ctx.backend().get(k)).toBeUndefined();
      },
    );
  });
}
