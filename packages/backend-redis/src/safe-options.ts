import { CacheConfigError } from '@stowage/core';
import type { ClusterOptions, RedisOptions } from 'ioredis';

/**
 * Delay before reconnect attempt `attempt` (1, 2, …), in milliseconds: 100, 200, 400, … capped at
 * 2000, plus up to 100 ms of jitter so many processes do not reconnect in lockstep.
 */
function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 16), 2000) + Math.floor(Math.random() * 100);
}

/**
 * The ioredis options every connection the backend opens starts from: the options of a cache
 * that must not hang (a socket timeout, no offline queue, no resend of unanswered commands, a
 * bounded reconnect). The caller's `redisOptions` are applied over them.
 */
export function safeRedisOptions(timeoutMs: number): RedisOptions {
  return {
    // Never touch the network in a constructor; the first call connects.
    lazyConnect: true,
    // No `commandTimeout`: it arms a timer per command (50 for a 50-key getMany). The backend's
    // own deadline rejects a call that was sent and got no answer in time (it is not cancelled on
    // the server), with one timer for all the calls started together (see DeadlineGroup).
    // A connection that receives nothing for this long while commands wait is destroyed and
    // replaced, so a frozen server or a stalled path cannot keep a dead socket for ever.
    socketTimeout: timeoutMs,
    // The connect phase (TCP and TLS) may take longer than one command without flapping.
    connectTimeout: Math.max(timeoutMs, 2000),
    // The default, 20 (v5) or a 73 s wait (v6), would hold calls while the server is down.
    maxRetriesPerRequest: 1,
    // A command in flight when a connection dropped may already have been applied; replaying it
    // would apply an INCR twice or land a stale write after a newer one. The caller decides.
    autoResendUnfulfilledCommands: false,
    // Commands are only sent once the connection is ready (see ConnectionWatch); a command that
    // finds the socket unwritable fails now instead of being sent late from a queue.
    enableOfflineQueue: false,
    keepAlive: 30_000,
    retryStrategy: reconnectDelay,
  };
}

/** The ioredis Cluster options a cluster the backend opens starts from. */
export function safeClusterOptions(timeoutMs: number): ClusterOptions {
  const { lazyConnect: _lazy, enableOfflineQueue: _queue, ...node } = safeRedisOptions(timeoutMs);
  return {
    lazyConnect: true,
    // Node connections are created lazily by the cluster and need its queue while they connect.
    enableOfflineQueue: true,
    // Do not resend a command whose connection closed (it may have been applied) and do not
    // retry a CLUSTERDOWN past the caller's deadline: fail fast, the caller decides.
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    clusterRetryStrategy: reconnectDelay,
    redisOptions: node,
  };
}

function hasOwnKeyPrefix(options: object | undefined): boolean {
  const prefix = (options as { keyPrefix?: unknown } | undefined)?.keyPrefix;
  return typeof prefix === 'string' ? prefix !== '' : prefix !== undefined && prefix !== null;
}

function hasAutoPipelining(options: object | undefined): boolean {
  return (options as { enableAutoPipelining?: unknown } | undefined)?.enableAutoPipelining === true;
}

/**
 * Refuses ioredis options this backend cannot run under, for the options of a connection (and
 * the `redisOptions` of a Cluster's nodes). `where.whose` names them in the message and
 * `where.fix` says what to pass instead of auto-pipelining.
 *
 * - `keyPrefix`: ioredis does not apply it to SCAN, so `clear()` would miss or over-reach.
 * - `enableAutoPipelining`: ioredis (5, 6) and iovalkey send a `callBuffer` command under the
 *   name of its first argument when auto-pipelining is on (redis/ioredis#1923), so `GET k` goes
 *   out as the command `k` — an error at best, and a key named like a command (`flushdb`) would
 *   run it. Every command of this backend is a `callBuffer`.
 */
export function checkDriverOptions(
  options: object | undefined,
  nested: object | undefined,
  where: { readonly whose: string; readonly fix: string },
): void {
  if (hasOwnKeyPrefix(options) || hasOwnKeyPrefix(nested)) {
    throw new CacheConfigError(
      `${where.whose} ioredis's own \`keyPrefix\`, which is not supported (ioredis does not apply it to SCAN); pass \`keyPrefix\` to the redis backend instead`,
    );
  }
  if (hasAutoPipelining(options) || hasAutoPipelining(nested)) {
    throw new CacheConfigError(
      `${where.whose} \`enableAutoPipelining: true\`, which is not supported: ioredis then sends the backend's commands under the wrong name (redis/ioredis#1923); ${where.fix}`,
    );
  }
}
