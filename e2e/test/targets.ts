// The servers the fleet runs against — memcached, Redis, Redis Cluster — started by the harness
// on free ports of 127.0.0.1 and stopped by PID, with what the tests need besides Stowage: a
// backend of the parent's own to look at raw entries, the server process behind a key (to pause
// it), deletes sent by other software (Python's pymemcache, a raw ioredis DEL), and what the
// server says of a key when asked without Stowage (its TTL, its raw bytes, a Q2 Python reader).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { basename } from 'node:path';
import { keySlot } from '@stowage/backend-redis';
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
import { createBackend } from '../src/backend.js';
import type { BackendSpec } from '../src/protocol.js';
import { until } from './fleet.js';

export type TargetKind = 'memcached' | 'redis' | 'cluster';

const PYTHON = process.env['PYTHON_BIN'] ?? '/usr/bin/python3';
const PYMEMCACHE_DELETE = new URL('./fixtures/pymemcache_delete.py', import.meta.url).pathname;
const Q2_READER = new URL('./fixtures/q2_style_reader.py', import.meta.url).pathname;

/** Runs a Python fixture with `input` as JSON on stdin; its stdout, parsed. */
function runPython<T>(script: string, input: unknown): T {
  const result = spawnSync(PYTHON, [script], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (result.status !== 0) throw new Error(`${basename(script)} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

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

/** Whether every thread of process `pid` is stopped; true where there is no /proc to ask. */
function stopped(pid: number): boolean {
  const tasks = `/proc/${pid}/task`;
  if (!existsSync(tasks)) return true;
  return readdirSync(tasks).every((tid) => {
    const stat = readFileSync(`${tasks}/${tid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'T';
  });
}

/**
 * Freezes `server` (SIGSTOP) and resolves once all its threads have stopped. The kernel wakes
 * one thread to stop the others: on a busy machine another one can still answer a request that
 * arrives meanwhile, and a test that sends one at once would see the server up.
 */
export async function pauseServer(server: ServerHandle): Promise<void> {
  server.pause();
  await until(`${server.address} to stop`, () => stopped(server.pid), 2000);
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

/** How the parent's own backend connects. */
export interface BackendOptions {
  /** The backend's deadline. @default the backend's own */
  readonly timeoutMs?: number;
  /** Reach the (standalone) server at this `host:port` instead: a proxy in front of it. */
  readonly address?: string;
}

/** Running servers of one kind. */
export interface Target {
  readonly kind: TargetKind;
  /** What workers connect with. */
  readonly spec: BackendSpec;
  /** A new backend of this process's own (the parent is a process of the fleet too). */
  backend(options?: BackendOptions): CacheBackend;
  /** The server process that holds `fullKey`: pausing it freezes that key. */
  serverOf(fullKey: string): ServerHandle;
  /** Deletes by other software, by label (see {@link FOREIGN_DELETES}). */
  readonly foreignDeletes: ReadonlyMap<string, ForeignDelete['delete']>;
  /**
   * The remaining server TTL of each full key in milliseconds, as the server reports it to other
   * software: memcached's `mg <key> t` in whole seconds (× 1000), Redis's `PTTL`. `-1` for no
   * expiry, `undefined` for a miss.
   */
  ttlsMs(fullKeys: readonly string[]): Promise<Array<number | undefined>>;
  /** Redis and Cluster: a plain ioredis client, for what a `GET` by other software sees. */
  readonly redis?: Redis | Cluster;
  /** Stops every server and closes the raw connections. */
  stop(): Promise<void>;
}

/** The parent's backends over `spec`, or over its one server reached at `options.address`. */
function backendOver(spec: BackendSpec): Target['backend'] {
  return (options = {}) => {
    const { address, timeoutMs } = options;
    if (address === undefined) return createBackend(spec, timeoutMs);
    switch (spec.kind) {
      case 'memcached':
        return createBackend({ kind: 'memcached', servers: [address] }, timeoutMs);
      case 'redis':
        return createBackend({ kind: 'redis', url: `redis://${address}` }, timeoutMs);
      case 'cluster':
        throw new Error('a Redis Cluster has no one address to reach through a proxy');
    }
  };
}

function pymemcacheDelete(port: number): ForeignDelete['delete'] {
  return async (fullKey) =>
    runPython<{ deleted: boolean }>(PYMEMCACHE_DELETE, { port, key: fullKey }).deleted;
}

/** What a Q2 Python service gets for each key (fixtures/q2_style_reader.py); null for a miss. */
export type Q2Read = Record<string, { flags: number; value: unknown; hex: string } | null>;

/** Reads `fullKeys` from the memcached on `port` as a Q2 Python service would (pymemcache). */
export function readLikeQ2(port: number, fullKeys: readonly string[]): Q2Read {
  return runPython<{ read: Q2Read }>(Q2_READER, { port, read: fullKeys }).read;
}

/** memcached's meta `mg <key> t` for each key, pipelined on one raw socket: seconds left. */
function memcachedTtls(port: number, keys: readonly string[]): Promise<Array<number | undefined>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () =>
      socket.write(`${keys.map((key) => `mg ${key} t\r\n`).join('')}mn\r\n`),
    );
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (!reply.endsWith('MN\r\n')) return;
      socket.destroy();
      const lines = reply.split('\r\n').slice(0, keys.length);
      resolve(
        lines.map((line) => (line === 'EN' ? undefined : Number(/ t(-?\d+)/.exec(line)?.[1]))),
      );
    });
    socket.on('error', reject);
  });
}

/** `PTTL` of each key: milliseconds left, `-1` for no expiry, `undefined` for a miss. */
async function redisTtls(raw: Redis | Cluster, keys: readonly string[]) {
  // One at a time on a Cluster: a pipeline there must stay within one slot.
  const ttls = await Promise.all(keys.map((key) => raw.pttl(key)));
  return ttls.map((ttl) => (ttl === -2 ? undefined : ttl));
}

async function memcachedTarget(): Promise<Target> {
  const server = await startMemcached();
  const spec: BackendSpec = { kind: 'memcached', servers: [server.address] };
  return {
    kind: 'memcached',
    spec,
    backend: backendOver(spec),
    serverOf: () => server,
    foreignDeletes: new Map([[FOREIGN_DELETES.memcached[0]!, pymemcacheDelete(server.port)]]),
    ttlsMs: async (fullKeys) =>
      (await memcachedTtls(server.port, fullKeys)).map((s) =>
        s === undefined || s === -1 ? s : s * 1000,
      ),
    stop: () => server.stop(),
  };
}

async function redisTarget(): Promise<Target> {
  const server = await startRedis();
  const raw = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
  const spec: BackendSpec = { kind: 'redis', url: `redis://${server.address}` };
  return {
    kind: 'redis',
    spec,
    backend: backendOver(spec),
    serverOf: () => server,
    foreignDeletes: new Map([
      [FOREIGN_DELETES.redis[0]!, async (fullKey: string) => (await raw.del(fullKey)) === 1],
    ]),
    ttlsMs: (fullKeys) => redisTtls(raw, fullKeys),
    redis: raw,
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
    const spec: BackendSpec = { kind: 'cluster', nodes: cluster.seeds };
    return {
      kind: 'cluster',
      spec,
      backend: backendOver(spec),
      serverOf: (fullKey) => nodeOfSlot(keySlot(fullKey)),
      foreignDeletes: new Map([
        [FOREIGN_DELETES.cluster[0]!, async (fullKey: string) => (await raw.del(fullKey)) === 1],
      ]),
      ttlsMs: (fullKeys) => redisTtls(raw, fullKeys),
      redis: raw,
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
