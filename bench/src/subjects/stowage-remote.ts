import { createMemcachedBackend } from '@stowage/backend-memcached';
import { createRedisBackend } from '@stowage/backend-redis';
import type { CacheBackend } from '@stowage/core';
import { Cluster, Redis } from 'ioredis';
import { Backend, Kind, ScenarioId, type BenchContext, type Subject } from '../types.js';
import { stowageHandle } from './stowage-client.js';

/** The memcached backend on this run's server, with its defaults. */
export async function memcachedBackend(ctx: BenchContext): Promise<CacheBackend> {
  const server = await ctx.memcached();
  return createMemcachedBackend({ servers: server.address });
}

/**
 * The Redis backend on this run's server, opening its connection with the bench's own ioredis
 * (the one the raw baseline and bentocache use), so both sides of the ratio run the same client
 * code. Everything else is the backend's defaults (its safe connection options included).
 */
export async function redisBackend(ctx: BenchContext): Promise<CacheBackend> {
  const server = await ctx.redis();
  return createRedisBackend({
    driver: { Redis, Cluster },
    redisOptions: { host: server.host, port: server.port },
  });
}

// Only the scenarios that write differ between the default client and the skip-check variant.
const WRITES: readonly ScenarioId[] = [ScenarioId.Set, ScenarioId.Mix];

/** Stowage on the memcached backend with its defaults: `set` reads back what it wrote. */
export const stowageMemcachedDefault: Subject = {
  id: 'memcached/stowage',
  name: 'stowage',
  backend: Backend.Memcached,
  kind: Kind.Stowage,
  description:
    'CacheClient + @stowage/backend-memcached (binary protocol, one connection), `compress: false`, default `set` (integrity check on)',
  setup: async (ctx) => stowageHandle(await memcachedBackend(ctx), false),
};

/** The same, writing with `skipIntegrityCheck: true`. */
export const stowageMemcachedSkipIntegrity: Subject = {
  id: 'memcached/stowage-skip-integrity',
  name: 'stowage (skip check)',
  backend: Backend.Memcached,
  kind: Kind.Stowage,
  description: 'as `stowage`, writing with `skipIntegrityCheck: true`',
  scenarios: WRITES,
  setup: async (ctx) => stowageHandle(await memcachedBackend(ctx), true),
};

/** Stowage on the Redis backend with its defaults, on the bench's ioredis. */
export const stowageRedisDefault: Subject = {
  id: 'redis/stowage',
  name: 'stowage',
  backend: Backend.Redis,
  kind: Kind.Stowage,
  description:
    'CacheClient + @stowage/backend-redis on the bench’s ioredis 5 (`driver`), backend defaults, `compress: false`, default `set` (integrity check on)',
  setup: async (ctx) => stowageHandle(await redisBackend(ctx), false),
};

/** The same, writing with `skipIntegrityCheck: true`. */
export const stowageRedisSkipIntegrity: Subject = {
  id: 'redis/stowage-skip-integrity',
  name: 'stowage (skip check)',
  backend: Backend.Redis,
  kind: Kind.Stowage,
  description: 'as `stowage`, writing with `skipIntegrityCheck: true`',
  scenarios: WRITES,
  setup: async (ctx) => stowageHandle(await redisBackend(ctx), true),
};
