// The servers the fleet runs against — memcached, Redis, Redis Cluster — started by the harness
// on free ports of 127.0.0.1 and stopped by PID, with what the tests need besides Stowage: a
// backend of the parent's own to look at raw entries, the server process behind a key (to pause
// it), and deletes sent by other software (Python's pymemcache, a raw ioredis DEL).
import { spawnSync } from 'node:child_process';
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { createRedisBackend, keySlot } from '@stowage/backend-redis';
import { CacheClient, type CacheBackend } from '@stowage/core';
import {
  hasBinary,
  serversRequired,
  startMemcached,
  startRedis,
  startRedisCluster,
  type ServerHandle,
} from '@stowage/testkit';
import { Cluster, Redis } from 'ioredis';
import type { BackendSpec } from '../src/protocol.js';

export type TargetKind = 'memcached' | 'redis' | 'cluster';

const PYTHON = process.env['PYTHON_BIN'] ?? '/usr/bin/python3';
const PYMEMCACHE_DELETE = new URL('./fixtures/pymemcache_delete.py', import.meta.url).pathname;

/** Whether Debian's python3-pymemcache is importable; with CI=true a missing one throws. */
export function pymemcacheInstalled(): boolean {
  const found = spawnSync(PYTHON, ['-c', 'import pymemcache']).status === 0;
  if (!found && serversRequired()) {
    throw new Error(
      `python3-pymemcache is required when CI=true (apt-get install python3-pymemcache; ${PYTHON})`,
    );
  }
  return found;
}

/** Whether each kind of server can run here; with CI=true a missing binary throws (hasBinary). */
export function available(kind: TargetKind): boolean {
  switch (kind) {
    case 'memcached':
      return hasBinary('memcached');
    case 'redis':
      return hasBinary('redis-server');
    case 'cluster':
      return hasBinary('redis-server') && hasBinary('redis-cli');
  }
}

/** A delete of a full key by software that is not Stowage. */
export interface ForeignDelete {
  readonly label: string;
  /** Resolves whether the server held the key. */
  readonly delete: (fullKey: string) => Promise<boolean>;
}

/** The foreign deletes each kind is tested with (labels known before the servers start). */
export const FOREIGN_DELETES: Readonly<Record<TargetKind, readonly string[]>> = {
  memcached: ['a raw pymemcache delete of the full key'],
  redis: ['a raw ioredis DEL of the full key'],
  cluster: ['a raw ioredis DEL of the full key'],
};

/** Running servers of one kind. */
export interface Target {
  readonly kind: TargetKind;
  /** What workers connect with. */
  readonly spec: BackendSpec;
  /** A new backend of this process's own (the parent is a process of the fleet too). */
  backend(): CacheBackend;
  /** The server process that holds `fullKey`: pausing it freezes that key. */
  serverOf(fullKey: string): ServerHandle;
  /** Deletes by other software, by label (see {@link FOREIGN_DELETES}). */
  readonly foreignDeletes: ReadonlyMap<string, ForeignDelete['delete']>;
  /** Stops every server and closes the raw connections. */
  stop(): Promise<void>;
}

function pymemcacheDelete(port: number): ForeignDelete['delete'] {
  return async (fullKey) => {
    const result = spawnSync(PYTHON, [PYMEMCACHE_DELETE], {
      input: JSON.stringify({ port, key: fullKey }),
      encoding: 'utf8',
      timeout: 10_000,
    });
    if (result.status !== 0) throw new Error(`pymemcache delete failed: ${result.stderr}`);
    return (JSON.parse(result.stdout) as { deleted: boolean }).deleted;
  };
}

async function memcachedTarget(): Promise<Target> {
  const server = await startMemcached();
  return {
    kind: 'memcached',
    spec: { kind: 'memcached', servers: [server.address] },
    backend: () => createMemcachedBackend({ servers: server.address }),
    serverOf: () => server,
    foreignDeletes: new Map([[FOREIGN_DELETES.memcached[0]!, pymemcacheDelete(server.port)]]),
    stop: () => server.stop(),
  };
}

async function redisTarget(): Promise<Target> {
  const server = await startRedis();
  const raw = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
  const url = `redis://${server.address}`;
  return {
    kind: 'redis',
    spec: { kind: 'redis', url },
    backend: () => createRedisBackend({ url }),
    serverOf: () => server,
    foreignDeletes: new Map([
      [FOREIGN_DELETES.redis[0]!, async (fullKey: string) => (await raw.del(fullKey)) === 1],
    ]),
    stop: async () => {
      raw.disconnect();
      await server.stop();
    },
  };
}

async function clusterTarget(): Promise<Target> {
  const cluster = await startRedisCluster({ nodes: 3 });
  try {
    const raw = new Cluster([...cluster.seeds], { redisOptions: { maxRetriesPerRequest: 1 } });
    // Which node serves each slot, so a test can pause the one that holds its key.
    const ranges = (await raw.cluster('SLOTS')) as unknown as Array<
      [number, number, [string, number]]
    >;
    const nodeOfSlot = (slot: number): ServerHandle => {
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      const node = cluster.nodes.find((candidate) => candidate.port === range?.[2][1]);
      if (node === undefined) throw new Error(`no node serves slot ${slot}`);
      return node;
    };
    return {
      kind: 'cluster',
      spec: { kind: 'cluster', nodes: cluster.seeds },
      backend: () => createRedisBackend({ clusterNodes: [...cluster.seeds] }),
      serverOf: (fullKey) => nodeOfSlot(keySlot(fullKey)),
      foreignDeletes: new Map([
        [FOREIGN_DELETES.cluster[0]!, async (fullKey: string) => (await raw.del(fullKey)) === 1],
      ]),
      stop: async () => {
        raw.disconnect();
        await cluster.stop();
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** Starts the servers of `kind`. */
export function startTarget(kind: TargetKind): Promise<Target> {
  switch (kind) {
    case 'memcached':
      return memcachedTarget();
    case 'redis':
      return redisTarget();
    case 'cluster':
      return clusterTarget();
  }
}

/** The client options every process of the fleet shares, so they share keys. */
export const PREFIX = 'e2e';
export const SERVICE = 'e2e';

/** A client of the parent's own over `target`: the "another process" of the tests. */
export function parentClient(target: Target): CacheClient {
  return new CacheClient({ backend: target.backend(), prefix: PREFIX, service: SERVICE });
}
