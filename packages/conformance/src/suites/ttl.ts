import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { entry, textOf } from '../helpers.js';

const WAIT = { timeout: 15_000 };

/**
 * TTLs at the declared precision, moved by the injected clock (or waited out): expiry, `0` means
 * never, a fractional TTL never becomes "no expiry", batches, `touch`, TTLs over 30 days.
 */
export function describeTtl(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('ttl', () => {
    it(`expires an entry after its TTL (${ctx.capabilities.ttlPrecision})`, WAIT, async () => {
      const k = key('ttl');
      await ctx.backend().set(k, entry('short'), 1);
      expect(textOf(await ctx.backend().get(k))).toBe('short');
      await ctx.advance(ctx.expireWaitMs(1));
      expect(await ctx.backend().get(k)).toBeUndefined();
    });

    it('ttlOf, where offered: the time left, Infinity without expiry, undefined for a miss', async () => {
      const backend = ctx.backend();
      if (backend.ttlOf === undefined) {
        expect(typeof backend.ttlOf).toBe('undefined'); // optional: a backend that cannot tell says nothing
        return;
      }
      const [expiring, forever] = [key('ttlof'), key('ttlof')];
      await backend.set(expiring, entry('x'), 60);
      await backend.set(forever, entry('y'), 0);
      const left = await backend.ttlOf(expiring);
      expect(left).toBeGreaterThan(50_000);
      expect(left).toBeLessThanOrEqual(60_000);
      expect(await backend.ttlOf(forever)).toBe(Infinity);
      expect(await backend.ttlOf(key('ttlof-missing'))).toBeUndefined();
    });

    it('keeps an entry with TTL 0 (no expiry)', WAIT, async () => {
      const k = key('forever');
      await ctx.backend().set(k, entry('forever'), 0);
      await ctx.advance(ctx.expireWaitMs(1));
      expect(textOf(await ctx.backend().get(k))).toBe('forever');
    });

    it('expires an entry with a fractional TTL instead of treating it as 0', WAIT, async () => {
      const k = key('fraction');
      await ctx.backend().set(k, entry('fraction'), 0.2);
      expect(textOf(await ctx.backend().get(k))).toBe('fraction');
      await ctx.advance(ctx.expireWaitMs(1));
      expect(await ctx.backend().get(k)).toBeUndefined();
    });

    it('applies the TTL to setMany entries', WAIT, async () => {
      const [a, b] = [key('mttl'), key('mttl')];
      await ctx.backend().setMany(
        [a, b].map((k) => ({ key: k, entry: entry(k) })),
        1,
      );
      expect((await ctx.backend().getMany([a, b])).map(textOf)).toEqual([a, b]);
      await ctx.advance(ctx.expireWaitMs(1));
      expect(await ctx.backend().getMany([a, b])).toEqual([undefined, undefined]);
    });

    it('touch gives an entry a new TTL and is false on a miss', WAIT, async () => {
      const k = key('touch');
      await ctx.backend().set(k, entry('t'), 0);
      expect(await ctx.backend().touch(k, 1)).toBe(true);
      expect(await ctx.backend().touch(key('touch-missing'), 1)).toBe(false);
      expect(textOf(await ctx.backend().get(k))).toBe('t');
      await ctx.advance(ctx.expireWaitMs(1));
      expect(await ctx.backend().get(k)).toBeUndefined();
    });

    it('treats a TTL longer than 30 days as relative, not as a past timestamp', async () => {
      const k = key('month');
      await ctx.backend().set(k, entry('long ttl'), 31 * 24 * 3600);
      expect(textOf(await ctx.backend().get(k))).toBe('long ttl');
    });
  });
}
