import { CacheClient, CacheErrorCode, isCacheError } from '@stowage/core';
import { FaultProxy } from '@stowage/testkit';
import * as ioredis6 from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../src/index.js';
import { commandCalls, drivers, redisAvailable, timed, useRedisServer } from './helpers.js';

const keys = (n: number, tag = 'k'): string[] => Array.from({ length: n }, (_, i) => `${tag}${i}`);

describe.skipIf(!redisAvailable)('redis commands', () => {
  const redis = useRedisServer();

  for (const [label, driver] of drivers) {
    describe(label, () => {
      let backend: RedisBackend;
      let cache: CacheClient;
      beforeAll(async () => {
        backend = createRedisBackend({
          url: `redis://127.0.0.1:${redis.server.port}`,
          keyPrefix: 'cmd:',
          driver,
        });
        cache = new CacheClient({ backend });
        await cache.get('warm-up'); // connect (and its handshake) before counting
      });
      afterAll(async () => {
        await cache?.close();
      });
      beforeEach(async () => {
        await redis.raw.flushdb();
        await redis.raw.config('RESETSTAT');
      });

      it('names its server for traces (serverFor), without any I/O', async () => {
        expect(backend.serverFor('any')).toBe(`127.0.0.1:${redis.server.port}`);
        expect(await commandCalls(redis.raw)).toEqual({});
      });

      it('is right to refuse auto-pipelining: ioredis sends callBuffer under its first argument', async () => {
        // redis/ioredis#1923. If this starts to pass GET through, the refusal in the backend's
        // constructor can go.
        const Client = ((driver ?? ioredis6) as typeof ioredis6).Redis;
        const raw = new Client({
          host: '127.0.0.1',
          port: redis.server.port,
          enableAutoPipelining: true,
          maxRetriesPerRequest: 1,
        });
        try {
          await expect(raw.callBuffer('get', 'ap-probe')).rejects.toThrow(
            /unknown command 'ap-probe'/,
          );
        } finally {
          raw.disconnect();
        }
      });

      it("refuses the app's auto-pipelining client naming the fix, and the fix works", async () => {
        const Client = ((driver ?? ioredis6) as typeof ioredis6).Redis;
        const shared = new Client({
          host: '127.0.0.1',
          port: redis.server.port,
          enableAutoPipelining: true,
          lazyConnect: true,
        });
        const own = shared.duplicate({ enableAutoPipelining: false });
        try {
          expect(() => createRedisBackend({ client: shared })).toThrow(
            /pass `client\.duplicate\(\{ enableAutoPipelining: false \}\)` instead/,
          );
          const fixed = new CacheClient({ backend: createRedisBackend({ client: own }) });
          await fixed.set('ap-fixed', { ok: true });
          expect(await fixed.get('ap-fixed')).toEqual({ ok: true });
          await fixed.close();
        } finally {
          shared.disconnect();
          own.disconnect();
        }
      });

      it('sends the commands of one tick in one socket write, each with its own reply', async () => {
        await cache.setMany(Object.fromEntries(keys(64).map((k) => [k, `v-${k}`])));
        const socket = backend.client.stream as unknown as {
          _write: (...args: unknown[]) => unknown;
          _writev: (...args: unknown[]) => unknown;
        };
        let writes = 0;
        let commands = 0;
        const { _write: write, _writev: writev } = socket;
        socket._write = function (this: unknown, ...args: unknown[]) {
          writes++;
          commands++;
          return write.apply(this, args);
        };
        socket._writev = function (this: unknown, ...args: unknown[]) {
          writes++;
          commands += (args[0] as unknown[]).length;
          return writev.apply(this, args);
        };
        try {
          const found = await Promise.all(keys(64).map((k) => cache.get(k)));
          expect(found).toEqual(keys(64).map((k) => `v-${k}`));
          expect(commands).toBe(64);
          expect(writes).toBe(1);
          // A lone call is not held back: it leaves at the end of its tick.
          expect(await cache.get('k0')).toBe('v-k0');
          expect(writes).toBe(2);
        } finally {
          socket._write = write;
          socket._writev = writev;
        }
      });

      it('getMany of 50 is 50 bounded GETRANGEs sent in one write, nothing else', async () => {
        await cache.setMany(Object.fromEntries(keys(50).map((k) => [k, k])));
        await redis.raw.config('RESETSTAT');
        const found = await cache.getMany([...keys(50), 'missing']);
        expect([...found.keys()]).toEqual(keys(50));
        expect(await commandCalls(redis.raw)).toEqual({ getrange: 51 });
      });

      it('get is one GETRANGE bounded by maxValueBytes + the header', async () => {
        await cache.set('g', 'v', { skipIntegrityCheck: true });
        await redis.raw.config('RESETSTAT');
        expect(await cache.get('g')).toBe('v');
        expect(await commandCalls(redis.raw)).toEqual({ getrange: 1 });
      });

      it('setMany of 50 is 50 SET … PX and nothing else', async () => {
        const failed = await cache.setMany(Object.fromEntries(keys(50).map((k) => [k, { k }])), {
          ttl: 30,
        });
        expect(failed).toEqual([]);
        expect(await commandCalls(redis.raw)).toEqual({ set: 50 });
        expect(await redis.raw.pttl('cmd:k7')).toBeGreaterThan(25_000);
      });

      it('deleteMany is one UNLINK, delete is UNLINK', async () => {
        await cache.setMany(Object.fromEntries(keys(20).map((k) => [k, 1])));
        await redis.raw.config('RESETSTAT');
        await cache.deleteMany(keys(20));
        expect(await cache.delete('k0')).toBe(false);
        expect(await commandCalls(redis.raw)).toEqual({ unlink: 2 });
        expect(await redis.raw.dbsize()).toBe(0);
      });

      it('add is SET NX, touch is PEXPIRE, touch(0) is PERSIST', async () => {
        expect(await cache.add('a', 'first')).toBe(true);
        expect(await cache.add('a', 'second')).toBe(false);
        expect(await cache.get('a')).toBe('first');
        expect(await cache.touch('a', 10)).toBe(true);
        expect(await cache.touch('a', 0)).toBe(true);
        expect(await commandCalls(redis.raw)).toEqual({
          set: 2,
          getrange: 1,
          pexpire: 1,
          persist: 1,
          exists: 1,
        });
      });

      it('set with the integrity check is one SET and one GETRANGE; skipIntegrityCheck is one SET', async () => {
        expect(await cache.set('checked', { a: 1 })).toBe(true);
        expect(await cache.set('unchecked', { a: 1 }, { skipIntegrityCheck: true })).toBe(true);
        expect(await commandCalls(redis.raw)).toEqual({ set: 2, getrange: 1 });
      });

      it('incr is one script call (EVALSHA, loaded with EVAL once)', async () => {
        await redis.raw.script('FLUSH');
        await cache.set('n', 1);
        await redis.raw.config('RESETSTAT');
        expect(await cache.incr('n')).toBe(2);
        expect(await cache.incr('n')).toBe(3);
        const calls = await commandCalls(redis.raw);
        expect(calls['evalsha']).toBe(2);
        expect(calls['eval']).toBe(1);
        expect(calls['incrby']).toBe(2);
      });

      it('flushAll is FLUSHDB: every application’s keys go', async () => {
        await redis.raw.set('other-app:key', 'theirs');
        await cache.set('mine', 1);
        await cache.flushAll();
        expect(await redis.raw.dbsize()).toBe(0);
        expect((await commandCalls(redis.raw))['flushdb']).toBe(1);
      });
    });
  }

  describe('a server out of memory', () => {
    it('refuses writes: set resolves false, setMany names the keys, nothing throws', async () => {
      const raw = redis.raw;
      await raw.flushdb();
      const backend = createRedisBackend({
        url: `redis://127.0.0.1:${redis.server.port}`,
        keyPrefix: 'oom:',
      });
      const cache = new CacheClient({ backend, compress: false });
      expect(await cache.set('present', 'before')).toBe(true);
      const used = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1]);
      await raw.config('SET', 'maxmemory-policy', 'noeviction');
      await raw.config('SET', 'maxmemory', String(used + 64 * 1024));
      try {
        // Redis checks memory before a write: this one lands and takes the server over the limit.
        await cache.set('fill', 'x'.repeat(200 * 1024), { skipIntegrityCheck: true });
        expect(await cache.set('checked', 'v')).toBe(false);
        expect(await cache.set('unchecked', 'v', { skipIntegrityCheck: true })).toBe(false);
        expect(await cache.add('added', 1)).toBe(false);
        expect(await cache.setMany({ a: 1, b: 2 })).toEqual(['a', 'b']);
        expect(
          await raw.exists('oom:checked', 'oom:unchecked', 'oom:added', 'oom:a', 'oom:b'),
        ).toBe(0);
        // Reads keep working on a full server.
        expect(await cache.get('present')).toBe('before');
        expect([...(await cache.getMany(['present', 'a'])).keys()]).toEqual(['present']);
      } finally {
        await raw.config('SET', 'maxmemory', '0');
        await raw.flushdb();
        await cache.close();
      }
    });
  });

  describe('clear()', () => {
    it('removes only its own namespace with SCAN + UNLINK in batches, never KEYS', async () => {
      await redis.raw.flushdb();
      // Another application shares the database, with look-alike names.
      const theirs = ['cle', 'cleared', 'clear', 'cl*r:x', 'other:clear:1', 'CLEAR:1', 'clear;1'];
      for (const key of theirs) await redis.raw.set(key, 'theirs');
      const backend = createRedisBackend({
        url: `redis://127.0.0.1:${redis.server.port}`,
        keyPrefix: 'clear:',
        batchSize: 10,
      });
      const cache = new CacheClient({ backend });
      await cache.setMany(Object.fromEntries(keys(35).map((k) => [k, k])));
      expect(await redis.raw.dbsize()).toBe(35 + theirs.length);
      await redis.raw.config('RESETSTAT');
      await backend.clear();
      const calls = await commandCalls(redis.raw);
      expect(calls['keys']).toBeUndefined();
      expect(calls['flushdb']).toBeUndefined();
      expect(calls['scan']).toBeGreaterThanOrEqual(4); // 35 + 7 keys, COUNT 10
      expect(calls['unlink']).toBeGreaterThanOrEqual(4);
      expect((await redis.raw.keys('*')).sort()).toEqual([...theirs].sort());
      await cache.close();
    });

    it('escapes glob characters in the prefix', async () => {
      await redis.raw.flushdb();
      await redis.raw.set('a?b:1', 'theirs');
      await redis.raw.set('axb:1', 'theirs');
      await redis.raw.set('a[x]b:1', 'theirs');
      const backend = createRedisBackend({
        url: `redis://127.0.0.1:${redis.server.port}`,
        keyPrefix: 'a*b:',
      });
      await backend.set('mine', { value: Buffer.from('x'), flags: 1 }, 0);
      await backend.clear();
      expect((await redis.raw.keys('*')).sort()).toEqual(['a?b:1', 'a[x]b:1', 'axb:1']);
      await backend.close();
    });

    it('refuses to run without a keyPrefix, before any I/O', async () => {
      await redis.raw.flushdb();
      await redis.raw.set('someone', 'else');
      const backend = createRedisBackend({ url: `redis://127.0.0.1:${redis.server.port}` });
      const error = await Promise.resolve()
        .then(() => backend.clear())
        .catch((e: unknown) => e);
      expect(isCacheError(error, CacheErrorCode.Config)).toBe(true);
      expect(backend.client.status).toBe('wait');
      expect(await redis.raw.get('someone')).toBe('else');
      await backend.close();
    });
  });

  describe('round trips', () => {
    let proxy: FaultProxy;
    let backend: RedisBackend;
    let cache: CacheClient;
    // 150 ms each way: one round trip takes about 300 ms, two about 600 ms.
    const oneWayMs = 150;
    beforeAll(async () => {
      proxy = await FaultProxy.start(redis.server.port);
      backend = createRedisBackend({
        url: `redis://127.0.0.1:${proxy.port}`,
        keyPrefix: 'rt:',
        timeoutMs: 3000,
      });
      cache = new CacheClient({ backend, timeoutMs: 3000 });
      await cache.set('warm-up', 1); // connect before the latency starts
      proxy.setMode({ kind: 'latency', ms: oneWayMs });
    });
    afterAll(async () => {
      await cache?.close();
      await proxy?.close();
    });

    it('the integrity check, setMany and getMany each cost one round trip', async () => {
      const single = await timed(() => cache.get('warm-up'));
      expect(single.value).toBe(1);
      expect(single.ms).toBeGreaterThanOrEqual(2 * oneWayMs - 20);
      const oneTrip = single.ms + oneWayMs; // anything below two round trips
      const checked = await timed(() => cache.set('checked', 'value'));
      expect(checked.value).toBe(true);
      expect(checked.ms).toBeLessThan(oneTrip);
      const many = await timed(() =>
        cache.setMany(Object.fromEntries(keys(50).map((k) => [k, k]))),
      );
      expect(many.value).toEqual([]);
      expect(many.ms).toBeLessThan(oneTrip);
      const read = await timed(() => cache.getMany(keys(50)));
      expect(read.value?.size).toBe(50);
      expect(read.ms).toBeLessThan(oneTrip);
    });
  });
});
