import { CacheBackendError, CacheConfigError } from '@stowage/core';
import {
  BusAction,
  type BusHandlers,
  type BusMessage,
  type BusUrlOptions,
  type CacheBus,
} from '@stowage/core/backend';
import { Redis, type RedisOptions } from 'ioredis';
import { resolveBusOptions, type RedisBusOptions } from './bus-options.js';
import type { BusConnection } from './connection.js';
import { Publisher } from './publisher.js';
import { Subscription } from './subscription.js';
import { decodeMessage, encodeMessage, messageProblem } from './wire-format.js';

/** The bus's name in warnings and errors. */
export const REDIS_BUS_NAME = 'redis-bus';

/** Most warnings kept from before `start()`; later ones repeat what they say. */
const MAX_EARLY_WARNINGS = 10;

/**
 * Least time between two warnings about dropped frames, in milliseconds: a foreign program
 * flooding the channel must not turn into one warning event per message.
 */
const MALFORMED_WARNING_INTERVAL_MS = 1000;

/** Source of the `clear` sent in place of a message that could not be encoded. */
const UNKNOWN_SOURCE = 'redis-bus:invalid';

/**
 * An invalidation bus over Redis pub/sub (the reference `CacheBus`). Two connections of its own:
 * one subscribes (and PINGs, so a frozen server is noticed), one publishes from an ordered,
 * bounded queue. Create it with {@link createRedisBus}; the client starts and closes it.
 */
export class RedisBus implements CacheBus {
  /** `redis-bus`. */
  readonly name: string = REDIS_BUS_NAME;
  /** The pub/sub channel. */
  readonly channel: string;
  readonly #subscription: Subscription;
  readonly #publisher: Publisher;
  readonly #connectTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  #handlers: BusHandlers | undefined;
  #started = false;
  #closing: Promise<void> | undefined;
  #onFirstLive: (() => void) | undefined;
  /** Settles a pending `start()` when the bus is closed before it went live. */
  #abortStart: (() => void) | undefined;
  /** Warnings from before `start()` (a queue that overflowed early), handed over by `start()`. */
  #early: Error[] = [];
  /** When the last dropped-frame warning went out (performance.now()), and how many since. */
  #malformedWarnedAt = Number.NEGATIVE_INFINITY;
  #malformedSilenced = 0;

