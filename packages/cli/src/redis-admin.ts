import type { RedisBackend, RedisClientLike } from '@stowage/backend-redis';
import type { CacheBackend } from '@stowage/core';
import { withDeadline } from './deadline.js';

/** True for the bundled Redis backend (its ioredis client and key prefix are public). */
export function isRedisBackend(backend: CacheBackend): backend is RedisBackend {
  return backend.name === 'redis' && 'client' in backend && 'keyPrefix' in backend;
}

/** `host:port` of a client's connection (never its credentials). */
export function addressOf(client: RedisClientLike): string {
  const options = client.options as { host?: string; port?: number };
  return `${options.host ?? '127.0.0.1'}:${options.port ?? 6379}`;
}

/**
 * Connects the backend's lazy client: the backend connects on its first call, and the CLI's own
 * commands (`INFO`, `SCAN`) may come first. ioredis refuses commands before that (no offline queue).
 */
export async function connected(
  backend: RedisBackend,
  timeoutMs: number,
): Promise<RedisClientLike> {
  const client = backend.client;
  if (client.status === 'wait') {
    await withDeadline(client.connect(), timeoutMs, `redis ${addressOf(client)}`);
  }
  return client;
}

/** The servers to ask for per-server facts: every master of a Cluster, else the one server. */
export function serversOf(client: RedisClientLike): RedisClientLike[] {
  return client.isCluster === true && client.nodes !== undefined
    ? client.nodes('master')
    : [client];
}

/** `*`, `?`, `[`, `]` and `\` escaped, so a key prefix matches itself in a `SCAN MATCH` glob. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

/** A key a `SCAN` found: its full key (the backend's own key prefix removed) and its TTL. */
export interface ScannedKey {
  readonly fullKey: string;
  /** Milliseconds left; `null` when it never expires; `undefined` when it is gone since the scan. */
  readonly ttlMs: number | null | undefined;
}

async function scanServer(
  node: RedisClientLike,
  pattern: string,
  timeoutMs: number,
): Promise<Buffer[]> {
  const found: Buffer[] = [];
  let cursor = '0';
  do {
    const reply = (await withDeadline(
      node.callBuffer('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000),
      timeoutMs,
      `redis ${addressOf(node)} SCAN`,
    )) as [Buffer, Buffer[]];
    cursor = reply[0].toString('latin1');
    found.push(...reply[1]);
  } while (cursor !== '0');
  return found;
}

/**
 * Lists the keys that start with `fullKeyPrefix` with `SCAN … MATCH` (never `KEYS`: it does not
 * block the server), on every master of a Cluster, and reads their TTLs with pipelined `PTTL`s.
 */
export async function scanKeys(
  backend: RedisBackend,
  fullKeyPrefix: string,
  timeoutMs: number,
): Promise<ScannedKey[]> {
  const client = await connected(backend, timeoutMs);
  const pattern = `${escapeGlob(backend.keyPrefix + fullKeyPrefix)}*`;
  const found = (
    await Promise.all(serversOf(client).map((node) => scanServer(node, pattern, timeoutMs)))
  ).flat();
  const pipeline = client.pipeline();
  for (const key of found) pipeline.callBuffer('PTTL', key);
  const replies =
    found.length === 0
      ? []
      : ((await withDeadline(pipeline.exec(), timeoutMs, 'redis PTTL')) ?? []);
  return found.map((key, i) => {
    const ms = Number(replies[i]?.[1]);
    return {
      fullKey: key.toString('utf8').slice(backend.keyPrefix.length),
      ttlMs: ms === -1 ? null : ms === -2 || Number.isNaN(ms) ? undefined : ms,
    };
  });
}
