// Libraries users would pick instead of Stowage, each on the same memory / memcached / Redis as
// the raw clients. Each keeps its defaults except where a default would make the comparison
// meaningless (bentocache's memory tier in front of Redis); the description says what was set.
import { KeyvMemcache } from '@keyv/memcache';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache } from 'cache-manager';
import { Cacheable } from 'cacheable';
import { Keyv, type KeyvStoreAdapter } from 'keyv';
import { Backend, Kind, type BenchContext, type Subject, type SubjectHandle } from '../types.js';
import { MEMORY_MAX_ENTRIES } from './memory.js';

/** A store adapter for `backend` on this run's servers; `undefined` means keyv's in-memory Map. */
async function keyvStore(
  backend: Backend,
  ctx: BenchContext,
): Promise<KeyvStoreAdapter | undefined> {
  if (backend === Backend.Memcached) return new KeyvMemcache((await ctx.memcached()).address);
  if (backend === Backend.Redis) {
    const server = await ctx.redis();
    return new KeyvRedis(`redis://${server.address}`);
  }
  return undefined;
}

function keyvSubject(backend: Backend): Subject {
  return {
    id: `${backend}/keyv`,
    name: 'keyv',
    backend,
    kind: Kind.Peer,
    description:
      backend === Backend.Memory
        ? 'keyv 5.6 with its default Map store (values serialised to JSON strings)'
        : `keyv 5.6 + ${backend === Backend.Redis ? '@keyv/redis 5 (node-redis client)' : '@keyv/memcache 2 (memjs)'}`,
    async setup(ctx) {
      const store = await keyvStore(backend, ctx);
      const keyv = store === undefined ? new Keyv() : new Keyv({ store });
      return {
        ops: {
          set: (key, value) => keyv.set(key, value),
          get: (key) => keyv.get(key),
          getMany: (keys) => keyv.getMany([...keys]),
        },
        teardown: () => keyv.disconnect(),
      };
    },
  };
}

function cacheManagerSubject(backend: Backend): Subject {
  return {
    id: `${backend}/cache-manager`,
    name: 'cache-manager',
    backend,
    kind: Kind.Peer,
    description:
      backend === Backend.Memory
        ? 'cache-manager 7 with its default store (keyv Map, objects kept by reference)'
        : `cache-manager 7 over keyv + ${backend === Backend.Redis ? '@keyv/redis' : '@keyv/memcache'}; getOrSet = wrap`,
    async setup(ctx) {
      const store = await keyvStore(backend, ctx);
      const cache = createCache(store === undefined ? {} : { stores: [new Keyv({ store })] });
      return {
        ops: {
          set: (key, value) => cache.set(key, value),
          get: (key) => cache.get(key),
          getMany: (keys) => cache.mget([...keys]),
          getOrSet: (key, factory) => cache.wrap(key, factory),
        },
        teardown: async () => {
          await cache.disconnect();
        },
      };
    },
  };
}

function bentoHandle(bento: BentoCache<{ cache: ReturnType<typeof bentostore> }>): SubjectHandle {
  return {
    ops: {
      set: (key, value) => bento.set({ key, value }),
      get: (key) => bento.get({ key }),
      getOrSet: (key, factory) => bento.getOrSet({ key, factory }),
    },
    teardown: () => bento.disconnect(),
  };
}

const bentocacheMemory: Subject = {
  id: 'memory/bentocache',
  name: 'bentocache',
  backend: Backend.Memory,
  kind: Kind.Peer,
  description: 'bentocache 1.6, L1 memory driver only (serialises values by default); no getMany',
  async setup() {
    const store = bentostore().useL1Layer(memoryDriver({ maxItems: MEMORY_MAX_ENTRIES }));
    return bentoHandle(new BentoCache({ default: 'cache', stores: { cache: store } }));
  },
};

const bentocacheRedis: Subject = {
  id: 'redis/bentocache',
  name: 'bentocache',
  backend: Backend.Redis,
  kind: Kind.Peer,
  description:
    'bentocache 1.6, L2 redis driver only (ioredis 5; no L1 memory tier, which would answer reads from memory); no getMany',
  async setup(ctx) {
    const server = await ctx.redis();
    const store = bentostore().useL2Layer(
      redisDriver({ connection: { host: server.host, port: server.port } }),
    );
    return bentoHandle(new BentoCache({ default: 'cache', stores: { cache: store } }));
  },
};

function cacheableSubject(backend: Backend): Subject {
  return {
    id: `${backend}/cacheable`,
    name: 'cacheable',
    backend,
    kind: Kind.Peer,
    description:
      backend === Backend.Memory
        ? 'cacheable 2.5 with its default primary (CacheableMemory, clones values)'
        : `cacheable 2.5 with ${backend === Backend.Redis ? '@keyv/redis' : '@keyv/memcache'} as the primary store (no memory tier)`,
    async setup(ctx) {
      const store = await keyvStore(backend, ctx);
      const cache = store === undefined ? new Cacheable() : new Cacheable({ primary: store });
      return {
        ops: {
          set: (key, value) => cache.set(key, value),
          get: (key) => cache.get(key),
          getMany: (keys) => cache.getMany([...keys]),
          getOrSet: (key, factory) => cache.getOrSet(key, factory),
        },
        teardown: () => cache.disconnect(),
      };
    },
  };
}

/** Every peer subject, by backend. */
export const peerSubjects: readonly Subject[] = [
  keyvSubject(Backend.Memory),
  cacheManagerSubject(Backend.Memory),
  bentocacheMemory,
  cacheableSubject(Backend.Memory),
  keyvSubject(Backend.Memcached),
  cacheManagerSubject(Backend.Memcached),
  cacheableSubject(Backend.Memcached),
  keyvSubject(Backend.Redis),
  cacheManagerSubject(Backend.Redis),
  bentocacheRedis,
  cacheableSubject(Backend.Redis),
];
