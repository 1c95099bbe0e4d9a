import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { entry, textOf } from '../helpers.js';

/** Keys up to the declared `limits.maxKeyBytes`, multi-byte UTF-8, and core's punctuation. */
export function describeKeys(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('keys', () => {
    it('accepts an ASCII key of exactly maxKeyBytes', async () => {
      const limit = ctx.backend().limits.maxKeyBytes;
      const k = `${key('long')}-`.padEnd(limit, 'k');
      expect(Buffer.byteLength(k)).toBe(limit);
      expect(await ctx.backend().set(k, entry('long'), 0)).toBe(true);
      expect(textOf(await ctx.backend().get(k))).toBe('long');
      // The same key one character shorter is another key.
      expect(await ctx.backend().get(k.slice(0, -1))).toBeUndefined();
    });

    it('accepts multi-byte UTF-8 keys up to maxKeyBytes and keeps them apart', async () => {
      const limit = ctx.backend().limits.maxKeyBytes;
      const head = `${key('utf8')}-`;
      const k = head + 'é'.repeat(Math.floor((limit - head.length) / 2));
      expect(Buffer.byteLength(k)).toBeLessThanOrEqual(limit);
      expect(Buffer.byteLength(k)).toBeGreaterThan(limit - 2);
      await ctx.backend().set(k, entry('accent'), 0);
      expect(textOf(await ctx.backend().get(k))).toBe('accent');
      const crab = `${key('emoji')}-🦀`;
      await ctx.backend().set(crab, entry('crab'), 0);
      expect(textOf(await ctx.backend().get(crab))).toBe('crab');
      expect(await ctx.backend().get(`${crab.slice(0, -2)}🦞`)).toBeUndefined();
    });

    it('accepts the separators and punctuation core produces', async () => {
      const k = `${key('punct')}:stack=acme:session=s1:a/b#c?d&e`;
      await ctx.backend().set(k, entry('punct'), 0);
      expect(textOf(await ctx.backend().get(k))).toBe('punct');
    });
  });
}
