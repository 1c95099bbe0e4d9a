import { CacheConfigError, redactUrl } from '@stowage/core';
import type { ClusterOptions, RedisOptions } from 'ioredis';

/** An argument of a Redis command. */
export type RedisArg = string | Buffer | number;

/** The part of an ioredis pipeline the backend uses. */
export interface RedisPipelineLike {
  /** Queues a command whose bulk replies come back as `Buffer`s. */
  callBuffer(...args: [command: string, ...args: RedisArg[]]): unknown;
  /** Sends the queued commands in one write; resolves `[error, reply]` per command. */
  exec(): Promise<Array<[error: Error | null, reply: unknown]> | null>;
}

/**
 * The part of an ioredis client the backend uses. ioredis 5 and 6 `Redis` and `Cluster`
 * instances (also when configured for Sentinel) and iovalkey's match it.
 */
export interface RedisClientLike {
  /** ioredis's connection status: `wait`, `connecting`, `connect`, `ready`, `reconnecting`, `close`, `end`, … */
  readonly status: string;
  /** The options the client was created with (checked for `keyPrefix` and `commandTimeout`). */
  readonly options: object;
  /** `true` for a `Cluster`. */
  readonly isCluster?: boolean;
  /** Sends a command; bulk replies come back as `Buffer`s. */
  callBuffer(...args: [command: string, ...args: RedisArg[]]): Promise<unknown>;
  /** Starts a pipeline. */
  pipeline(): RedisPipelineLike;
  /** Opens the connection (lazy clients). */
  connect(): Promise<unknown>;
  /** Closes the connection at once. */
  disconnect(reconnect?: boolean): void;
  /** Closes the connection after pending replies. */
  quit(): Promise<unknown>;
  /** Subscribes to a client event (`ready`, `close`, `end`, `error`). */
  on(event: string, listener: (error: Error) => void): unknown;
  /** Unsubscribes from a client event. */
  removeListener(event: string, listener: (error: Error) => void): unknown;
  /** Cluster only: the node connections of a role. */
  nodes?(role?: 'master' | 'slave' | 'all'): RedisClientLike[];
  /** The socket ioredis writes commands to (set once it connects; a Cluster's nodes have one each). */
  readonly stream?: CorkableStream | undefined;
}

/**
 * The part of a socket the backend uses: to send the commands of one tick in one write, and to
 * drop a connection whose reply stream can no longer be trusted.
 */
export interface CorkableStream {
  /** Buffers writes until `uncork()`. */
  cork(): void;
  /** Sends the buffered writes (in one `writev`). */
  uncork(): void;
  /** Closes the socket at once, reading nothing more (ioredis then reconnects). */
  destroy?(): void;
}

/** What a Redis URL (`redis://` or `rediss://`) configures. */
export interface ParsedRedisUrl {
  /** Connection options for ioredis. */
  readonly redisOptions: RedisOptions;
  /** Backend options given as query parameters. */
  readonly params: Readonly<Record<UrlParam, string | undefined>>;
}

/** Query parameters a Redis URL may carry; they configure the backend, never ioredis. */
export const URL_PARAMS = ['keyPrefix', 'maxKeyBytes', 'maxValueBytes'] as const;
/** One of {@link URL_PARAMS}. */
export type UrlParam = (typeof URL_PARAMS)[number];

/**
 * Reads a `redis://[user:password@]host[:port][/db][?keyPrefix=…]` or `rediss://…` URL. It is
 * parsed here rather than by ioredis so that no query parameter ever reaches ioredis as an option
 * (ioredis would turn `?keyPrefix=` into its own key prefix) and both ioredis majors read the same
 * URL the same way. `rediss://` turns on TLS with Node's defaults (certificate verification on,
 * SNI from the host name); pass `redisOptions.tls` for a CA or client certificate.
 */
export function parseRedisUrl(input: string | URL): ParsedRedisUrl {
  let url: URL;
  try {
    url = typeof input === 'string' ? new URL(input) : input;
  } catch {
    // The parser's error quotes the input, password included: neither it nor the raw text is kept.
    throw new CacheConfigError(`redis URL '${redactUrl(String(input))}' is not a valid URL`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new CacheConfigError(
      `the redis backend needs a redis:// or rediss:// URL; got ${url.protocol}//`,
    );
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw new CacheConfigError(`redis URL '${redact(url)}' has no host`);
  const port = url.port === '' ? 6379 : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new CacheConfigError(
      `redis URL port must be an integer from 1 to 65535; got ${url.port}`,
    );
  }
  const options: RedisOptions = { host, port };
  if (url.username !== '') options.username = decodeURIComponent(url.username);
  if (url.password !== '') options.password = decodeURIComponent(url.password);
  const path = url.pathname.replace(/^\/+/, '');
  if (path !== '') {
    const db = Number(path);
    if (!/^\d+$/.test(path) || !Number.isSafeInteger(db)) {
      throw new CacheConfigError(
        `redis URL path must be a database number like /0; got '/${path}'`,
      );
    }
    options.db = db;
  }
  if (url.protocol === 'rediss:') options.tls = {};
  const params: Partial<Record<UrlParam, string>> = {};
  for (const [name, value] of url.searchParams) {
    if (!(URL_PARAMS as readonly string[]).includes(name)) {
      throw new CacheConfigError(
        `unknown redis URL parameter '${name}'; known: ${URL_PARAMS.join(', ')} (other ioredis options go in \`redisOptions\`)`,
      );
    }
    params[name as UrlParam] = value;
  }
  return { redisOptions: options, params: params as ParsedRedisUrl['params'] };
}

/** The URL without its password, for error messages. */
function redact(url: URL): string {
  if (url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.password = '***';
  return copy.href;
}

/**
 * Delay before reconnect attempt `attempt` (1, 2, …), in milliseconds: 100, 200, 400, … capped at
 * 2000, plus up to 100 ms of jitter so many processes do not reconnect in lockstep.
 */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 16), 2000) + Math.floor(Math.random() * 100);
}

