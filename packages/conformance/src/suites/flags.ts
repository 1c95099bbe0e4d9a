import { CacheReturnCode } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { entry } from '../helpers.js';

/** The 32-bit flags value: every CacheReturnCode and any unsigned 32-bit value round-trip. */
export function describeFlags(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('flags', () => {
    for (const [label, code] of Object.entries(CacheReturnCode)) {
      it(`round-trips CacheReturnCode.${label} (${code})`, async () => {
        const k = key(`flag${code}`);
        await ctx.backend().set(k, entry('payload', code), 0);
        expect((await ctx.backend().get(k))?.flags).toBe(code);
      });
    }

    it('round-trips arbitrary unsigned 32-bit flags', async () => {
      const all = [0, 5, 255, 256, 65_535, 0xdeadbeef, 2 ** 31, 2 ** 32 - 1];
      const seen: Array<number | undefined> = [];
      for (const flags of all) {
        const k = key('u32');
        await ctx.backend().set(k, entry('x', flags), 0);
        seen.push((await ctx.backend().get(k))?.flags);
      }
      expect(seen).toEqual(all);
    });

    it('keeps flags through setMany and getMany', async () => {
      const writes = [0, 3, 0xfffffffe].map((flags) => ({
        key: key('mflags'),
        entry: entry('v', flags),
      }));
      await ctx.backend().setMany(writes, 0);
      const found = await ctx.backend().getMany(writes.map((w) => w.key));
      expect(found.map((f) => f?.flags)).toEqual([0, 3, 0xfffffffe]);
    });
  });
}
