import {
  CacheConfigError,
  DEFAULT_MAX_VALUE_BYTES as CORE_DEFAULT_MAX_VALUE_BYTES,
  DEFAULT_TIMEOUT_MS,
} from '@stowage/core';
import {
  ILLEGAL_KEY_CHAR,
  integerOption,
  MAX_TIMER_MS,
  MEMCACHED_MAX_KEY_BYTES,
  type BackendLimits,
} from '@stowage/core/backend';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisClientLike } from './client-like.js';
import { parseRedisUrl, type ParsedRedisUrl } from './redis-url.js';
import { checkDriverOptions, safeClusterOptions, safeRedisOptions } from './safe-options.js';
import { HEADER_BYTES } from './stored-format.js';

/**
 * Default largest value, in bytes: core's `DEFAULT_MAX_VALUE_BYTES` (1 MiB − 512), the same on
 * every bundled backend, so a value the memory backend accepts in a unit test is one production
 * memcached stores too.
 */
export const DEFAULT_MAX_VALUE_BYTES: number = CORE_DEFAULT_MAX_VALUE_BYTES;
/** Largest `maxValueBytes` accepted: Redis's 512 MiB string limit minus the stored header (10 bytes). */
export const MAX_VALUE_BYTES_LIMIT: number = 512 * 1024 * 1024 - HEADER_BYTES;
/** Default number of keys per `UNLINK` of `deleteMany` and per `SCAN` step of `clear()`. */
export const DEFAULT_BATCH_SIZE: number = 1000;
/** Largest `batchSize` accepted: larger commands would hold Redis's one thread for long. */
const MAX_BATCH_SIZE = 100_000;

/**
 * The ioredis-compatible module the backend opens connections with: `ioredis` 5 or 6, or
 * `iovalkey`. Pass it when your application uses a different copy than the one this package
 * resolves (for example `import * as iovalkey from 'iovalkey'`).
 */
export interface RedisDriver {
  /** The standalone / Sentinel client class, called as `new Redis(options)`. */
  readonly Redis: new (...args: never[]) => unknown;
  /** The Redis Cluster client class, called as `new Cluster(nodes, options)`. */
  readonly Cluster: new (...args: never[]) => unknown;
}

/** How the backend calls a driver's constructors. */
interface DriverConstructors {
  readonly Redis: new (options: RedisOptions) => RedisClientLike;
  readonly Cluster: new (nodes: ClusterNode[], options: ClusterOptions) => RedisClientLike;
}

