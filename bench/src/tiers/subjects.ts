// What the tiers bench compares: Stowage's L1 over Redis and memcached (with and without a bus),
// BentoCache's memory L1 + Redis L2 (bus on and off), cacheable's CacheableMemory + @keyv/redis,
// and two reference lines (a raw ioredis round trip, a Map lookup + JSON.parse). Every library
// keeps its defaults except the L1's size (the scenario decides it) and a one-hour TTL, so no
// copy expires during a run (Stowage's L1 would otherwise drop copies after 10 s).
import KeyvRedis from '@keyv/redis';
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { createRedisBackend } from '@stowage/backend-redis';
import { CacheClient, type CacheBackend } from '@stowage/core';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { Cacheable, createKeyv } from 'cacheable';
import { Cluster, Redis } from 'ioredis';
import type { JsonValue } from '../types.js';
import type { BusFactory } from './bus.js';

/** The scenarios of the tiers bench. */
export const TierScenario = {
  /** The key is in the L1: `get` answers from process memory. */
  Hit: 'l1-hit',
  /** The key is not in the L1 but is in the L2: one round trip, then the L1 keeps a copy. */
  Miss: 'l1-miss-l2-hit',
  /** `set`: written to the L2 and kept in (or dropped from) the L1, published on a bus. */
  Write: 'write',
} as const;

/** One of {@link TierScenario}'s values. */
export type TierScenario = (typeof TierScenario)[keyof typeof TierScenario];

/** Who a row is. */
export const TierKind = {
  Stowage: 'stowage',
  Peer: 'peer',
  Reference: 'reference',
} as const;

/** One of {@link TierKind}'s values. */
export type TierKind = (typeof TierKind)[keyof typeof TierKind];

/** The servers and bus a subject connects to. */
export interface TierContext {
  readonly redis: { readonly host: string; readonly port: number };
  /** `undefined` when memcached is not installed: the memcached row is left out. */
  readonly memcached: { readonly address: string } | undefined;
  readonly bus: BusFactory;
}

/** A set-up subject. */
export interface TierOps {
  readonly get: (key: string) => Promise<unknown>;
  readonly set: (key: string, value: JsonValue) => Promise<unknown>;
  /** L1 hits and misses so far, where the library counts them (Stowage): checks the scenario. */
  readonly l1Counts?: () => { readonly hits: number; readonly misses: number };
  /** Resolves once the subject serves from its L1 (a bus subscription is live). */
  readonly ready: () => Promise<void>;
  readonly teardown: () => Promise<void>;
}

/** One row of the tiers tables. */
export interface TierSubject {
  readonly id: string;
  readonly name: string;
  readonly kind: TierKind;
  readonly description: string;
  /** The scenarios this row takes part in. */
  readonly scenarios: readonly TierScenario[];
  /** Whether it uses a bus (for the bus-cost table). */
  readonly bus: boolean;
  /** Builds it with an L1 of `l1Entries` copies (ignored by the references). */
  readonly setup: (ctx: TierContext, l1Entries: number) => Promise<TierOps>;
}

/** Longest life of a copy and of an entry in every library: longer than any run. */
const TTL_SECONDS = 3600;
const ALL: readonly TierScenario[] = [TierScenario.Hit, TierScenario.Miss, TierScenario.Write];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface StowageShape {
  readonly backend: 'redis' | 'memcached';
  readonly bus: boolean;
  readonly skipIntegrityCheck: boolean;
}

function stowageBackend(ctx: TierContext, backend: StowageShape['backend']): CacheBackend {
  if (backend === 'redis') {
    return createRedisBackend({
      driver: { Redis, Cluster },
      redisOptions: { host: ctx.redis.host, port: ctx.redis.port },
    });
  }
  if (ctx.memcached === undefined) throw new Error('memcached is not installed');
  return createMemcachedBackend({ servers: ctx.memcached.address });
}

/** A Stowage client as the bench configures every one: `compress: false`, the given L1 and bus. */
export function stowageTierOps(ctx: TierContext, shape: StowageShape, l1Entries: number): TierOps {
  const cache = new CacheClient<JsonValue>({
    backend: stowageBackend(ctx, shape.backend),
    prefix: 'bench',
    compress: false,
    l1: { maxEntries: l1Entries, ttl: TTL_SECONDS },
    bus: shape.bus ? ctx.bus.create() : undefined,
  });
  const setOptions = { skipIntegrityCheck: shape.skipIntegrityCheck };
  const stats = (): { hits: number; misses: number; live: boolean } =>
    cache.l1Stats() ?? { hits: 0, misses: 0, live: false };
  return {
    get: (key) => cache.get(key),
    set: (key, value) => cache.set(key, value, setOptions),
    l1Counts: stats,
    async ready() {
      // A client with a bus serves copies only once its subscription is live.
      for (let waited = 0; !stats().live; waited += 10) {
        if (waited > 10_000) throw new Error('the bus did not become live within 10 s');
        await sleep(10);
      }
    },
    teardown: () => cache.close(),
  };
}

