// A read once returned a 200 MiB value another program stored as a hit, although the limit was
// 1 MiB. Reads now never fetch more than `maxValueBytes` + the header: a larger value is a miss
// plus a `backend` warning, and the bytes never cross the network.
//
// This file uses nothing of the package but `createRedisBackend` and the stored format's
// `HEADER_BYTES`, so it runs unchanged against earlier releases, where it fails (the value is
// fetched in full).
import { CacheClient, CacheErrorCode, DEFAULT_MAX_VALUE_BYTES, isCacheError } from '@stowage/core';
import type { WarningEvent } from '@stowage/core';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../src/index.js';
import { HEADER_BYTES } from '../src/stored-format.js';
import { drivers, redisAvailable, useRedisServer } from './helpers.js';

/** Bytes the server has sent to all its clients so far (`INFO stats`). */
async function netOutput(raw: Redis): Promise<number> {
  return Number(/total_net_output_bytes:(\d+)/.exec(await raw.info('stats'))?.[1]);
}

describe.skipIf(!redisAvailable)('bounded reads', () => {
  const redis = useRedisServer();
  afterEach(async () => {
    await redis.raw.flushdb();
  });

  for (const [label, driver] of drivers) {
    describe(label, () => {
      let backend: RedisBackend;
      let cache: CacheClient;
      const warnings: WarningEvent[] = [];
      beforeAll(() => {
        backend = createRedisBackend({
          url: `redis://127.0.0.1:${redis.server.port}`,
          keyPrefix: 'b:',
          maxValueBytes: 1024,
          driver,
        });
        cache = new CacheClient({ backend, prefix: 'app', compress: false });
        cache.on('warning', (event) => warnings.push(event));
      });
      afterEach(() => {
        warnings.length = 0;
      });
      afterAll(async () => {
        await cache?.close();
      });

      it('a value over the limit is a miss plus a backend warning, and is never fetched', async () => {
        // 8 MiB written by another program, and one of ours one byte over the limit.
        await redis.raw.set('b:app:huge', Buffer.alloc(8 * 1024 * 1024, 0x61));
        await backend.set('app:edge', { value: Buffer.alloc(1024, 0x62), flags: 1 }, 0);
        await redis.raw.append('b:app:edge', 'c');
        expect(await cache.set('fits', 'x'.repeat(1000))).toBe(true);
        const sentBefore = await netOutput(redis.raw);
        expect(await cache.get('huge')).toBeUndefined();
        expect(await cache.get('edge')).toBeUndefined();
        const many = await cache.getMany(['huge', 'fits', 'edge', 'absent']);
        expect([...many.keys()]).toEqual(['fits']);
        // Four oversize reads and one hit of ~1 KB: nowhere near 8 MiB crossed the network.
        expect((await netOutput(redis.raw)) - sentBefore).toBeLessThan(16 * 1024);
        expect(warnings.map((w) => [w.kind, w.operation, w.fullKey])).toEqual([
          ['backend', 'get', 'app:huge'],
          ['backend', 'get', 'app:edge'],
          ['backend', 'getMany', 'app:huge'],
          ['backend', 'getMany', 'app:edge'],
        ]);
        expect(String(warnings[0]?.error.message)).toMatch(/more than 1034 bytes/);
        expect(isCacheError(warnings[0]?.error, CacheErrorCode.Decode)).toBe(true);
      });

      it('a value of exactly maxValueBytes is a hit, in get, getMany and the integrity check', async () => {
        const exact = 'b'.repeat(1024);
        expect(await cache.set('edge', exact)).toBe(true);
        expect(await cache.get('edge')).toBe(exact);
        expect((await cache.getMany(['edge'])).get('edge')).toBe(exact);
        expect(await redis.raw.strlen('b:app:edge')).toBeLessThanOrEqual(1024 + HEADER_BYTES);
        expect(warnings).toEqual([]);
      });

      it('with the default limit, a 2 MiB value another program stored is a miss', async () => {
        const defaults = createRedisBackend({
          url: `redis://127.0.0.1:${redis.server.port}`,
          keyPrefix: 'b:',
          driver,
        });
        expect(defaults.limits.maxValueBytes).toBe(DEFAULT_MAX_VALUE_BYTES);
        const reports: unknown[] = [];
        const off = defaults.onWarning?.((warning) => reports.push(warning.key));
        try {
          await redis.raw.set('b:big', Buffer.alloc(2 * 1024 * 1024, 0x61));
          // Each read stops one byte past the limit: at most the limit crosses the network (plus
          // the INFO replies this measures with).
          const bound = DEFAULT_MAX_VALUE_BYTES + HEADER_BYTES + 64;
          let sentBefore = await netOutput(redis.raw);
          expect(await defaults.get('big')).toBeUndefined();
          expect((await netOutput(redis.raw)) - sentBefore).toBeLessThan(bound + 16 * 1024);
          sentBefore = await netOutput(redis.raw);
          expect(await defaults.getMany(['big'])).toEqual([undefined]);
          expect((await netOutput(redis.raw)) - sentBefore).toBeLessThan(bound + 16 * 1024);
          expect(reports).toEqual(['big', 'big']);
        } finally {
          off?.();
          await defaults.close();
        }
      });
    });
  }
});
