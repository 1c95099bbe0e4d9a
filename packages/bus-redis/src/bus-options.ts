import { CacheConfigError, redactUrl } from '@stowage/core';
import { parseUrlOptions } from '@stowage/core/backend';
import type { RedisOptions } from 'ioredis';

/** The default pub/sub channel. */
export const DEFAULT_CHANNEL = 'stowage:bus';

/** A client the bus can copy its connection settings from: ioredis 5 or 6, or iovalkey. */
export interface DuplicableRedis {
  /**
   * ioredis's `duplicate(override)`: a new, unconnected client with the same options. Typed
   * loosely so a client of the other ioredis major (or iovalkey) type-checks too.
   */
  duplicate(...override: never[]): unknown;
}

/** Options of {@link createRedisBus}. Give `url` or `client`, not both. */
export interface RedisBusOptions {
  /**
   * Where the bus connects: `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS).
   * The only query parameter is `channel`. The database number does not matter to pub/sub.
   */
  readonly url?: string | URL | undefined;
  /**
   * An ioredis client (5 or 6, or iovalkey) whose settings the bus copies with `duplicate()`.
   * The bus never uses or closes this client itself: it always opens two connections of its own,
   * one to subscribe and one to publish, because a connection in subscriber mode cannot publish.
   */
  readonly client?: DuplicableRedis | undefined;
  /**
   * ioredis options for the bus's connections when connecting by `url` (a CA for TLS, a
   * Sentinel setup…), applied under the bus's own timing options.
   */
  readonly redisOptions?: RedisOptions | undefined;
  /**
   * The pub/sub channel; every process of one cache must use the same.
   * @default 'stowage:bus'
   */
  readonly channel?: string | undefined;
  /**
   * How long connecting may take, in milliseconds: the TCP connect, and then the handshake and
   * SUBSCRIBE (a frozen server accepts TCP connections and then answers nothing). Also how long
   * `start()` waits before it rejects (the bus keeps trying).
   * @default 2000
   */
  readonly connectTimeoutMs?: number | undefined;
  /**
   * Interval between PINGs on the subscriber connection while the subscription is live, in
   * milliseconds. A frozen or partitioned server is reported `lost` within about
   * `heartbeatMs + timeoutMs`.
   * @default 1000
   */
  readonly heartbeatMs?: number | undefined;
  /**
   * Deadline of a PING reply and of a PUBLISH reply, in milliseconds. A missed PING reply means
   * the subscription is lost (the connection is replaced); a missed PUBLISH reply leaves the
   * message queued and replaces the publisher connection.
   * @default 1000
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Most messages kept while they cannot be published. Beyond it, the queue is dropped and one
   * `clear` is published in its place (every other L1 is emptied: nothing is lost silently).
   * @default 10000
   */
  readonly maxQueue?: number | undefined;
  /**
   * Longest wait between reconnect attempts, in milliseconds (exponential backoff from 100 ms,
   * plus up to 100 ms of jitter).
   * @default 2000
   */
  readonly reconnectMaxDelayMs?: number | undefined;
  /**
   * How long `close()` may try to publish what is queued, in milliseconds.
   * @default 1000
   */
  readonly closeTimeoutMs?: number | undefined;
}

/** Timing of a bus, all in milliseconds. */
export interface BusTiming {
  readonly connectTimeoutMs: number;
  readonly heartbeatMs: number;
  readonly timeoutMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly closeTimeoutMs: number;
}

/** Options after checking: where to connect and how. */
export interface ResolvedBusOptions {
  readonly channel: string;
  readonly timing: BusTiming;
  readonly maxQueue: number;
  /** Opens one connection (not yet connected); `role` names it on the server. */
  readonly open: (role: 'sub' | 'pub') => unknown;
}

const TIMING_DEFAULTS = {
  connectTimeoutMs: 2000,
  heartbeatMs: 1000,
  timeoutMs: 1000,
  reconnectMaxDelayMs: 2000,
  closeTimeoutMs: 1000,
} as const;

/** Largest delay a Node timer takes without overflowing. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CacheConfigError(
      `redis bus option \`${name}\` must be an integer from ${min} to ${max}; got ${String(value)}`,
    );
  }
  return value;
}

/** Delay before reconnect attempt `attempt` (1, 2, …): 100, 200, 400 ms… up to `cap`, + jitter. */
export function reconnectDelay(attempt: number, cap: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 16), cap) + Math.floor(Math.random() * 100);
}

/**
 * The ioredis options of both bus connections, over the caller's: nothing queued while the
 * connection is down (the bus keeps its own queue, in order), nothing resent behind its back,
 * no automatic resubscribe (the bus subscribes on every `ready` so it sees the confirmation
 * before it reports `live`), and reconnecting for ever with a capped backoff until `close()`.
 */