  /** Checks the options (throws `CacheConfigError`); opens nothing until `start()`. */
  constructor(options: RedisBusOptions) {
    const resolved = resolveBusOptions(
      options,
      (redisOptions: RedisOptions) => new Redis(redisOptions),
    );
    this.channel = resolved.channel;
    this.#connectTimeoutMs = resolved.timing.connectTimeoutMs;
    this.#closeTimeoutMs = resolved.timing.closeTimeoutMs;
    const call = <K extends keyof BusHandlers>(
      name: K,
      ...args: Parameters<BusHandlers[K]>
    ): void => this.#call(name, args);
    this.#subscription = new Subscription(resolved.open('sub') as BusConnection, this.channel, {
      timing: resolved.timing,
      events: {
        frame: (text) => this.#frame(text),
        live: () => {
          call('live');
          this.#onFirstLive?.();
        },
        lost: (error) => call('lost', error),
        warn: (error) => call('warn', error),
      },
    });
    this.#publisher = new Publisher(resolved.open('pub') as BusConnection, this.channel, {
      timing: resolved.timing,
      maxQueue: resolved.maxQueue,
      warn: (error) => call('warn', error),
    });
  }

  /** Whether the subscription is live now. */
  get live(): boolean {
    return this.#subscription.live;
  }

  /** Messages published but not yet confirmed by Redis. */
  get queued(): number {
    return this.#publisher.queued;
  }

  /** Calls a handler unless closed; a handler that throws must not break the connection's events. */
  #call<K extends keyof BusHandlers>(name: K, args: Parameters<BusHandlers[K]>): void {
    const handlers = this.#handlers;
    if (this.#closing !== undefined) return;
    if (handlers === undefined) {
      if (name === 'warn' && this.#early.length < MAX_EARLY_WARNINGS) {
        this.#early.push(args[0] as Error);
      }
      return;
    }
    try {
      (handlers[name] as (...a: Parameters<BusHandlers[K]>) => void)(...args);
    } catch {
      // The contract says handlers never throw; one that does is not the bus's to report.
    }
  }

  #frame(text: string): void {
    let message: BusMessage;
    try {
      message = decodeMessage(text);
    } catch (error) {
      this.#malformed(error as Error);
      return;
    }
    this.#call('message', [message]);
  }

  /** Warns about a dropped frame, at most once per interval, counting the ones in between. */
  #malformed(error: Error): void {
    const now = performance.now();
    if (now - this.#malformedWarnedAt < MALFORMED_WARNING_INTERVAL_MS) {
      this.#malformedSilenced++;
      return;
    }
    const silenced = this.#malformedSilenced;
    this.#malformedWarnedAt = now;
    this.#malformedSilenced = 0;
    if (silenced > 0) error.message += `; ${silenced} more dropped since the last warning`;
    this.#call('warn', [error]);
  }

  /**
   * Connects both connections and subscribes. Resolves after `handlers.live` was called; rejects
   * with `CacheBackendError` after `connectTimeoutMs` and keeps trying in the background.
   */
  start(handlers: BusHandlers): Promise<void> {
    if (this.#started) {
      return Promise.reject(new CacheConfigError('the redis bus was started already'));
    }
    this.#started = true;
    if (this.#closing !== undefined) return Promise.resolve();
    this.#handlers = handlers;
    for (const error of this.#early.splice(0)) this.#call('warn', [error]);
    const first = new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        this.#onFirstLive = undefined;
        this.#abortStart = undefined;
        clearTimeout(timer);
      };
      const timer = setTimeout(() => {
        settle();
        const reason = this.#subscription.lastError;
        reject(
          new CacheBackendError(
            `the redis bus was not subscribed within ${this.#connectTimeoutMs} ms${reason === undefined ? '' : ` (${reason.message})`}; it keeps trying and reports live when it is`,
            { backend: REDIS_BUS_NAME, operation: 'start', cause: reason },
          ),
        );
      }, this.#connectTimeoutMs);
      timer.unref();
      this.#onFirstLive = () => {
        settle();
        resolve();
      };
      // Closed before it went live: nothing to wait for any more.
      this.#abortStart = () => {
        settle();
        resolve();
      };
    });
    this.#subscription.start();
    this.#publisher.start();
    return first;
  }

  /**
   * Publishes to every bus on the channel, this one included. Never throws, never waits: the
   * message is queued (bounded by `maxQueue`) until Redis confirms it. A message that breaks the
   * contract is replaced by a `clear` and reported with `warn`.
   */
  publish(message: BusMessage): void {
    if (this.#closing !== undefined) return;
    const problem = messageProblem(message);
    if (problem === undefined) {
      this.#publisher.enqueue(encodeMessage(message), message.source);
      return;
    }
    this.#call('warn', [new CacheConfigError(`${problem}; published a clear instead`)]);
    const source =
      messageProblem({ action: BusAction.Clear, keys: [], source: message?.source }) === undefined
        ? message.source
        : UNKNOWN_SOURCE;
    this.#publisher.enqueue(encodeMessage({ action: BusAction.Clear, keys: [], source }), source);
  }

  /**
   * Stops reconnecting, tries once to publish what is queued (within `closeTimeoutMs`), and
   * closes both connections. No handler is called once it resolves. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#abortStart?.();
    await Promise.all([this.#subscription.close(this.#closeTimeoutMs), this.#publisher.close()]);
    this.#handlers = undefined;
  }
}

/**
 * Creates a Redis invalidation bus for the `bus` option of a `CacheClient`:
 * `new CacheClient({ backend, l1: { ttl: '10s' }, bus: createRedisBus({ url }) })`.
 * Throws `CacheConfigError` for bad options; opens no connection until the client starts it.
 */
export function createRedisBus(options: RedisBusOptions): RedisBus {
  return new RedisBus(options);
}

/**
 * The `BusModule` entry core loads for `bus: { url }` and `CACHE_BUS_URL`: a bus with the
 * default timing.
 */
export function createBusFromUrl(options: BusUrlOptions): RedisBus {
  if (typeof options !== 'object' || options === null) {
    throw new CacheConfigError('createBusFromUrl needs { url, channel? }');
  }
  return new RedisBus({ url: options.url, channel: options.channel });
}
