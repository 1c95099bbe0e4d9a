import { CacheReturnCode } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { entry, textOf } from '../helpers.js';

/** Single-key reads and writes: get, set, delete, add, and the optional setAndRead and deleteIf. */
export function describeReadWrite(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('read-write', () => {
    it('returns what was set, bytes and flags', async () => {
      const k = key('basic');
      expect(await ctx.backend().set(k, entry('hello', 7), 0)).toBe(true);
      const found = await ctx.backend().get(k);
      expect(textOf(found)).toBe('hello');
      expect(found?.flags).toBe(7);
    });

    it('returns undefined, never null, for a key that does not exist', async () => {
      expect(await ctx.backend().get(key('missing'))).toBeUndefined();
    });

    it('overwrites an existing value, flags included', async () => {
      const k = key('overwrite');
      await ctx.backend().set(k, entry('one'), 0);
      await ctx.backend().set(k, entry('two', CacheReturnCode.Json), 0);
      const found = await ctx.backend().get(k);
      expect(textOf(found)).toBe('two');
      expect(found?.flags).toBe(CacheReturnCode.Json);
    });

    it('deletes a key and reports whether it existed', async () => {
      const k = key('delete');
      await ctx.backend().set(k, entry('x'), 0);
      expect(await ctx.backend().delete(k)).toBe(true);
      expect(await ctx.backend().get(k)).toBeUndefined();
      expect(await ctx.backend().delete(k)).toBe(false);
    });

    it('keeps keys apart that differ only in case or a trailing character', async () => {
      const k = key('case');
      await ctx.backend().set(`${k}a`, entry('lower'), 0);
      await ctx.backend().set(`${k}A`, entry('upper'), 0);
      await ctx.backend().set(`${k}a1`, entry('longer'), 0);
      expect(textOf(await ctx.backend().get(`${k}a`))).toBe('lower');
      expect(textOf(await ctx.backend().get(`${k}A`))).toBe('upper');
      expect(textOf(await ctx.backend().get(`${k}a1`))).toBe('longer');
    });

    it('add stores only when the key is absent', async () => {
      const k = key('add');
      expect(await ctx.backend().add(k, entry('first'), 0)).toBe(true);
      expect(await ctx.backend().add(k, entry('second'), 0)).toBe(false);
      expect(textOf(await ctx.backend().get(k))).toBe('first');
      await ctx.backend().delete(k);
      expect(await ctx.backend().add(k, entry('again'), 0)).toBe(true);
      expect(textOf(await ctx.backend().get(k))).toBe('again');
    });

    it('setAndRead returns the new entry exactly as the server holds it', async ({ skip }) => {
      const backend = ctx.backend();
      if (backend.setAndRead === undefined) return skip('setAndRead is not implemented');
      const k = key('verify');
      await backend.set(k, entry('older', CacheReturnCode.String), 0);
      const readBack = await backend.setAndRead(k, entry('checked', CacheReturnCode.Json), 0);
      expect(textOf(readBack)).toBe('checked');
      expect(readBack?.flags).toBe(CacheReturnCode.Json);
      const held = await backend.get(k);
      expect(textOf(held)).toBe('checked');
      expect(held?.flags).toBe(CacheReturnCode.Json);
    });

    it('deleteIf deletes only an entry with exactly the expected bytes and flags', async ({
      skip,
    }) => {
      const backend = ctx.backend();
      if (backend.deleteIf === undefined) return skip('deleteIf is not implemented');
      const k = key('cad');
      await backend.set(k, entry('held-bytes', CacheReturnCode.String), 0);
      // Other bytes, or the same bytes under other flags: the newer write survives.
      expect(await backend.deleteIf(k, entry('other-bytes', CacheReturnCode.String))).toBe(false);
      expect(await backend.deleteIf(k, entry('held-bytes', CacheReturnCode.Json))).toBe(false);
      expect(textOf(await backend.get(k))).toBe('held-bytes');
      expect(await backend.deleteIf(k, entry('held-bytes', CacheReturnCode.String))).toBe(true);
      expect(await backend.get(k)).toBeUndefined();
      expect(await backend.deleteIf(k, entry('held-bytes', CacheReturnCode.String))).toBe(false);
    });

    it('deleteIf compares binary payloads byte for byte', async ({ skip }) => {
      const backend = ctx.backend();
      if (backend.deleteIf === undefined) return skip('deleteIf is not implemented');
      const k = key('cad-binary');
      const bytes = Buffer.from([0, 255, 13, 10, 0x78, 0x9c, 1, 2, 3]);
      await backend.set(k, entry(bytes, 7), 0);
      const nearly = Buffer.from(bytes);
      nearly[8] = 4;
      expect(await backend.deleteIf(k, entry(nearly, 7))).toBe(false);
      expect(await backend.deleteIf(k, entry(Buffer.from(bytes), 7))).toBe(true);
      expect(await backend.get(k)).toBeUndefined();
    });
  });
}