export function busConnectionOptions(timing: BusTiming, role: 'sub' | 'pub'): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 1,
    connectTimeout: timing.connectTimeoutMs,
    commandTimeout: timing.timeoutMs,
    keepAlive: 30_000,
    // ioredis applies a key prefix to no channel, but a caller's client may carry one.
    keyPrefix: '',
    enableAutoPipelining: false,
    connectionName: `stowage-bus-${role}`,
    retryStrategy: (attempt: number) => reconnectDelay(attempt, timing.reconnectMaxDelayMs),
  };
}

/**
 * Reads `redis://…`/`rediss://…` for the bus: host, port, credentials, TLS; `?channel=` is the
 * only query parameter. Never quotes a password in an error.
 */
export function parseBusUrl(input: string | URL): { redisOptions: RedisOptions; channel?: string } {
  let url: URL;
  try {
    url = typeof input === 'string' ? new URL(input) : input;
  } catch {
    throw new CacheConfigError(`redis bus URL '${redactUrl(String(input))}' is not a valid URL`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new CacheConfigError(
      `the redis bus needs a redis:// or rediss:// URL; got '${redactUrl(url)}'`,
    );
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw new CacheConfigError(`redis bus URL '${redactUrl(url)}' has no host`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const redisOptions: RedisOptions = { host, port };
  if (url.username !== '') redisOptions.username = decodeURIComponent(url.username);
  if (url.password !== '') redisOptions.password = decodeURIComponent(url.password);
  const path = url.pathname.replace(/^\/+/, '');
  if (path !== '') {
    if (!/^\d{1,9}$/.test(path)) {
      throw new CacheConfigError(
        `redis bus URL path must be a database number like /0; got '/${path}'`,
      );
    }
    redisOptions.db = Number(path);
  }
  if (url.protocol === 'rediss:') redisOptions.tls = {};
  const params = parseUrlOptions(url.protocol.slice(0, -1), url.searchParams, {
    channel: 'string',
  });
  return params.channel === undefined
    ? { redisOptions }
    : { redisOptions, channel: params.channel };
}

function checkChannel(channel: unknown): string {
  if (typeof channel !== 'string' || channel === '' || channel.length > 1024) {
    throw new CacheConfigError(
      'redis bus option `channel` must be a non-empty string of at most 1024 characters',
    );
  }
  return channel;
}

function checkTiming(options: RedisBusOptions): BusTiming {
  const pick = (name: keyof typeof TIMING_DEFAULTS, min: number): number =>
    checkInteger(name, options[name] ?? TIMING_DEFAULTS[name], min, MAX_TIMER_MS);
  return {
    connectTimeoutMs: pick('connectTimeoutMs', 1),
    heartbeatMs: pick('heartbeatMs', 10),
    timeoutMs: pick('timeoutMs', 1),
    reconnectMaxDelayMs: pick('reconnectMaxDelayMs', 1),
    closeTimeoutMs: pick('closeTimeoutMs', 0),
  };
}

/**
 * Checks every option and decides how connections are opened; throws `CacheConfigError` naming
 * the option. Opens nothing.
 */
export function resolveBusOptions(
  options: RedisBusOptions,
  connect: (options: RedisOptions) => unknown,
): ResolvedBusOptions {
  if (typeof options !== 'object' || options === null) {
    throw new CacheConfigError('createRedisBus needs an options object: { url } or { client }');
  }
  const { url, client } = options;
  if ((url === undefined) === (client === undefined)) {
    throw new CacheConfigError('the redis bus needs exactly one of `url` and `client`');
  }
  if (client !== undefined && typeof client.duplicate !== 'function') {
    throw new CacheConfigError('redis bus option `client` must be an ioredis client (duplicate())');
  }
  if (client !== undefined && (client as { isCluster?: unknown }).isCluster === true) {
    throw new CacheConfigError(
      'redis bus option `client` is a Cluster; pass the `url` of one node (pub/sub reaches every node)',
    );
  }
  if (client !== undefined && options.redisOptions !== undefined) {
    throw new CacheConfigError(
      'redis bus option `redisOptions` applies to `url` only; a `client` brings its own',
    );
  }
  if (url !== undefined && typeof url !== 'string' && !(url instanceof URL)) {
    throw new CacheConfigError('redis bus option `url` must be a string or a URL');
  }
  const parsed = url === undefined ? undefined : parseBusUrl(url);
  if (
    parsed?.channel !== undefined &&
    options.channel !== undefined &&
    parsed.channel !== options.channel
  ) {
    throw new CacheConfigError(
      `the redis bus URL names channel '${parsed.channel}' and the option \`channel\` '${options.channel}'; give one`,
    );
  }
  const channel = checkChannel(options.channel ?? parsed?.channel ?? DEFAULT_CHANNEL);
  const maxQueue = checkInteger('maxQueue', options.maxQueue ?? 10_000, 1, 10_000_000);
  const timing = checkTiming(options);
  const open = (role: 'sub' | 'pub'): unknown =>
    client !== undefined
      ? (client.duplicate as (override: RedisOptions) => unknown).call(
          client,
          busConnectionOptions(timing, role),
        )
      : connect({
          ...options.redisOptions,
          ...parsed?.redisOptions,
          ...busConnectionOptions(timing, role),
        });
  return { channel, timing, maxQueue, open };
}