/**
 * The ioredis options every connection the backend opens starts from (A2, "options for a cache
 * that must not hang"). The caller's `redisOptions` are applied over them.
 */
export function safeRedisOptions(timeoutMs: number): RedisOptions {
  return {
    // Never touch the network in a constructor; the first call connects.
    lazyConnect: true,
    // A command that was sent gets no answer in time: reject it (it is not cancelled on the server).
    commandTimeout: timeoutMs,
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

const noop = (): void => undefined;

/** Why the backend could not send a command: the connection is down or not ready in time. */
export class NotConnectedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NotConnectedError';
  }
}

/**
 * Follows a client's connection state so a command is only ever sent on a ready connection.
 *
 * - `ready`: send now (the fast path costs one property read);
 * - not yet connected, or reconnecting after a connection that was working dropped: wait for
 *   `ready` (the caller bounds the wait by its deadline);
 * - a connection attempt failed since the last `ready` (refused, timed out, handshake failed):
 *   fail at once with the reason, until a background reconnect succeeds — a breaker that is
 *   open while the server is unreachable, with ioredis's reconnect attempts as the probe.
 *
 * Because nothing is queued while the connection is down, a call that gave up is never sent
 * later by the client's offline queue.
 */
export class ConnectionWatch {
  readonly #client: RedisClientLike;
  /** The current connection reached `ready` (reset on every `close`). */
  #wasReady = false;
  /** A connection attempt failed since the last `ready`. */
  #failing = false;
  #lastError: Error | undefined;
  #waiter: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;

  readonly #onReady = (): void => {
    this.#wasReady = true;
    this.#failing = false;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  };

  readonly #onClose = (): void => {
    if (!this.#wasReady) this.#failing = true;
    this.#wasReady = false;
    this.#rejectWaiter();
  };

  readonly #onEnd = (): void => {
    this.#rejectWaiter();
  };

  readonly #onError = (error: Error): void => {
    this.#lastError = error;
  };

  /**
   * @param listenErrors attach an `error` listener (only on clients the backend owns: on a
   *   caller's client it would silence ioredis's own "Unhandled error event" output).
   */
  constructor(client: RedisClientLike, listenErrors: boolean) {
    this.#client = client;
    client.on('ready', this.#onReady);
    client.on('close', this.#onClose);
    client.on('end', this.#onEnd);
    if (listenErrors) client.on('error', this.#onError);
    // A caller's client may already be connected.
    if (client.status === 'ready') this.#wasReady = true;
  }

  /** The last connection error seen (owned clients only). */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /**
   * `undefined` when a command can be sent now; otherwise a promise that resolves once the
   * connection is ready or rejects with {@link NotConnectedError}. It never resolves late on its
   * own: the caller races it against its deadline.
   */
  ready(): Promise<void> | undefined {
    const status = this.#client.status;
    if (status === 'ready') return undefined;
    if (status === 'end') {
      return Promise.reject(new NotConnectedError('the redis connection has been closed'));
    }
    if (status === 'wait') {
      this.#client.connect().catch(noop);
    } else if (this.#failing) {
      return Promise.reject(this.#unreachable());
    }
    if (this.#waiter === undefined) {
      let resolve: () => void = noop;
      let reject: (e: Error) => void = noop;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(noop); // a waiter nobody awaits any more must not be an unhandled rejection
      this.#waiter = { promise, resolve, reject };
    }
    return this.#waiter.promise;
  }

  #unreachable(): NotConnectedError {
    const reason = this.#lastError;
    return new NotConnectedError(
      `redis is unreachable (${this.#client.status}${reason === undefined ? '' : `: ${reason.message}`}); calls fail fast until a background reconnect succeeds`,
      { cause: reason },
    );
  }

  #rejectWaiter(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    waiter.reject(this.#unreachable());
  }

  /**
   * Removes the listeners this watch added, except the `error` listener on a client the backend
   * owns: that client is being closed, and a socket error while it quits (a stalled `QUIT` hits
   * the socket timeout) must not reach ioredis's "Unhandled error event" output.
   */
  detach(): void {
    const client = this.#client;
    client.removeListener('ready', this.#onReady);
    client.removeListener('close', this.#onClose);
    client.removeListener('end', this.#onEnd);
    this.#rejectWaiter();
  }
}
