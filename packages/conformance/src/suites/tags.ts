import { CacheClient, StorageLevel } from '@stowage/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';

/**
 * Tags through two `CacheClient`s on one backend (standing for two processes): a bust by one
 * is a miss for the other, other tags and tenants are spared, and a result computed across a
 * bust is never served. Tags need only `getMany`, `add`, `set` and `deleteMany` of the backend,
 * so every backend keeps them — one that cannot list keys included.
 */
export function describeTags(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('tags', () => {
    let a: CacheClient;
    let b: CacheClient;
    beforeAll(async () => {
      // One backend, two clients: each has its own flights and leases, as two processes would.
      const backend = await ctx.another();
      a = new CacheClient({ backend, prefix: 'tg', ownsBackend: false });
      b = new CacheClient({ backend, prefix: 'tg', ownsBackend: false });
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it('a bust by one client is a miss for the other; other tags stay', async () => {
      const [tagged, other, tag] = [key('tg-entry'), key('tg-other'), key('tg-tag')];
      expect(await a.set(tagged, 'v', { tags: [tag, 'shared'] })).toBe(true);
      expect(await a.set(other, 'w', { tags: [`${tag}-other`] })).toBe(true);
      expect(await b.get(tagged)).toBe('v');
      await b.invalidateTags([tag]);
      expect(await a.get(tagged)).toBeUndefined();
      expect(await a.getMany([tagged, other])).toEqual(new Map([[other, 'w']]));
      expect(await a.getOrSet(tagged, () => 'again', { tags: [tag, 'shared'] })).toBe('again');
      expect(await b.getOrSet(tagged, () => 'not run', { tags: ['shared', tag] })).toBe('again');
    });

    it("a tenant's bust spares another tenant's entries", async () => {
      const [k, tag] = [key('tg-tenant'), key('tg-tenant-tag')];
      const acme = a.scoped(StorageLevel.Stack, { stack: 'acme' });
      await acme.set(k, 'acme', { tags: [tag] });
      await b.scoped(StorageLevel.Stack, { stack: 'globex' }).set(k, 'globex', { tags: [tag] });
      await b.scoped(StorageLevel.Stack, { stack: 'acme' }).invalidateTags([tag]);
      expect(await acme.get(k)).toBeUndefined();
      expect(await a.scoped(StorageLevel.Stack, { stack: 'globex' }).get(k)).toBe('globex');
    });

    it('a result computed across a bust is never served', async () => {
      const [k, tag] = [key('tg-gate'), key('tg-gate-tag')];
      let release: () => void = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let started: () => void = () => {};
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const pending = a.getOrSet(
        k,
        async () => {
          started();
          await released;
          return 'before the bust';
        },
        { tags: [tag] },
      );
      await running;
      await b.invalidateTags([tag]);
      release();
      expect(await pending).toBe('before the bust');
      expect(await b.get(k)).toBeUndefined();
      expect(await b.getOrSet(k, () => 'after', { tags: [tag] })).toBe('after');
      expect(await a.get(k)).toBe('after');
    });
  });
}