/** Options of {@link createRedisBackend}. Give a `url` and/or `redisOptions`, `clusterNodes`, or a `client`. */
export interface RedisBackendOptions {
  /**
   * `redis://[user:password@]host[:port][/db]`, or `rediss://…` for TLS (Node's certificate
   * checks; add a CA or client certificate with `redisOptions.tls`). Query parameters set
   * `keyPrefix`, `maxKeyBytes` and `maxValueBytes`: `redis://cache:6379/0?keyPrefix=billing:`.
   * @default 'redis://localhost:6379' when neither `url`, `redisOptions`, `clusterNodes` nor `client` is given
   */
  readonly url?: string | URL | undefined;
  /**
   * ioredis options for the connection the backend opens, applied over the URL and over the
   * backend's safe defaults (`lazyConnect`, `socketTimeout` = `timeoutMs` — the backend's own
   * deadline replaces ioredis's per-command `commandTimeout` —
   * `maxRetriesPerRequest: 1`, `autoResendUnfulfilledCommands: false`, no offline queue, capped
   * reconnect backoff). Sentinel: `{ sentinels: [{ host, port }], name: 'mymaster' }`.
   * ioredis's own `keyPrefix` is refused (use this backend's `keyPrefix`), and so is
   * `enableAutoPipelining: true` (ioredis sends `callBuffer` commands under the wrong name then).
   * @default undefined
   */
  readonly redisOptions?: RedisOptions | undefined;
  /**
   * Seed nodes of a Redis Cluster (`[{ host, port }]` or `'host:port'` strings): the backend opens
   * an ioredis `Cluster`. Batch calls are split by hash slot; see the README on hash tags.
   * @default undefined (a standalone connection)
   */
  readonly clusterNodes?: readonly ClusterNode[] | undefined;
  /**
   * ioredis `Cluster` options, with `clusterNodes`; applied over the safe defaults. Node
   * connection options go in `clusterOptions.redisOptions` (TLS, password, …). `keyPrefix` and
   * `enableAutoPipelining: true` are refused here too, as in `redisOptions`.
   * @default undefined
   */
  readonly clusterOptions?: ClusterOptions | undefined;
  /**
   * A client you created and keep owning: an ioredis 5/6 `Redis` (standalone or Sentinel),
   * a `Cluster`, or an iovalkey client. The backend never closes it and adds no `error` listener;
   * give it `commandTimeout`, `maxRetriesPerRequest: 1` and `autoResendUnfulfilledCommands: false`
   * (see the README). It must not have a `keyPrefix` nor `enableAutoPipelining: true`.
   * @default undefined
   */
  readonly client?: RedisClientLike | undefined;
  /**
   * The module connections are opened with.
   * @default the `ioredis` this package resolves
   */
  readonly driver?: RedisDriver | undefined;
  /**
   * Namespace put before every key, owned by this backend (`'billing:'`). `clear()` removes only
   * keys that start with it, with `SCAN` + `UNLINK`. Put a hash tag in it (`'{billing}:'`) only if
   * every key should live in one cluster slot.
   * @default '' (no namespace; `clear()` then refuses to run)
   */
  readonly keyPrefix?: string | undefined;
  /**
   * Deadline of every call, in milliseconds: a call that has not settled by then rejects with
   * `CacheTimeoutError` (one timer for the calls started together, not one per command). Also
   * ioredis's `socketTimeout` on connections the backend opens. At most 2147483647 (Node's longest timer).
   * @default 1000 (core's `DEFAULT_TIMEOUT_MS`)
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Largest key the client may use, in UTF-8 bytes, not counting `keyPrefix`. memcached's limit by
   * default, so code tested against one backend runs on the other.
   * @default 250
   */
  readonly maxKeyBytes?: number | undefined;
  /**
   * Largest value, in bytes, after the client's compression and encryption (the stored value is
   * up to 10 bytes more, see the README's stored format). Writes over it are refused, and reads
   * never fetch more than this plus the header: a larger value (another program's) reads as a
   * miss plus a warning. At most 536870902 (Redis's 512 MiB limit).
   * @default 1048064 (core's `DEFAULT_MAX_VALUE_BYTES`, 1 MiB − 512, what memcached stores)
   */
  readonly maxValueBytes?: number | undefined;
  /**
   * Keys per `UNLINK` command of `deleteMany` and per `SCAN` step of `clear()`; larger batches
   * are split and pipelined. (`getMany` sends one bounded `GETRANGE` per key.) At most 100000.
   * @default 1000
   */
  readonly batchSize?: number | undefined;
}

const DEFAULT_DRIVER: RedisDriver = { Redis, Cluster };

/** The backend's own settings, checked and with their defaults (see {@link RedisBackendOptions}). */
export interface ResolvedRedisOptions {
  /** The per-call deadline, in milliseconds. */
  readonly timeoutMs: number;
  /** `maxKeyBytes` and `maxValueBytes`, from the options, else the URL, else the defaults. */
  readonly limits: BackendLimits;
  /** Keys per `UNLINK` of `deleteMany` and per `SCAN` step of `clear()`. */
  readonly batchSize: number;
  /** The namespace before every key, from the options, else the URL, else `''`. */
  readonly keyPrefix: string;
  /** The URL's connection options, when a `url` was given. */
  readonly parsed: ParsedRedisUrl | undefined;
}

/**
 * Checks the backend's own options and applies the defaults, or throws `CacheConfigError` naming
 * the option. An option given directly wins over the same one in the URL's query. Pure: it
 * creates no client and opens nothing, so it is tested without a server; the connection options
 * are checked by {@link openClient}.
 */
export function resolveRedisOptions(options: RedisBackendOptions): ResolvedRedisOptions {
  if (typeof options !== 'object' || options === null) {
    throw new CacheConfigError('redis backend options must be an object');
  }
  const sources = [
    options.url !== undefined || options.redisOptions !== undefined,
    options.clusterNodes !== undefined,
    options.client !== undefined,
  ].filter(Boolean).length;
  if (sources > 1) {
    throw new CacheConfigError(
      'give the redis backend one of `url`/`redisOptions`, `clusterNodes` or `client`, not several',
    );
  }
  const parsed = options.url === undefined ? undefined : parseRedisUrl(options.url);
  const params = parsed?.params;
  const keyPrefix = options.keyPrefix ?? params?.keyPrefix ?? '';
  if (typeof keyPrefix !== 'string' || ILLEGAL_KEY_CHAR.test(keyPrefix)) {
    throw new CacheConfigError(
      '`keyPrefix` must be a string without whitespace, control characters or lone surrogates',
    );
  }
  return {
    timeoutMs: integerOption(options.timeoutMs, 'timeoutMs', DEFAULT_TIMEOUT_MS, {
      max: MAX_TIMER_MS,
    }),
    limits: {
      maxKeyBytes: integerOption(
        options.maxKeyBytes ?? params?.maxKeyBytes,
        'maxKeyBytes',
        MEMCACHED_MAX_KEY_BYTES,
        { max: MAX_VALUE_BYTES_LIMIT },
      ),
      maxValueBytes: integerOption(
        options.maxValueBytes ?? params?.maxValueBytes,
        'maxValueBytes',
        DEFAULT_MAX_VALUE_BYTES,
        { max: MAX_VALUE_BYTES_LIMIT },
      ),
    },
    batchSize: integerOption(options.batchSize, 'batchSize', DEFAULT_BATCH_SIZE, {
      max: MAX_BATCH_SIZE,
    }),
    keyPrefix,
    parsed,
  };
}

