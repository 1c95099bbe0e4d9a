import type { MemcachedBackend } from '@stowage/backend-memcached';
import type { RedisBackend } from '@stowage/backend-redis';
import type { CacheBackend } from '@stowage/core';
import { withDeadline } from './deadline.js';
import { memcachedText } from './memcached-text.js';
import { addressOf, connected, serversOf } from './redis-admin.js';

/** One server's counters, named alike for memcached and Redis. */
export interface ServerStats {
  /** `host:port` (never credentials). */
  readonly server: string;
  /** The server's version. */
  readonly version: string | undefined;
  /** Seconds since the server started. */
  readonly uptimeSeconds: number | undefined;
  /** Items held (memcached `curr_items`; Redis: keys of every database). */
  readonly items: number | undefined;
  /** Bytes used for items (memcached `bytes`; Redis `used_memory`). */
  readonly bytes: number | undefined;
  /** Reads that found the key (memcached `get_hits`; Redis `keyspace_hits`). */
  readonly hits: number;
  /** Reads that did not (memcached `get_misses`; Redis `keyspace_misses`). */
  readonly misses: number;
  /** `hits / (hits + misses)`, `undefined` before the first read. */
  readonly hitRatio: number | undefined;
  /** Items evicted for memory. */
  readonly evictions: number | undefined;
  /** Every counter the server reported, as it named them. */
  readonly raw: Readonly<Record<string, string>>;
}

/** What `stowage stats` reports: each server, and the hit ratio over all of them. */
export interface StatsReport {
  /** The backend's name: `memcached` or `redis`. */
  readonly backend: string;
  /** Each server, in the URL's order (every master of a Redis Cluster). */
  readonly servers: readonly ServerStats[];
  /** Hits over all servers. */
  readonly hits: number;
  /** Misses over all servers. */
  readonly misses: number;
  /** `hits / (hits + misses)` over all servers, `undefined` before the first read. */
  readonly hitRatio: number | undefined;
}

function ratio(hits: number, misses: number): number | undefined {
  return hits + misses === 0 ? undefined : hits / (hits + misses);
}

function numberOf(raw: Readonly<Record<string, string>>, name: string): number | undefined {
  const text = raw[name];
  return text === undefined || text === '' || Number.isNaN(Number(text)) ? undefined : Number(text);
}

function statsOf(
  server: string,
  raw: Record<string, string>,
  names: Record<string, string>,
): ServerStats {
  const hits = numberOf(raw, names.hits ?? '') ?? 0;
  const misses = numberOf(raw, names.misses ?? '') ?? 0;
  return {
    server,
    version: raw[names.version ?? ''],
    uptimeSeconds: numberOf(raw, names.uptime ?? ''),
    items: numberOf(raw, names.items ?? ''),
    bytes: numberOf(raw, names.bytes ?? ''),
    hits,
    misses,
    hitRatio: ratio(hits, misses),
    evictions: numberOf(raw, names.evictions ?? ''),
    raw,
  };
}

async function memcachedStats(
  backend: MemcachedBackend,
  timeoutMs: number,
): Promise<ServerStats[]> {
  return Promise.all(
    backend.servers.map(async (server) => {
      const reply = await memcachedText(server, 'stats', {
        timeoutMs,
        complete: (text) => text.endsWith('END\r\n'),
      });
      const raw: Record<string, string> = {};
      for (const match of reply.matchAll(/^STAT (\S+) (.*?)\r$/gm))
        raw[match[1] as string] = match[2] as string;
      return statsOf(server, raw, {
        version: 'version',
        uptime: 'uptime',
        items: 'curr_items',
        bytes: 'bytes',
        hits: 'get_hits',
        misses: 'get_misses',
        evictions: 'evictions',
      });
    }),
  );
}

/** Parses `INFO` text: `name:value` lines; `db0:keys=3,expires=1,…` summed into `keys`. */
function parseInfo(text: string): Record<string, string> {
  const raw: Record<string, string> = {};
  let keys = 0;
  for (const match of text.matchAll(/^([a-z0-9_]+):(.*?)\r?$/gm)) {
    const [, name, value] = match as unknown as [string, string, string];
    raw[name] = value;
    if (/^db\d+$/.test(name)) keys += Number(/keys=(\d+)/.exec(value)?.[1] ?? 0);
  }
  raw['keys'] = String(keys);
  return raw;
}

async function redisStats(backend: RedisBackend, timeoutMs: number): Promise<ServerStats[]> {
  const nodes = serversOf(await connected(backend, timeoutMs));
  return Promise.all(
    nodes.map(async (node) => {
      // INFO with several sections needs Redis 7; one call per section works everywhere.
      const sections = await Promise.all(
        ['server', 'memory', 'stats', 'keyspace'].map(async (section) =>
          String(
            await withDeadline(
              node.callBuffer('INFO', section),
              timeoutMs,
              `redis ${addressOf(node)} INFO`,
            ),
          ),
        ),
      );
      return statsOf(addressOf(node), parseInfo(sections.join('\n')), {
        version: 'redis_version',
        uptime: 'uptime_in_seconds',
        items: 'keys',
        bytes: 'used_memory',
        hits: 'keyspace_hits',
        misses: 'keyspace_misses',
        evictions: 'evicted_keys',
      });
    }),
  );
}

/**
 * Reads the servers' own counters: memcached `stats` on every server of the ring, Redis `INFO`
 * on the server (every master of a Cluster). Throws for a backend without servers (`memory://`).
 */
export async function serverStats(backend: CacheBackend, timeoutMs: number): Promise<StatsReport> {
  let servers: ServerStats[];
  if (backend.name === 'memcached' && 'servers' in backend) {
    servers = await memcachedStats(backend as MemcachedBackend, timeoutMs);
  } else if (backend.name === 'redis' && 'client' in backend) {
    servers = await redisStats(backend as RedisBackend, timeoutMs);
  } else {
    throw new Error(
      `stats reads a server's counters; the ${backend.name} backend has none (use a memcached:// or redis:// URL)`,
    );
  }
  const hits = servers.reduce((sum, server) => sum + server.hits, 0);
  const misses = servers.reduce((sum, server) => sum + server.misses, 0);
  return { backend: backend.name, servers, hits, misses, hitRatio: ratio(hits, misses) };
}
