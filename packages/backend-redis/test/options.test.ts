// resolveRedisOptions on its own: the backend's options, defaults and URL query, with no client
// created and no socket opened.
import {
  CacheErrorCode,
  DEFAULT_MAX_VALUE_BYTES,
  DEFAULT_TIMEOUT_MS,
  isCacheError,
} from '@stowage/core';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BATCH_SIZE,
  MAX_VALUE_BYTES_LIMIT,
  resolveRedisOptions,
  type RedisBackendOptions,
} from '../src/redis-options.js';

function configError(options: RedisBackendOptions): Error {
  try {
    resolveRedisOptions(options);
  } catch (error) {
    expect(isCacheError(error, CacheErrorCode.Config), String(error)).toBe(true);
    return error as Error;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe('resolveRedisOptions', () => {
  it('applies the defaults: core’s deadline and value limit, memcached’s key limit, no prefix', () => {
    expect(resolveRedisOptions({})).toEqual({
      timeoutMs: DEFAULT_TIMEOUT_MS,
      limits: { maxKeyBytes: 250, maxValueBytes: DEFAULT_MAX_VALUE_BYTES },
      batchSize: DEFAULT_BATCH_SIZE,
      keyPrefix: '',
      parsed: undefined,
    });
  });

  it('takes keyPrefix and the limits from the URL query, and the connection from the rest', () => {
    const resolved = resolveRedisOptions({
      url: 'rediss://app:s3cret@cache.internal:6380/2?keyPrefix=billing:&maxKeyBytes=300&maxValueBytes=4096',
    });
    expect(resolved.keyPrefix).toBe('billing:');
    expect(resolved.limits).toEqual({ maxKeyBytes: 300, maxValueBytes: 4096 });
    expect(resolved.parsed?.redisOptions).toEqual({
      host: 'cache.internal',
      port: 6380,
      username: 'app',
      password: 's3cret',
      db: 2,
      tls: {},
    });
  });

  it('prefers an option given directly over the same one in the URL', () => {
    const resolved = resolveRedisOptions({
      url: 'redis://cache.internal?keyPrefix=from-url:&maxValueBytes=4096',
      keyPrefix: 'direct:',
      maxValueBytes: 2048,
      timeoutMs: 250,
      batchSize: 10,
    });
    expect(resolved).toMatchObject({
      keyPrefix: 'direct:',
      limits: { maxKeyBytes: 250, maxValueBytes: 2048 },
      timeoutMs: 250,
      batchSize: 10,
    });
  });

  it('accepts each bound exactly and refuses one past it, naming the option', () => {
    expect(resolveRedisOptions({ maxValueBytes: MAX_VALUE_BYTES_LIMIT }).limits.maxValueBytes).toBe(
      MAX_VALUE_BYTES_LIMIT,
    );
    expect(configError({ maxValueBytes: MAX_VALUE_BYTES_LIMIT + 1 }).message).toMatch(
      /`maxValueBytes` must be an integer from 1 to 536870902/,
    );
    expect(resolveRedisOptions({ timeoutMs: 2 ** 31 - 1 }).timeoutMs).toBe(2 ** 31 - 1);
    expect(configError({ timeoutMs: 2 ** 31 }).message).toMatch(/`timeoutMs`/);
    expect(resolveRedisOptions({ batchSize: 100_000 }).batchSize).toBe(100_000);
    expect(configError({ batchSize: 100_001 }).message).toMatch(/`batchSize`/);
    expect(configError({ url: 'redis://h?maxKeyBytes=0' }).message).toMatch(/'maxKeyBytes'/);
  });

  it('refuses several connection sources and a keyPrefix a key could not hold', () => {
    expect(configError({ url: 'redis://h', clusterNodes: [{ port: 7000 }] }).message).toMatch(
      /one of `url`\/`redisOptions`, `clusterNodes` or `client`/,
    );
    expect(configError({ url: 'redis://h?keyPrefix=a%20b' }).message).toMatch(/`keyPrefix`/);
    expect(configError(null as unknown as RedisBackendOptions).message).toMatch(/an object/);
  });

  it('creates no client: the driver’s constructors are never called', () => {
    let constructed = 0;
    class Counting {
      constructor() {
        constructed++;
      }
    }
    const driver = { Redis: Counting, Cluster: Counting };
    resolveRedisOptions({ url: 'redis://cache.internal:6380/1', driver });
    resolveRedisOptions({ clusterNodes: [{ host: 'a', port: 7000 }], driver });
    resolveRedisOptions({ redisOptions: { sentinels: [{ port: 26379 }], name: 'm' }, driver });
    expect(constructed).toBe(0);
  });
});
