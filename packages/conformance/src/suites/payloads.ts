import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { attempt, bytesOf, entry, textOf } from '../helpers.js';

/**
 * Payload bytes and the value limit: every byte round-trips, a value of exactly
 * `limits.maxValueBytes` is stored, and a larger one is refused without throwing — the key then
 * holds no older value (memcached unlinks an item on "object too large").
 */
export function describePayloads(ctx: SuiteContext): void {
  const { key } = ctx;
  const oversize = (): Uint8Array => Buffer.alloc(ctx.backend().limits.maxValueBytes + 1, 0x62);

  describe('payloads', () => {
    it('round-trips every byte value', async () => {
      const k = key('bytes');
      const all = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
      await ctx.backend().set(k, entry(all, 0), 0);
      expect(bytesOf(await ctx.backend().get(k))).toBe(Buffer.from(all).toString('hex'));
    });

    it('round-trips CRLF, NUL and protocol words inside a value', async () => {
      const k = key('crlf');
      const tricky = Buffer.from('a\r\nEND\r\nVALUE x 0 1\r\n\0b\r\n', 'latin1');
      await ctx.backend().set(k, entry(tricky, 0), 0);
      expect(bytesOf(await ctx.backend().get(k))).toBe(tricky.toString('hex'));
    });

    it('round-trips an empty payload as a hit, not a miss', async () => {
      const k = key('empty');
      expect(await ctx.backend().set(k, entry(new Uint8Array(0), 1), 0)).toBe(true);
      const found = await ctx.backend().get(k);
      expect(found?.value.byteLength).toBe(0);
      expect(found?.flags).toBe(1);
    });

    it('stores a value of exactly maxValueBytes, byte for byte', async () => {
      const k = key('limit');
      const max = ctx.backend().limits.maxValueBytes;
      const big = Buffer.alloc(max, 0x62);
      big[0] = 0x01;
      big[max - 1] = 0x03;
      expect(await ctx.backend().set(k, entry(big, 2), 0)).toBe(true);
      const found = await ctx.backend().get(k);
      expect(found?.value.byteLength).toBe(max);
      expect(Buffer.from(found!.value).equals(big)).toBe(true);
      expect(found?.flags).toBe(2);
    });

    it('set of an oversize value resolves false and the key then reads as a miss', async () => {
      const k = key('over-set');
      await ctx.backend().set(k, entry('older'), 0);
      expect(await attempt(() => ctx.backend().set(k, entry(oversize()), 0))).toBe(false);
      expect(await ctx.backend().get(k)).toBeUndefined();
      const fresh = key('over-set-fresh');
      expect(await attempt(() => ctx.backend().set(fresh, entry(oversize()), 0))).toBe(false);
      expect(await ctx.backend().get(fresh)).toBeUndefined();
    });

    it('setMany lists an oversize value as not stored, reads it as a miss, stores the rest', async () => {
      const [over, fits] = [key('over-many'), key('over-many')];
      await ctx.backend().set(over, entry('older'), 0);
      const writes = [
        { key: over, entry: entry(oversize()) },
        { key: fits, entry: entry('fits') },
      ];
      expect(await attempt(() => ctx.backend().setMany(writes, 0))).toEqual([over]);
      expect(await ctx.backend().get(over)).toBeUndefined();
      expect(textOf(await ctx.backend().get(fits))).toBe('fits');
    });

    it('setAndRead of an oversize value resolves undefined and the older value is gone', async ({
      skip,
    }) => {
      const backend = ctx.backend();
      if (backend.setAndRead === undefined) return skip('setAndRead is not implemented');
      const k = key('over-verify');
      await backend.set(k, entry('older'), 0);
      expect(await attempt(() => backend.setAndRead!(k, entry(oversize()), 0))).toBeUndefined();
      expect(await backend.get(k)).toBeUndefined();
    });

    it('add of an oversize value resolves false and an existing value stays', async () => {
      const [held, free] = [key('over-add'), key('over-add')];
      await ctx.backend().set(held, entry('older'), 0);
      expect(await attempt(() => ctx.backend().add(held, entry(oversize()), 0))).toBe(false);
      expect(textOf(await ctx.backend().get(held))).toBe('older');
      expect(await attempt(() => ctx.backend().add(free, entry(oversize()), 0))).toBe(false);
      expect(await ctx.backend().get(free)).toBeUndefined();
    });
  });
}