function stowageSubject(shape: StowageShape): TierSubject {
  const over = shape.backend === 'redis' ? 'Redis' : 'memcached';
  const parts = [
    `stowage ${over}`,
    shape.bus ? '+ bus' : '',
    shape.skipIntegrityCheck ? '(skip check)' : '',
  ];
  return {
    id: `stowage-${shape.backend}${shape.bus ? '-bus' : ''}${shape.skipIntegrityCheck ? '-skip-check' : ''}`,
    name: parts.filter((part) => part !== '').join(' '),
    kind: TierKind.Stowage,
    description:
      `CacheClient + @stowage/backend-${shape.backend}, \`l1: { maxEntries, ttl: 3600 }\`, \`compress: false\`` +
      (shape.bus ? ', a Redis bus' : ', no bus') +
      (shape.skipIntegrityCheck ? ', `set` with `skipIntegrityCheck: true`' : ', default `set`'),
    scenarios: shape.skipIntegrityCheck ? [TierScenario.Write] : ALL,
    bus: shape.bus,
    setup: async (ctx, l1Entries) => stowageTierOps(ctx, shape, l1Entries),
  };
}

/** BentoCache with a memory L1 of `l1Entries`, a Redis L2 and, if asked, its Redis bus. */
export function bentoTierOps(ctx: TierContext, withBus: boolean, l1Entries: number): TierOps {
  const connection = { host: ctx.redis.host, port: ctx.redis.port };
  let store = bentostore()
    .useL1Layer(memoryDriver({ maxItems: l1Entries }))
    .useL2Layer(redisDriver({ connection }));
  if (withBus) store = store.useBus(redisBusDriver({ connection }));
  const bento = new BentoCache({ default: 'cache', stores: { cache: store }, ttl: '1h' });
  return {
    get: (key) => bento.get({ key }),
    set: (key, value) => bento.set({ key, value }),
    // Its bus subscribes on connect, with no signal to wait for; a moment is plenty on loopback.
    ready: () => sleep(withBus ? 200 : 0),
    teardown: () => bento.disconnect(),
  };
}

function bentoSubject(withBus: boolean): TierSubject {
  return {
    id: withBus ? 'bentocache-bus' : 'bentocache',
    name: withBus ? 'bentocache + bus' : 'bentocache',
    kind: TierKind.Peer,
    description: `bentocache 1.6: memoryDriver({ maxItems }) L1 (serialises values, its default) + redisDriver L2 on ioredis 5${withBus ? ' + redisBusDriver' : ', no bus'}, ttl 1h`,
    scenarios: ALL,
    bus: withBus,
    setup: async (ctx, l1Entries) => bentoTierOps(ctx, withBus, l1Entries),
  };
}

const cacheable: TierSubject = {
  id: 'cacheable',
  name: 'cacheable',
  kind: TierKind.Peer,
  description:
    'cacheable 2.5: primary createKeyv({ lruSize }) (CacheableMemory, structuredClone on every hit, its default) + secondary @keyv/redis 5 (node-redis), ttl 1h; no bus (its `sync` needs a qified provider, not installed)',
  scenarios: ALL,
  bus: false,
  async setup(ctx, l1Entries) {
    const cache = new Cacheable({
      primary: createKeyv({ lruSize: l1Entries }),
      secondary: new KeyvRedis(`redis://${ctx.redis.host}:${ctx.redis.port}`),
      ttl: '1h',
    });
    return {
      get: (key) => cache.get(key),
      set: (key, value) => cache.set(key, value),
      ready: async () => undefined,
      teardown: () => cache.disconnect(),
    };
  },
};

const ioredis: TierSubject = {
  id: 'ioredis',
  name: 'ioredis GET/SET (reference)',
  kind: TierKind.Reference,
  description:
    'ioredis 5, defaults, JSON strings: one round trip per call, what every L1 miss pays at least',
  scenarios: ALL,
  bus: false,
  async setup(ctx) {
    const client = new Redis({ host: ctx.redis.host, port: ctx.redis.port });
    return {
      get: async (key) => {
        const text = await client.get(key);
        return text === null ? undefined : (JSON.parse(text) as unknown);
      },
      set: (key, value) => client.set(key, JSON.stringify(value)),
      ready: async () => undefined,
      teardown: async () => {
        await client.quit();
      },
    };
  },
};

const map: TierSubject = {
  id: 'map',
  name: 'Map + JSON.parse (reference)',
  kind: TierKind.Reference,
  description:
    'a Map of JSON strings, JSON.parse per read: the floor of an L1 that hands out fresh objects',
  scenarios: [TierScenario.Hit, TierScenario.Write],
  bus: false,
  async setup() {
    const entries = new Map<string, string>();
    return {
      get: async (key) => {
        const text = entries.get(key);
        return text === undefined ? undefined : (JSON.parse(text) as unknown);
      },
      set: async (key, value) => entries.set(key, JSON.stringify(value)),
      ready: async () => undefined,
      teardown: async () => entries.clear(),
    };
  },
};

/** Every row, in table order; the first is the one ratios are taken against. */
export const TIER_SUBJECTS: readonly TierSubject[] = [
  stowageSubject({ backend: 'redis', bus: false, skipIntegrityCheck: false }),
  stowageSubject({ backend: 'redis', bus: true, skipIntegrityCheck: false }),
  stowageSubject({ backend: 'redis', bus: false, skipIntegrityCheck: true }),
  stowageSubject({ backend: 'redis', bus: true, skipIntegrityCheck: true }),
  stowageSubject({ backend: 'memcached', bus: false, skipIntegrityCheck: false }),
  bentoSubject(false),
  bentoSubject(true),
  cacheable,
  ioredis,
  map,
];
