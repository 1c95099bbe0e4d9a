import { CacheClient, CacheErrorCode, StorageLevel, type CacheBackend } from '@stowage/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { sleep } from '../helpers.js';

/**
 * The backend seen through a `CacheClient` (unstorage's driver-through-`createStorage` pass):
 * the client's encoding, integrity check, batches, counters, single-flight, scopes, TTLs and
 * close all work on top of it.
 */
export function describeClientPass(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('client pass', () => {
    let client: CacheClient;
    beforeAll(async () => {
      client = new CacheClient({ backend: await ctx.another(), prefix: 'cp', ownsBackend: false });
    });
    afterAll(async () => {
      await client?.close();
    });

    it('set then get round-trips a string, JSON and an integer', async () => {
      const [s, j, n] = [key('cp-str'), key('cp-json'), key('cp-int')];
      const json = { a: 1, b: [true, null, 'x'], c: { d: 1.5 } };
      expect(await client.set(s, 'héllo')).toBe(true);
      expect(await client.set(j, json)).toBe(true);
      expect(await client.set(n, 42)).toBe(true);
      expect(await client.get(s)).toBe('héllo');
      expect(await client.get(j)).toEqual(json);
      expect(await client.get(n)).toBe(42);
    });

    it('getMany returns the hits by key and leaves misses out; add keeps the first value', async () => {
      const [a, b, c] = [key('cp-many'), key('cp-many'), key('cp-many')];
      expect(await client.setMany({ [a]: 'A', [c]: 3 })).toEqual([]);
      expect(Object.fromEntries(await client.getMany([a, b, c]))).toEqual({ [a]: 'A', [c]: 3 });
      expect(await client.add(b, 'first')).toBe(true);
      expect(await client.add(b, 'second')).toBe(false);
      expect(await client.get(b)).toBe('first');
    });

    it('incr and decr count on an integer and miss on an absent key', async () => {
      const k = key('cp-counter');
      await client.set(k, 10);
      expect(await client.incr(k, 5)).toBe(15);
      expect(await client.decr(k, 3)).toBe(12);
      expect(await client.get(k)).toBe(12);
      expect(await client.incr(key('cp-counter-missing'))).toBeUndefined();
    });

    it('delete and deleteMany remove what they name', async () => {
      const [a, b, keep] = [key('cp-del'), key('cp-del'), key('cp-del')];
      expect(await client.setMany({ [a]: 1, [b]: 2, [keep]: 3 })).toEqual([]);
      expect(await client.delete(a)).toBe(true);
      expect(await client.delete(a)).toBe(false);
      expect(await client.deleteMany([b])).toBe(true);
      expect(Object.fromEntries(await client.getMany([a, b, keep]))).toEqual({ [keep]: 3 });
    });

    it('getOrSet runs one factory for concurrent callers and stores its result', async () => {
      const k = key('cp-flight');
      let runs = 0;
      const factory = async (): Promise<string> => {
        runs += 1;
        await sleep(20);
        return 'made';
      };
      const both = await Promise.all([client.getOrSet(k, factory), client.getOrSet(k, factory)]);
      expect(both).toEqual(['made', 'made']);
      expect(await client.getOrSet(k, factory)).toBe('made');
      expect(runs).toBe(1);
      expect(await client.get(k)).toBe('made');
    });

    it('scoped clients of two tenants and the root do not collide', async () => {
      const k = key('cp-scope');
      const acme = client.scoped(StorageLevel.Stack, { stack: 'acme' });
      const globex = client.scoped(StorageLevel.Stack, { stack: 'globex' });
      await client.set(k, 'root');
      await acme.set(k, 'acme');
      await globex.set(k, 'globex');
      expect(await acme.delete(k)).toBe(true);
      const seen = [await client.get(k), await acme.get(k), await globex.get(k)];
      expect(seen).toEqual(['root', undefined, 'globex']);
    });

    it("takes keys from user input with longKeys: 'hash-unsafe', each its own entry", async () => {
      const hashing = new CacheClient({
        backend: await ctx.another(),
        prefix: 'cp',
        longKeys: 'hash-unsafe',
        ownsBackend: false,
      });
      try {
        const base = key('cp-unsafe');
        const keys = [' ', '\t', '\r\n', '\u0000', '\ud800', '\udc00', 'stack=acme:x', 'é 🦀'].map(
          (tail) => `${base}${tail}`,
        );
        keys.push(`${base} ${'x'.repeat(400)}`);
        for (const [index, k] of keys.entries()) await hashing.set(k, index);
        const seen = await Promise.all(keys.map((k) => hashing.get(k)));
        expect(seen).toEqual(keys.map((_, index) => index));
        expect(await hashing.getMany(keys)).toEqual(new Map(keys.map((k, index) => [k, index])));
        expect(await client.scoped(StorageLevel.Stack, { stack: 'acme' }).get('x')).toBeUndefined();
      } finally {
        await hashing.close();
      }
    });

    it('noreply writes resolve at once and stay in order with the reads after them', async () => {
      const [a, b, c] = [key('cp-nr-a'), key('cp-nr-b'), key('cp-nr-c')];
      await client.set(a, 'old');
      expect(await client.set(a, 'new', { noreply: true })).toBeUndefined();
      expect(await client.get(a)).toBe('new');
      expect(await client.setMany({ [b]: 1, [c]: 2 }, { noreply: true })).toBeUndefined();
      expect(Object.fromEntries(await client.getMany([b, c]))).toEqual({ [b]: 1, [c]: 2 });
      expect(await client.deleteMany([a, b], { noreply: true })).toBeUndefined();
      expect(await client.get(a)).toBeUndefined();
      expect(await client.get(b)).toBeUndefined();
      expect(await client.get(c)).toBe(2);
    });

    it('expires an entry after its TTL', { timeout: 15_000 }, async () => {
      const k = key('cp-ttl');
      await client.set(k, 'short', { ttl: 1 });
      expect(await client.get(k)).toBe('short');
      await ctx.advance(ctx.expireWaitMs(1));
      expect(await client.get(k)).toBeUndefined();
    });

    it('close makes later calls reject with E_CACHE_CLOSED', async () => {
      const own: CacheBackend = await ctx.another();
      const closing = new CacheClient({ backend: own, prefix: 'cp' });
      await closing.set('k', 'v');
      await closing.close();
      const closed = { code: CacheErrorCode.Closed };
      await expect(closing.get('k')).rejects.toMatchObject(closed);
      await expect(closing.set('k', 'w')).rejects.toMatchObject(closed);
      await expect(closing.getMany(['k'])).rejects.toMatchObject(closed);
      await expect(closing.ping()).rejects.toMatchObject(closed);
    });

    it('ping resolves a round trip in milliseconds, and the backend pings itself when it can', async () => {
      const before = client.stats();
      const ms = await client.ping();
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(client.stats()).toMatchObject({ hits: before.hits, misses: before.misses });
      const own = client.backend;
      if (own.ping !== undefined)
        await expect(Promise.resolve(own.ping())).resolves.toBeUndefined();
    });
  });
}
