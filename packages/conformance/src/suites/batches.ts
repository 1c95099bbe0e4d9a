import { CacheReturnCode } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { entry, textOf } from '../helpers.js';

/** Healthy batches: getMany aligned with its keys, setMany's not-stored list, deleteMany. */
export function describeBatches(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('batches', () => {
    it('getMany returns entries aligned with the keys, misses as undefined', async () => {
      const [a, b, c] = [key('many'), key('many'), key('many')];
      await ctx.backend().set(a, entry('A'), 0);
      await ctx.backend().set(c, entry('C', CacheReturnCode.Integer), 0);
      const found = await ctx.backend().getMany([c, b, a]);
      expect(found).toHaveLength(3);
      expect(textOf(found[0])).toBe('C');
      expect(found[0]?.flags).toBe(CacheReturnCode.Integer);
      expect(found[1]).toBeUndefined();
      expect(textOf(found[2])).toBe('A');
    });

    it('getMany answers duplicate keys at each position and an empty list with []', async () => {
      const a = key('dup');
      await ctx.backend().set(a, entry('A'), 0);
      expect((await ctx.backend().getMany([a, a])).map(textOf)).toEqual(['A', 'A']);
      expect(await ctx.backend().getMany([])).toEqual([]);
      // A duplicate before later distinct keys: every key is still asked for and answered.
      const [b, c, d] = [key('dup-b'), key('dup-c'), key('dup-d')];
      await ctx.backend().setMany(
        [b, c, d].map((k) => ({ key: k, entry: entry(`v:${k}`) })),
        0,
      );
      const found = await ctx.backend().getMany([a, b, a, c, b, d]);
      expect(found.map(textOf)).toEqual(['A', `v:${b}`, 'A', `v:${c}`, `v:${b}`, `v:${d}`]);
    });

    it('getMany of 200 keys keeps their order', async () => {
      const keys = Array.from({ length: 200 }, () => key('wide'));
      const writes = keys
        .filter((_, i) => i % 3 !== 0)
        .map((k) => ({ key: k, entry: entry(`v:${k}`) }));
      expect(await ctx.backend().setMany(writes, 0)).toEqual([]);
      const found = await ctx.backend().getMany(keys);
      expect(found.map(textOf)).toEqual(keys.map((k, i) => (i % 3 === 0 ? undefined : `v:${k}`)));
    });

    it('setMany stores every entry, bytes and flags, and lists no key as not stored', async () => {
      const writes = [1, 2, 3].map((n) => ({ key: key('setmany'), entry: entry(`value ${n}`, n) }));
      expect(await ctx.backend().setMany(writes, 0)).toEqual([]);
      for (const write of writes) {
        const found = await ctx.backend().get(write.key);
        expect(textOf(found)).toBe(textOf(write.entry));
        expect(found?.flags).toBe(write.entry.flags);
      }
    });

    it('setMany lets the last write of a duplicate key win', async () => {
      const k = key('setmany-dup');
      const writes = [
        { key: k, entry: entry('first') },
        { key: k, entry: entry('last') },
      ];
      expect(await ctx.backend().setMany(writes, 0)).toEqual([]);
      expect(textOf(await ctx.backend().get(k))).toBe('last');
    });

    it('setMany of an empty list stores nothing and lists nothing', async () => {
      expect(await ctx.backend().setMany([], 0)).toEqual([]);
    });

    it('deleteMany removes every listed key, ignores missing ones and leaves others', async () => {
      const [a, b, keep] = [key('dm'), key('dm'), key('dm')];
      await ctx.backend().setMany(
        [a, b, keep].map((k) => ({ key: k, entry: entry(k) })),
        0,
      );
      await ctx.backend().deleteMany([a, b, key('dm-missing')]);
      expect((await ctx.backend().getMany([a, b, keep])).map(textOf)).toEqual([
        undefined,
        undefined,
        keep,
      ]);
      await ctx.backend().deleteMany([]);
      expect(textOf(await ctx.backend().get(keep))).toBe(keep);
    });
  });
}
