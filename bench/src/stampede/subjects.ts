// The subjects of the stampede and miss-latency scenarios: Stowage with and without leases, the
// peers' getOrSet (BentoCache, cache-manager's `wrap`) and the raw clients' get-then-set, each as
// the regular bench configures it, on memcached and Redis.
import { CacheClient } from '@stowage/core';
import { peerSubjects } from '../subjects/peers.js';
import { ioredisRaw, memjsRaw } from '../subjects/remote-raw.js';
import { memcachedBackend, redisBackend } from '../subjects/stowage-remote.js';
import { Backend, Kind, type BenchContext, type JsonValue, type Subject } from '../types.js';
import type { LeaseCounts } from './protocol.js';

/** A subject set up in one process: its getOrSet, and Stowage's lease counters. */
export interface StampedeHandle {
  /** Resolves the cached value of `key`, or runs `factory`, stores and returns its result. */
  readonly getOrSet: (key: string, factory: () => Promise<JsonValue>) => Promise<unknown>;
  /** Lease counters since the client was made (Stowage only). */
  readonly leaseCounts?: () => LeaseCounts;
  /** Closes its connections. */
  teardown(): Promise<void>;
}

/** One subject of the stampede and miss-latency scenarios. */
export interface StampedeSubject {
  /** `${backend}/${variant}`, unique. */
  readonly id: string;
  /** Short name for tables. */
  readonly name: string;
  /** memcached or Redis. */
  readonly backend: Backend;
  /** Raw client, Stowage or peer. */
  readonly kind: Kind;
  /** What it is and what it does on a concurrent miss. */
  readonly description: string;
  /** Connects; called once per process. */
  setup(ctx: BenchContext): Promise<StampedeHandle>;
}

/** Stowage as every bench subject is configured (`compress: false`), leases on or off. */
function stowage(backend: Backend, lease: boolean): StampedeSubject {
  const backendText =
    backend === Backend.Memcached
      ? '@stowage/backend-memcached'
      : '@stowage/backend-redis on the bench’s ioredis 5';
  return {
    id: `${backend}/stowage-${lease ? 'lease' : 'no-lease'}`,
    name: lease ? 'stowage (leases)' : 'stowage (lease: false)',
    backend,
    kind: Kind.Stowage,
    description: lease
      ? `CacheClient + ${backendText}, defaults (leases on: add a marker, setIf to commit; waiters poll) and \`compress: false\`; single-flight in the process`
      : `as \`stowage (leases)\` with the client option \`lease: false\`: single-flight in the process only`,
    async setup(ctx) {
      const store =
        backend === Backend.Memcached ? await memcachedBackend(ctx) : await redisBackend(ctx);
      // The leased client keeps the default (`lease` unset means on), which is what users get.
      const cache = new CacheClient<JsonValue>({
        backend: store,
        prefix: 'bench',
        compress: false,
        ...(lease ? {} : { lease: false }),
      });
      return {
        getOrSet: (key, factory) => cache.getOrSet(key, factory),
        leaseCounts: () => {
          const stats = cache.stats();
          return {
            taken: stats.leasesTaken,
            waits: stats.leaseWaits,
            timeouts: stats.leaseTimeouts,
            lost: stats.leasesLost,
          };
        },
        teardown: () => cache.close(),
      };
    },
  };
}

/** A regular bench subject used through its `getOrSet`, with a stampede description. */
function throughGetOrSet(subject: Subject, id: string, description: string): StampedeSubject {
  return {
    id,
    name: subject.name,
    backend: subject.backend,
    kind: subject.kind,
    description,
    async setup(ctx) {
      const handle = await subject.setup(ctx);
      const getOrSet = handle.ops.getOrSet;
      if (getOrSet === undefined) throw new Error(`${subject.id} has no getOrSet`);
      return { getOrSet, teardown: () => handle.teardown() };
    },
  };
}

function peer(id: string): Subject {
  const subject = peerSubjects.find((s) => s.id === id);
  if (subject === undefined) throw new Error(`no peer subject ${id}`);
  return subject;
}

const CACHE_MANAGER_TEXT =
  'cache-manager 7 `wrap` over keyv + {store}: coalesces concurrent calls of one process (coalesceAsync), nothing across processes';

/**
 * Every subject, memcached first. BentoCache runs on Redis only: it has no memcached driver. Its
 * L2-only store has no memory tier, so every process reads Redis like the others do.
 */
export const STAMPEDE_SUBJECTS: readonly StampedeSubject[] = [
  throughGetOrSet(
    memjsRaw,
    'memcached/memjs',
    'memjs 1.3, get then set on a miss, as written by hand: no single-flight at all',
  ),
  stowage(Backend.Memcached, true),
  stowage(Backend.Memcached, false),
  throughGetOrSet(
    peer('memcached/cache-manager'),
    'memcached/cache-manager',
    CACHE_MANAGER_TEXT.replace('{store}', '@keyv/memcache'),
  ),
  throughGetOrSet(
    ioredisRaw,
    'redis/ioredis',
    'ioredis 5, GET then SET on a miss, as written by hand: no single-flight at all',
  ),
  stowage(Backend.Redis, true),
  stowage(Backend.Redis, false),
  throughGetOrSet(
    peer('redis/bentocache'),
    'redis/bentocache',
    'bentocache 1.6 getOrSet, L2 Redis driver only (no L1): a lock per key in the process (each waiter then reads Redis), none across processes',
  ),
  throughGetOrSet(
    peer('redis/cache-manager'),
    'redis/cache-manager',
    CACHE_MANAGER_TEXT.replace('{store}', '@keyv/redis'),
  ),
];

/** Peers that have no driver for a backend, said in the output so a missing row is explained. */
export const NOT_ON: Readonly<Record<string, string>> = {
  memcached: 'BentoCache has no memcached driver: it runs on Redis only',
};
