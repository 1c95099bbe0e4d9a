import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import {
  CacheClient,
  CacheClosedError,
  CacheErrorCode,
  getCache,
  isCacheError,
  type StoredEntry,
} from '@stowage/core';
import { freePort, startRedis, type ServerHandle } from '@stowage/testkit';
import { Redis } from 'ioredis';
import * as ioredis5 from 'ioredis5';
import * as iovalkey from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createBackendFromUrl,
  createRedisBackend,
  parseRedisUrl,
  RedisBackend,
  type RedisBackendOptions,
} from '../src/index.js';
import { safeRedisOptions } from '../src/safe-options.js';
import { drivers, inspector, redisAvailable, startServer, timed } from './helpers.js';

const fixture = (name: string): Buffer =>
  readFileSync(new URL(`./fixtures/tls/${name}`, import.meta.url));

function configError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('configuration', () => {
  it('declares the deadline it enforces itself: its own timeoutMs', async () => {
    const backend = createRedisBackend({ timeoutMs: 250 });
    expect(backend.capabilities).toEqual({
      ttlPrecision: 'milliseconds',
      scopedClear: true,
      counters: 'signed64',
      delayedFlush: false,
      timeoutMs: 250,
    });
    expect(createRedisBackend().capabilities.timeoutMs).toBe(1000);
    await backend.close();
  });

  it('opens no connection until the first call, and none at all when closed unused', async () => {
    let connections = 0;
    const listener: Server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const port = (listener.address() as { port: number }).port;
    const backend = createRedisBackend({ url: `redis://127.0.0.1:${port}` });
    const viaUrl = await getCache({ url: `redis://127.0.0.1:${port}`, env: {} });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(connections).toBe(0);
    expect(backend.client.status).toBe('wait');
    await backend.close();
    await viaUrl.close();
    expect(connections).toBe(0);
    listener.close();
  });

  it('rejects bad options with a CacheConfigError naming the option, before any I/O', () => {
    const cases: Array<[RedisBackendOptions, RegExp]> = [
      [{ timeoutMs: 0 }, /`timeoutMs`/],
      [{ timeoutMs: -5 }, /`timeoutMs`/],
      [{ timeoutMs: 1.5 }, /`timeoutMs`/],
      [{ timeoutMs: '100' as unknown as number }, /`timeoutMs`/],
      [{ maxValueBytes: 0 }, /`maxValueBytes`/],
      [
        { maxValueBytes: 600 * 1024 * 1024 },
        /`maxValueBytes` must be an integer from 1 to 536870902/,
      ],
      [{ maxKeyBytes: Number.NaN }, /`maxKeyBytes`/],
      [{ batchSize: 0 }, /`batchSize`/],
      [{ keyPrefix: 'has space' }, /`keyPrefix`/],
      [{ keyPrefix: 'tab\t' }, /`keyPrefix`/],
      [{ keyPrefix: 'lone\ud800' }, /`keyPrefix`/],
      [{ url: 'http://localhost' }, /redis:\/\/ or rediss:\/\//],
      [{ url: 'not a url' }, /not a valid URL/],
      [{ url: 'redis://localhost:6379/abc' }, /database number/],
      [{ url: 'redis://localhost?keyprefix=x' }, /unknown redis:\/\/ option 'keyprefix'/],
      [{ url: 'rediss://localhost?db=1' }, /unknown rediss:\/\/ option 'db'; known: keyPrefix/],
      [{ url: 'redis://localhost?maxValueBytes=-1' }, /'maxValueBytes' must be a positive integer/],
      [{ url: 'redis://localhost?maxKeyBytes=0' }, /'maxKeyBytes' must be a positive integer/],
      [{ url: 'redis://localhost', clusterNodes: [{ port: 7000 }] }, /one of/],
      [{ clusterNodes: [] }, /`clusterNodes`/],
      [{ redisOptions: { keyPrefix: 'x:' } }, /`keyPrefix`/],
      [{ clusterNodes: [{ port: 7000 }], clusterOptions: { keyPrefix: 'x:' } }, /`keyPrefix`/],
      [
        { clusterNodes: [{ port: 7000 }], clusterOptions: { redisOptions: { keyPrefix: 'x:' } } },
        /`keyPrefix`/,
      ],
      [{ redisOptions: { enableAutoPipelining: true } }, /`enableAutoPipelining: true`/],
      [
        { clusterNodes: [{ port: 7000 }], clusterOptions: { enableAutoPipelining: true } },
        /`enableAutoPipelining: true`/,
      ],
      [
        {
          clusterNodes: [{ port: 7000 }],
          clusterOptions: { redisOptions: { enableAutoPipelining: true } },
        },
        /`enableAutoPipelining: true`/,
      ],
      [{ client: {} as never }, /`client` must be/],
      [{ driver: {} as never }, /`driver`/],
    ];
    for (const [options, message] of cases) {
      const error = configError(() => createRedisBackend(options));
      expect(
        isCacheError(error, CacheErrorCode.Config),
        `${JSON.stringify(options)}: ${String(error)}`,
      ).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('refuses a caller-owned client that has ioredis’s own keyPrefix', () => {
    const client = new Redis({ lazyConnect: true, keyPrefix: 'theirs:' });
    const error = configError(() => createRedisBackend({ client }));
    expect(isCacheError(error, CacheErrorCode.Config)).toBe(true);
    expect((error as Error).message).toMatch(/keyPrefix/);
    client.disconnect();
  });

  it('refuses a caller-owned client with auto-pipelining, and accepts it switched off', async () => {
    const client = new Redis({ lazyConnect: true, enableAutoPipelining: true });
    const error = configError(() => createRedisBackend({ client }));
    expect(isCacheError(error, CacheErrorCode.Config)).toBe(true);
    expect((error as Error).message).toMatch(/enableAutoPipelining.*ioredis#1923/);
    client.disconnect();
    const plain = new Redis({ lazyConnect: true, enableAutoPipelining: false });
    const backend = createRedisBackend({ client: plain, keyPrefix: 'x:' });
    expect(backend.ownsClient).toBe(false);
    await backend.close();
    plain.disconnect();
  });

  it('parses redis:// and rediss:// URLs itself, so no parameter reaches ioredis', () => {
    expect(parseRedisUrl('redis://cache.internal')).toEqual({
      redisOptions: { host: 'cache.internal', port: 6379 },
      params: {},
    });
    const full = parseRedisUrl(
      'redis://app%40svc:p%3Ass@10.1.2.3:6380/4?keyPrefix=billing:&maxValueBytes=2048',
    );
    expect(full.redisOptions).toEqual({
      host: '10.1.2.3',
      port: 6380,
      username: 'app@svc',
      password: 'p:ss',
      db: 4,
    });
    expect(full.params).toEqual({ keyPrefix: 'billing:', maxValueBytes: 2048 });
    expect(parseRedisUrl('redis://:secret@[::1]:7000/').redisOptions).toEqual({
      host: '::1',
      port: 7000,
      password: 'secret',
    });
    expect(parseRedisUrl('rediss://cache.example.com').redisOptions).toEqual({
      host: 'cache.example.com',
      port: 6379,
      tls: {},
    });
  });

  it('applies URL parameters and the deadline getCache passes', async () => {
    const backend = createBackendFromUrl(
      new URL('redis://localhost?keyPrefix=svc:&maxKeyBytes=300'),
      {
        timeoutMs: 250,
      },
    );
    expect(backend).toBeInstanceOf(RedisBackend);
    expect(backend.keyPrefix).toBe('svc:');
    expect(backend.timeoutMs).toBe(250);
    expect(backend.limits).toEqual({ maxKeyBytes: 300, maxValueBytes: 1024 * 1024 - 512 });
    // The deadline is the backend's own (one timer per group of calls), not ioredis's per command.
    expect((backend.client.options as { socketTimeout?: number }).socketTimeout).toBe(250);
    expect((backend.client.options as { commandTimeout?: number }).commandTimeout).toBeUndefined();
    expect((backend.client.options as { keyPrefix?: string }).keyPrefix ?? '').toBe('');
    await backend.close();
  });

  it('refuses a URL with several hosts instead of using only the first', async () => {
    const error = await getCache({ url: 'redis://10.0.0.1:7000,10.0.0.2:7000', env: {} }).catch(
      (e: unknown) => e,
    );
    expect(isCacheError(error, CacheErrorCode.Config), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/one server; got 2 .*clusterNodes/);
  });

  it('rejects every call after close() with CacheClosedError (E_CACHE_CLOSED), also those that send nothing', async () => {
    const backend = createRedisBackend({
      url: 'redis://127.0.0.1:1',
      keyPrefix: 'closed:',
      maxValueBytes: 1024,
    });
    const unprefixed = createRedisBackend({ url: 'redis://127.0.0.1:1' });
    await backend.close();
    await unprefixed.close();
    const small: StoredEntry = { value: Buffer.from('v'), flags: 0 };
    const large: StoredEntry = { value: Buffer.alloc(2048), flags: 0 };
    const calls: Record<string, () => unknown> = {
      get: () => backend.get('k'),
      getMany: () => backend.getMany(['k']),
      'getMany([])': () => backend.getMany([]),
      set: () => backend.set('k', small, 0),
      'set (oversize)': () => backend.set('k', large, 0),
      setAndRead: () => backend.setAndRead('k', small, 0),
      'setAndRead (oversize)': () => backend.setAndRead('k', large, 0),
      setMany: () => backend.setMany([{ key: 'k', entry: small }], 0),
      'setMany([])': () => backend.setMany([], 0),
      add: () => backend.add('k', small, 0),
      'add (oversize)': () => backend.add('k', large, 0),
      touch: () => backend.touch('k', 1),
      incr: () => backend.incr('k', 1n),
      decr: () => backend.decr('k', 1n),
      delete: () => backend.delete('k'),
      deleteIf: () => backend.deleteIf('k', small),
      setIf: () => backend.setIf('k', small, small, 1),
      'setIf (oversize)': () => backend.setIf('k', small, large, 1),
      deleteMany: () => backend.deleteMany(['k']),
      'deleteMany([])': () => backend.deleteMany([]),
      clear: () => backend.clear(),
      'clear (no keyPrefix)': () => unprefixed.clear(),
      flush: () => backend.flush(0),
      'flush (with a delay)': () => backend.flush(5),
    };
    for (const [name, call] of Object.entries(calls)) {
      const error = await Promise.resolve()
        .then(call)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error, name).toBeInstanceOf(CacheClosedError);
      expect((error as CacheClosedError).code, name).toBe(CacheErrorCode.Closed);
      expect((error as Error).message, name).toBe('the redis backend is closed');
    }
    expect(await backend.close()).toBeUndefined(); // idempotent
  });

  it('opens connections with the safe defaults, under the caller’s redisOptions', async () => {
    const backend = createRedisBackend({
      redisOptions: { port: 6390, connectionName: 'svc' },
      timeoutMs: 400,
    });
    const options = backend.client.options as Record<string, unknown>;
    expect(options).toMatchObject({
      port: 6390,
      connectionName: 'svc',
      lazyConnect: true,
      socketTimeout: 400,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: false,
    });
    const retry = options['retryStrategy'] as (attempt: number) => number;
    expect(retry(1)).toBeGreaterThanOrEqual(100);
    expect(retry(50)).toBeLessThanOrEqual(2100);
    expect(options['commandTimeout']).toBeUndefined();
    expect(safeRedisOptions(400).commandTimeout).toBeUndefined();
    await backend.close();
  });
});

describe.skipIf(!redisAvailable)('with a server', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('getCache({ url: "redis://…" }) loads this package and works end to end', async () => {
    const cache = await getCache({
      url: `redis://127.0.0.1:${server.port}/3?keyPrefix=gc:`,
      prefix: 'svc',
      env: {},
    });
    // getCache imports the built package (dist), not this test's src: compare by name.
    expect(cache.backend.name).toBe('redis');
    expect(cache.backend.constructor.name).toBe('RedisBackend');
    expect(await cache.set('greeting', { hello: 'world' })).toBe(true);
    expect(await cache.get('greeting')).toEqual({ hello: 'world' });
    const raw = inspector(server.port);
    await raw.select(3);
    expect(await raw.exists('gc:svc:greeting')).toBe(1);
    raw.disconnect();
    await cache.close();
  });

  for (const [label, driver] of drivers) {
    it(`uses a caller-owned ${label} client as is and never closes it`, async () => {
      const Client = (driver ?? { Redis }).Redis as typeof Redis;
      const client = new Client({
        host: '127.0.0.1',
        port: server.port,
        lazyConnect: true,
        commandTimeout: 1000,
      });
      const errorListeners = client.listenerCount('error');
      const backend = createRedisBackend({ client, keyPrefix: 'own:' });
      expect(backend.ownsClient).toBe(false);
      expect(client.listenerCount('error')).toBe(errorListeners);
      const cache = new CacheClient({ backend });
      expect(await cache.set('k', 'v')).toBe(true);
      await cache.close();
      expect(client.status).toBe('ready');
      expect(await client.exists('own:k')).toBe(1);
      const closed = await backend.get('k').catch((e: unknown) => e);
      expect(isCacheError(closed, CacheErrorCode.Closed)).toBe(true);
      client.disconnect();
    });
  }

  it('accepts an ioredis 5 client in the types and at run time', async () => {
    const client = new ioredis5.Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
    const backend = createRedisBackend({ client, keyPrefix: 'v5:', timeoutMs: 500 });
    expect(await backend.set('k', { value: Buffer.from('x'), flags: 9 }, 0)).toBe(true);
    expect((await backend.get('k'))?.flags).toBe(9);
    await backend.close();
    client.disconnect();
  });

  it('accepts an iovalkey client as a caller-owned client', async () => {
    const client = new iovalkey.Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
    const backend = createRedisBackend({ client, keyPrefix: 'valkey:', timeoutMs: 500 });
    const cache = new CacheClient({ backend });
    expect(await cache.set('n', 41)).toBe(true);
    expect(await cache.incr('n')).toBe(42);
    expect([...(await cache.getMany(['n', 'none'])).entries()]).toEqual([['n', 42]]);
    await cache.close();
    expect(client.status).toBe('ready');
    client.disconnect();
  });

  describe('a value over maxValueBytes', () => {
    const small = (text: string): StoredEntry => ({ value: Buffer.from(text), flags: 1 });
    const large: StoredEntry = { value: Buffer.alloc(2000, 0x78), flags: 1 };
    const textOf = (found: StoredEntry | undefined): string | undefined =>
      found === undefined ? undefined : Buffer.from(found.value).toString();
    let backend: RedisBackend;
    let raw: ReturnType<typeof inspector>;
    beforeAll(() => {
      backend = createRedisBackend({
        url: `redis://127.0.0.1:${server.port}`,
        keyPrefix: 'big:',
        maxValueBytes: 1024,
      });
      raw = inspector(server.port);
    });
    afterAll(async () => {
      raw.disconnect();
      await backend.close();
    });

    it('set resolves false and the old value is gone (the client refuses before calling it)', async () => {
      const cache = new CacheClient({ backend, compress: false, ownsBackend: false });
      expect(await cache.set('k', 'small')).toBe(true);
      const tooLarge = await cache.set('k', 'x'.repeat(2000)).catch((e: unknown) => e);
      expect(isCacheError(tooLarge, CacheErrorCode.Value)).toBe(true);
      expect(await backend.set('k', large, 0)).toBe(false);
      expect(await raw.exists('big:k')).toBe(0);
      await cache.close();
    });

    it('setMany lists the key as not stored, removes its old value, and stores the rest', async () => {
      expect(await backend.setMany([{ key: 'a', entry: small('old a') }], 0)).toEqual([]);
      const writes = [
        { key: 'a', entry: large },
        { key: 'b', entry: small('new b') },
      ];
      expect(await backend.setMany(writes, 0)).toEqual(['a']);
      expect(await raw.exists('big:a')).toBe(0);
      expect(textOf(await backend.get('b'))).toBe('new b');
    });

    it('setAndRead resolves undefined and the old value is gone', async () => {
      expect(textOf(await backend.setAndRead('r', small('old r'), 0))).toBe('old r');
      expect(await backend.setAndRead('r', large, 0)).toBeUndefined();
      expect(await raw.exists('big:r')).toBe(0);
    });

    it('add resolves false and leaves an existing value alone; a missing key stays missing', async () => {
      expect(await backend.add('held', small('first'), 0)).toBe(true);
      expect(await backend.add('held', large, 0)).toBe(false);
      expect(textOf(await backend.get('held'))).toBe('first');
      expect(await backend.add('free', large, 0)).toBe(false);
      expect(await raw.exists('big:free')).toBe(0);
    });
  });

  it('rediss:// connects over TLS with the CA, and fails by the deadline without it', async () => {
    const tlsPort = await freePort();
    const tls = await startRedis({
      args: [
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        new URL('./fixtures/tls/server.crt', import.meta.url).pathname,
        '--tls-key-file',
        new URL('./fixtures/tls/server.key', import.meta.url).pathname,
        '--tls-ca-cert-file',
        new URL('./fixtures/tls/ca.crt', import.meta.url).pathname,
        '--tls-auth-clients',
        'no',
      ],
    });
    try {
      const trusted = createRedisBackend({
        url: `rediss://127.0.0.1:${tlsPort}`,
        redisOptions: { tls: { ca: fixture('ca.crt') } },
        keyPrefix: 'tls:',
      });
      expect(await trusted.set('k', { value: Buffer.from('secret'), flags: 1 }, 0)).toBe(true);
      expect(Buffer.from((await trusted.get('k'))!.value).toString()).toBe('secret');
      await trusted.close();

      const untrusted = createRedisBackend({
        url: `rediss://127.0.0.1:${tlsPort}`,
        timeoutMs: 500,
      });
      const outcome = await timed(() => untrusted.get('k'));
      expect(isCacheError(outcome.error)).toBe(true);
      expect(outcome.ms).toBeLessThanOrEqual(800);
      await untrusted.close();

      // The plain port of the same server holds the value written over TLS.
      const raw = inspector(tls.port);
      expect(await raw.exists('tls:k')).toBe(1);
      raw.disconnect();
    } finally {
      await tls.stop();
    }
  });
});
