import { LEASE_FLAGS, newLeaseMarker } from '@stowage/core/backend';
import type { CacheBackend, StoredEntry } from '@stowage/core';
import { CacheClient } from '@stowage/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { bytesOf, entry, sleep, textOf } from '../helpers.js';

const WAIT = { timeout: 15_000 };

/** `backend.setIf`, which the lease tests need; fails the test when the backend has none. */
function setIfOf(backend: CacheBackend): NonNullable<CacheBackend['setIf']> {
  if (backend.setIf === undefined) throw new Error('the backend has no setIf but declares leases');
  return (key, expected, entry, ttlSeconds) =>
    (backend.setIf as NonNullable<CacheBackend['setIf']>)(key, expected, entry, ttlSeconds);
}

/** Same bytes and flags, for the read-back `setIf` resolves. */
function expectEntry(found: StoredEntry | false | undefined, expected: StoredEntry): void {
  expect(found).not.toBe(false);
  expect(found).toBeDefined();
  const held = found as StoredEntry;
  expect(held.flags).toBe(expected.flags);
  expect(bytesOf(held)).toBe(bytesOf(expected));
}

/**
 * Leases (issue 12): the primitives `getOrSet` builds them from — take a lease marker with `add`,
 * refuse a second taker, let it expire, lose it to a delete or a newer write, renew it and commit
 * with `setIf` (compare-and-set) — and, through a client, that no reader ever sees a marker as a
 * value. Skipped, but for one check, when the backend declares no compare-and-set.
 */