/** The connection the backend runs on, and what it needs to know about it. */
export interface OpenedClient {
  /** The ioredis (or iovalkey) client. */
  readonly client: RedisClientLike;
  /** The backend opened it and closes it. */
  readonly owned: boolean;
  /** It is a Cluster: batches are split by hash slot, and the socket is never corked. */
  readonly cluster: boolean;
  /** Calls need the backend's own timer: ioredis's `commandTimeout` alone does not cover them. */
  readonly ownTimer: boolean;
}

/**
 * The connection of a backend: the caller's `client`, a Cluster of `clusterNodes`, or a
 * standalone/Sentinel client from `url`/`redisOptions` — over the safe ioredis defaults, with
 * the ioredis options the backend cannot run under refused. Opens no socket until used.
 */
export function openClient(
  options: RedisBackendOptions,
  resolved: ResolvedRedisOptions,
): OpenedClient {
  const driver = (options.driver ?? DEFAULT_DRIVER) as unknown as DriverConstructors;
  if (typeof driver.Redis !== 'function' || typeof driver.Cluster !== 'function') {
    throw new CacheConfigError('`driver` must be the ioredis module (with `Redis` and `Cluster`)');
  }
  const { timeoutMs, parsed } = resolved;
  if (options.client !== undefined) {
    const client = options.client;
    if (typeof client !== 'object' || client === null || typeof client.callBuffer !== 'function') {
      throw new CacheConfigError(
        '`client` must be an ioredis (or iovalkey) Redis or Cluster instance',
      );
    }
    const nested = (client.options as { redisOptions?: object }).redisOptions;
    checkDriverOptions(client.options, nested, {
      whose: 'the `client` has',
      // Your client keeps auto-pipelining for the rest of the app; the backend gets its own.
      fix:
        client.isCluster === true
          ? 'pass `client.duplicate(undefined, { enableAutoPipelining: false })` instead (a second connection for the cache, same servers and options)'
          : 'pass `client.duplicate({ enableAutoPipelining: false })` instead (a second connection for the cache, same server and options)',
    });
    const cluster = client.isCluster === true;
    const commandTimeout = (client.options as { commandTimeout?: unknown }).commandTimeout;
    const ownTimer = cluster || typeof commandTimeout !== 'number' || commandTimeout > timeoutMs;
    return { client, owned: false, cluster, ownTimer };
  }
  if (options.clusterNodes !== undefined) {
    // Array.isArray narrows to any[]: keep the declared type for the spread below.
    const nodes: readonly ClusterNode[] = options.clusterNodes;
    if (!Array.isArray(options.clusterNodes) || nodes.length === 0) {
      throw new CacheConfigError('`clusterNodes` must be a non-empty array of nodes');
    }
    const user = options.clusterOptions ?? {};
    checkDriverOptions(user, user.redisOptions, {
      whose: '`clusterOptions` has',
      fix: 'leave it out of the options given to the backend',
    });
    const safe = safeClusterOptions(timeoutMs);
    const client = new driver.Cluster([...nodes], {
      ...safe,
      ...user,
      redisOptions: { ...safe.redisOptions, ...user.redisOptions },
    });
    return { client, owned: true, cluster: true, ownTimer: true };
  }
  checkDriverOptions(options.redisOptions, undefined, {
    whose: '`redisOptions` has',
    fix: 'leave it out of the options given to the backend',
  });
  const merged: RedisOptions = {
    ...safeRedisOptions(timeoutMs),
    ...parsed?.redisOptions,
    ...options.redisOptions,
  };
  if (parsed?.redisOptions.tls !== undefined && options.redisOptions?.tls !== undefined) {
    merged.tls = { ...parsed.redisOptions.tls, ...options.redisOptions.tls };
  }
  const ownTimer = typeof merged.commandTimeout !== 'number' || merged.commandTimeout > timeoutMs;
  return { client: new driver.Redis(merged), owned: true, cluster: false, ownTimer };
}
