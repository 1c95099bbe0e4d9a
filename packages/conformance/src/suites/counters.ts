import { CacheErrorCode, CacheReturnCode } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { entry, rejectionOf, textOf } from '../helpers.js';

/**
 * `incr`/`decr`: exact 64-bit arithmetic on the stored digits whatever the flags, flags and TTL
 * kept, a miss stays a miss, and the declared `counters` semantics.
 */
export function describeCounters(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('counters', () => {
    it('incr and decr change a decimal value and keep its flags', async () => {
      const k = key('counter');
      await ctx.backend().set(k, entry('41', CacheReturnCode.Integer), 0);
      expect(await ctx.backend().incr(k, 1n)).toBe(42n);
      expect(await ctx.backend().incr(k, 100n)).toBe(142n);
      expect(await ctx.backend().decr(k, 2n)).toBe(140n);
      const found = await ctx.backend().get(k);
      expect(textOf(found)?.trimEnd()).toBe('140');
      expect(found?.flags).toBe(CacheReturnCode.Integer);
    });

    it('incr and decr resolve undefined on a miss and do not create the key', async () => {
      const k = key('counter-missing');
      expect(await ctx.backend().incr(k, 1n)).toBeUndefined();
      expect(await ctx.backend().decr(k, 1n)).toBeUndefined();
      expect(await ctx.backend().get(k)).toBeUndefined();
    });

    it('incr handles values beyond 2^53 exactly', async () => {
      const k = key('big-counter');
      const start = 2n ** 53n + 1n;
      await ctx.backend().set(k, entry(start.toString(), CacheReturnCode.Integer), 0);
      expect(await ctx.backend().incr(k, 2n ** 32n)).toBe(start + 2n ** 32n);
      expect(await ctx.backend().incr(k, 1n)).toBe(start + 2n ** 32n + 1n);
    });

    it('works on the digits whatever the flags: a String "7" becomes the String "8"', async () => {
      const k = key('string-counter');
      await ctx.backend().set(k, entry('7', CacheReturnCode.String), 0);
      expect(await ctx.backend().incr(k, 1n)).toBe(8n);
      const found = await ctx.backend().get(k);
      expect(textOf(found)?.trimEnd()).toBe('8');
      expect(found?.flags).toBe(CacheReturnCode.String);
      await ctx.backend().set(k, entry('41', CacheReturnCode.Json), 0);
      expect(await ctx.backend().decr(k, 1n)).toBe(40n);
      const json = await ctx.backend().get(k);
      expect(textOf(json)?.trimEnd()).toBe('40');
      expect(json?.flags).toBe(CacheReturnCode.Json);
    });

    it('incr keeps the TTL of the entry it changes', { timeout: 15_000 }, async () => {
      const k = key('counter-ttl');
      await ctx.backend().set(k, entry('1', CacheReturnCode.Integer), 1);
      expect(await ctx.backend().incr(k, 1n)).toBe(2n);
      await ctx.advance(ctx.expireWaitMs(1));
      expect(await ctx.backend().get(k)).toBeUndefined();
    });

    it('incr on a value that is not a decimal integer throws CacheValueError', async () => {
      const k = key('not-a-number');
      await ctx.backend().set(k, entry('abc'), 0);
      const error = await rejectionOf(() => ctx.backend().incr(k, 1n));
      expect(error).toMatchObject({ code: CacheErrorCode.Value });
      expect(textOf(await ctx.backend().get(k))).toBe('abc');
    });

    it.skipIf(ctx.capabilities.counters !== 'unsigned64')(
      'decr stops at 0 and incr wraps at 2^64 (unsigned64)',
      async () => {
        const k = key('floor');
        await ctx.backend().set(k, entry('5', CacheReturnCode.Integer), 0);
        expect(await ctx.backend().decr(k, 10n)).toBe(0n);
        await ctx.backend().set(k, entry((2n ** 64n - 1n).toString(), CacheReturnCode.Integer), 0);
        expect(await ctx.backend().incr(k, 2n)).toBe(1n);
      },
    );

    it.skipIf(ctx.capabilities.counters !== 'signed64')(
      'decr goes below 0 (signed64)',
      async () => {
        const k = key('negative');
        await ctx.backend().set(k, entry('5', CacheReturnCode.Integer), 0);
        expect(await ctx.backend().decr(k, 10n)).toBe(-5n);
        expect(await ctx.backend().incr(k, 7n)).toBe(2n);
      },
    );
  });
}