export function describeLeases(ctx: SuiteContext, leases: boolean): void {
  const { key } = ctx;

  describe('leases', () => {
    it.skipIf(leases)('has no setIf, as declared (the client then takes no leases)', () => {
      expect(ctx.backend().setIf === undefined).toBe(true);
    });

    it.skipIf(!leases)(
      'take: add stores a marker on a missing key, a second add is refused',
      async () => {
        const k = key('lease-take');
        const [first, second] = [newLeaseMarker(), newLeaseMarker()];
        expect(await ctx.backend().add(k, first, 5)).toBe(true);
        expect(await ctx.backend().add(k, second, 5)).toBe(false);
        const held = await ctx.backend().get(k);
        expect(held?.flags).toBe(LEASE_FLAGS);
        expect(bytesOf(held)).toBe(bytesOf(first));
      },
    );

    it.skipIf(!leases)(
      'commit: setIf stores over the marker it names and reads the value back',
      async () => {
        const k = key('lease-commit');
        const marker = newLeaseMarker();
        await ctx.backend().add(k, marker, 5);
        const value = entry('computed');
        expectEntry(await setIfOf(ctx.backend())(k, marker, value, 60), value);
        expect(textOf(await ctx.backend().get(k))).toBe('computed');
        // The lease is spent: committing again under it is refused and changes nothing.
        expect(await setIfOf(ctx.backend())(k, marker, entry('again'), 60)).toBe(false);
        expect(textOf(await ctx.backend().get(k))).toBe('computed');
      },
    );

    it.skipIf(!leases)(
      'refuse: setIf under another marker, on a miss, or over a value is false',
      async () => {
        const [taken, missing, overwritten] = [
          key('lease-other'),
          key('lease-miss'),
          key('lease-over'),
        ];
        const [mine, theirs] = [newLeaseMarker(), newLeaseMarker()];
        await ctx.backend().add(taken, theirs, 5);
        expect(await setIfOf(ctx.backend())(taken, mine, entry('x'), 60)).toBe(false);
        expect(bytesOf(await ctx.backend().get(taken))).toBe(bytesOf(theirs));
        expect(await setIfOf(ctx.backend())(missing, mine, entry('x'), 60)).toBe(false);
        expect(await ctx.backend().get(missing)).toBeUndefined();
        await ctx.backend().add(overwritten, mine, 5);
        await ctx.backend().set(overwritten, entry('newer'), 60);
        expect(await setIfOf(ctx.backend())(overwritten, mine, entry('older'), 60)).toBe(false);
        expect(textOf(await ctx.backend().get(overwritten))).toBe('newer');
      },
    );

    it.skipIf(!leases)(
      'invalidate: a delete while the lease is held makes the commit fail',
      async () => {
        const k = key('lease-delete');
        const marker = newLeaseMarker();
        await ctx.backend().add(k, marker, 5);
        expect(await ctx.backend().delete(k)).toBe(true);
        expect(await setIfOf(ctx.backend())(k, marker, entry('stale'), 60)).toBe(false);
        expect(await ctx.backend().get(k)).toBeUndefined();
      },
    );

    it.skipIf(!leases)('compares flags as well as bytes', async () => {
      const k = key('lease-flags');
      const marker = newLeaseMarker();
      await ctx.backend().add(k, marker, 5);
      const sameBytes: StoredEntry = { value: marker.value, flags: marker.flags + 1 };
      expect(await setIfOf(ctx.backend())(k, sameBytes, entry('x'), 60)).toBe(false);
      expect(bytesOf(await ctx.backend().get(k))).toBe(bytesOf(marker));
    });

    it.skipIf(!leases)('release: deleteIf removes only the marker it names', async () => {
      const k = key('lease-release');
      const [mine, theirs] = [newLeaseMarker(), newLeaseMarker()];
      await ctx.backend().add(k, mine, 5);
      const deleteIf = ctx.backend().deleteIf?.bind(ctx.backend());
      expect(deleteIf).toBeDefined();
      expect(await deleteIf?.(k, theirs)).toBe(false);
      expect(await deleteIf?.(k, mine)).toBe(true);
      expect(await ctx.backend().get(k)).toBeUndefined();
    });

    it.skipIf(!leases)(
      'expire: a marker lives its TTL, then the next taker wins',
      WAIT,
      async () => {
        const k = key('lease-expire');
        const [dead, next] = [newLeaseMarker(), newLeaseMarker()];
        expect(await ctx.backend().add(k, dead, 1)).toBe(true);
        await ctx.advance(ctx.expireWaitMs(1));
        expect(await ctx.backend().get(k)).toBeUndefined();
        expect(await setIfOf(ctx.backend())(k, dead, entry('late'), 60)).toBe(false);
        expect(await ctx.backend().add(k, next, 5)).toBe(true);
      },
    );

    it.skipIf(!leases)(
      'renew: setIf of the marker over itself extends its TTL; the commit still works',
      WAIT,
      async () => {
        const k = key('lease-renew');
        const marker = newLeaseMarker();
        await ctx.backend().add(k, marker, 1);
        expectEntry(await setIfOf(ctx.backend())(k, marker, marker, 30), marker);
        await ctx.advance(ctx.expireWaitMs(1));
        expect(bytesOf(await ctx.backend().get(k))).toBe(bytesOf(marker));
        expectEntry(await setIfOf(ctx.backend())(k, marker, entry('done'), 60), entry('done'));
      },
    );

    it.skipIf(!leases)(
      'a commit larger than the limit is refused and leaves nothing behind',
      async () => {
        const k = key('lease-big');
        const marker = newLeaseMarker();
        await ctx.backend().add(k, marker, 5);
        const big = entry(new Uint8Array(ctx.backend().limits.maxValueBytes + 1));
        expect(await setIfOf(ctx.backend())(k, marker, big, 60)).toBeUndefined();
        expect(await ctx.backend().get(k)).toBeUndefined();
      },
    );

    describe('through a client', () => {
      let client: CacheClient;
      beforeAll(async () => {
        client = new CacheClient({
          backend: await ctx.another(),
          prefix: 'ls',
          ownsBackend: false,
        });
      });
      afterAll(async () => {
        await client?.close();
      });

      it('get and getMany read a key under lease as a miss, never as a value', async () => {
        const k = key('lease-read');
        const full = client.fullKey(k);
        expect(await client.backend.add(full, newLeaseMarker(), 5)).toBe(true);
        expect(await client.get(k, 'default')).toBe('default');
        expect((await client.getMany([k])).size).toBe(0);
        expect(client.stats().decodeErrors).toBe(0);
      });

      it.skipIf(!leases)('getOrSet runs the factory once and stores under its lease', async () => {
        const k = key('lease-gos');
        let runs = 0;
        const factory = async (): Promise<string> => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          return 'fresh';
        };
        const [a, b] = await Promise.all([
          client.getOrSet(k, factory),
          client.getOrSet(k, factory),
        ]);
        expect([a, b, runs]).toEqual(['fresh', 'fresh', 1]);
        expect(await client.get(k)).toBe('fresh');
      });

      it('grace: a stale value answers when the refresh fails, and a refresh replaces it', async () => {
        const k = key('grace');
        const options = { ttl: 0.05, grace: 30, onError: () => {} };
        expect(await client.getOrSet(k, () => 'old', options)).toBe('old');
        await sleep(80);
        expect(await client.getEntry(k)).toMatchObject({ status: 'stale', value: 'old' });
        const failing = (): never => {
          throw new Error('upstream down');
        };
        expect(await client.getOrSet(k, failing, options)).toBe('old');
        expect(await client.getOrSet(k, () => 'new', { ...options, ttl: 30 })).toBe('new');
        expect(await client.getEntry(k)).toMatchObject({ status: 'hit', value: 'new' });
      });

      it('staleWhileRevalidate answers stale at once and stores the refresh behind', async () => {
        const k = key('swr');
        await client.getOrSet(k, () => 1, { ttl: 0.05, grace: 30 });
        await sleep(80);
        const options = { ttl: 30, grace: 30, staleWhileRevalidate: true };
        expect(await client.getOrSet(k, () => Promise.resolve(2), options)).toBe(1);
        for (let i = 0; i < 50 && (await client.get(k)) !== 2; i++) await sleep(10);
        expect(await client.get(k)).toBe(2);
      });

      it('negativeTtl remembers undefined apart from any value', async () => {
        const k = key('negative');
        let runs = 0;
        const lookup = (): Promise<string | undefined> =>
          client.getOrSet(
            k,
            () => {
              runs++;
              return undefined;
            },
            { negativeTtl: 30 },
          );
        expect([await lookup(), await lookup(), runs]).toEqual([undefined, undefined, 1]);
        expect(await client.get(k, 'default')).toBe('default');
        expect(await client.getEntry(k)).toEqual({ status: 'notFound' });
      });

      it.skipIf(!leases)(
        'getOrSet does not store over a delete made while the factory ran',
        async () => {
          const k = key('lease-gos-delete');
          const value = await client.getOrSet(k, async () => {
            // Another process's delete, straight on the backend, while the lease is held.
            await client.backend.delete(client.fullKey(k));
            return 'stale';
          });
          expect(value).toBe('stale');
          expect(await client.get(k)).toBeUndefined();
        },
      );
    });
  });
}
