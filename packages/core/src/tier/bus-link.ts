import { randomBytes } from 'node:crypto';
import {
  BusAction,
  type BusModule,
  type BusUrlOptions,
  type CacheBus,
  type BusMessage,
} from '../bus/contract.js';
import { CacheConfigError } from '../errors.js';
import { loadModule } from '../load-package.js';

/** The package `bus: { url }` and `CACHE_BUS_URL` load. */
export const REDIS_BUS_PACKAGE = '@stowage/bus-redis';

/** Most keys in one published message; more are split over several. */
const MAX_KEYS_PER_MESSAGE = 500;
/** Most keys held while a bus given as `{ url }` is still loading; beyond, one `clear` is sent. */
const MAX_KEYS_BEFORE_START = 10_000;

/** The client's `bus` option: a bus, or where the Redis bus connects. */
export type BusOption = CacheBus | BusUrlOptions;

/** What the link tells the L1 behind it. */
export interface BusLinkEvents {
  /** Another process changed `keys`. */
  readonly drop: (keys: readonly string[]) => void;
  /**
   * Drop everything: another process cleared (`'clear'`), the subscription was lost (`'lost'`:
   * nothing was missed yet, but nothing kept may be served until it is back), or it is back after
   * a loss (`'resumed'`: messages may have been missed meanwhile).
   */
  readonly dropAll: (why: 'clear' | 'lost' | 'resumed') => void;
  /** Whether the L1 may serve and keep copies now. */
  readonly liveness: (live: boolean) => void;
  /** Something to report as a `bus` warning. */
  readonly warn: (error: Error) => void;
}

/** Whether `option` is a bus rather than `{ url }`. */
function isBus(option: BusOption): option is CacheBus {
  return typeof (option as Partial<CacheBus>).publish === 'function';
}

/**
 * Checks the client's `bus` option: a {@link CacheBus} (three methods) or `{ url, channel? }`.
 * Throws `CacheConfigError`.
 */
export function checkBusOption(option: unknown): BusOption | undefined {
  if (option === undefined) return undefined;
  if (typeof option !== 'object' || option === null) {
    throw new CacheConfigError('`bus` must be a bus (createRedisBus(…)) or { url }');
  }
  const bus = option as Partial<CacheBus> & Partial<BusUrlOptions>;
  if (typeof bus.publish === 'function') {
    if (typeof bus.start !== 'function' || typeof bus.close !== 'function') {
      throw new CacheConfigError('`bus` must have `start`, `publish` and `close` methods');
    }
    return bus as CacheBus;
  }
  if (typeof bus.url !== 'string' || bus.url === '') {
    throw new CacheConfigError('`bus` must be a bus (createRedisBus(…)) or { url: "redis://…" }');
  }
  return { url: bus.url, channel: bus.channel };
}

/**
 * Creates the Redis bus for `{ url }` with the package loaded the way core was (see
 * `loadPackage`). Rejects with `CacheConfigError` when `@stowage/bus-redis` is not installed.
 */
export async function busFromUrl(
  options: BusUrlOptions,
  load?: (packageName: string) => Promise<unknown>,
): Promise<CacheBus> {
  const module = (await loadModule(REDIS_BUS_PACKAGE, {
    load,
    why: '`bus: { url }`',
  })) as Partial<BusModule>;
  if (typeof module.createBusFromUrl !== 'function') {
    throw new CacheConfigError(`${REDIS_BUS_PACKAGE} does not export createBusFromUrl`);
  }
  return module.createBusFromUrl(options);
}

/**
 * One L1's end of the bus: starts it, turns its messages into drops (ignoring this L1's own),
 * reports whether the subscription is live, and publishes this process's changes — keys changed
 * in one tick go out as one message.
 */
export class BusLink {
  /** This L1's id on the bus: its own messages come back and are ignored. */
  readonly source: string = randomBytes(12).toString('base64url');
  readonly #events: BusLinkEvents;
  #bus: CacheBus | undefined;
  #queued: string[] = [];
  #scheduled = false;
  /**
   * A `clear` goes out before any queued key: a flush or clear ran here, or changes overflowed
   * while the bus was loading.
   */
  #clearPending = false;
  #closed = false;
  readonly #started: Promise<void>;

  constructor(option: BusOption, events: BusLinkEvents) {
    this.#events = events;
    // A bus given as an instance takes messages at once (it queues them until it is connected).
    if (isBus(option)) this.#bus = option;
    // Started after the constructor returns: the handlers reach a client that is fully built.
    this.#started = Promise.resolve().then(() => this.#start(option));
  }

  async #start(option: BusOption): Promise<void> {
    const events = this.#events;
    try {
      const bus = isBus(option) ? option : await busFromUrl(option);
      if (this.#closed) {
        if (!isBus(option)) await bus.close();
        return;
      }
      this.#bus = bus;
      this.#flush(); // what changed while the package was loading
      await bus.start({
        message: (message) => this.#received(message),
        lost: (error) => {
          events.liveness(false);
          events.dropAll('lost');
          events.warn(error);
        },
        live: () => {
          // Messages published while the subscription was down are lost: nothing kept from then
          // may be served.
          events.dropAll('resumed');
          if (!this.#closed) events.liveness(true);
        },
        warn: (error) => events.warn(error),
      });
    } catch (error) {
      events.warn(
        error instanceof Error ? error : new Error(`the bus did not start: ${String(error)}`),
      );
    }
  }

  #received(message: BusMessage): void {
    if (message.source === this.source || this.#closed) return;
    if (message.action === BusAction.Clear) this.#events.dropAll('clear');
    else if (message.action === BusAction.Delete) this.#events.drop(message.keys);
  }

  /** Tells the other processes that `key` changed; sent with the other keys of this tick. */
  changed(key: string): void {
    this.#queued.push(key);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#flush());
  }

  /** Tells the other processes that everything changed (a flush or clear), after what is queued. */
  cleared(): void {
    this.#queued = [];
    this.#clearPending = true;
    this.#flush();
  }

  #flush(): void {
    this.#scheduled = false;
    const bus = this.#bus;
    if (bus === undefined) {
      // Still loading: keep the keys (other processes may hold copies of them), within a bound.
      if (this.#queued.length > MAX_KEYS_BEFORE_START) {
        this.#queued = [];
        this.#clearPending = true;
      }
      return;
    }
    if (this.#clearPending) {
      this.#clearPending = false;
      bus.publish({ action: BusAction.Clear, keys: [], source: this.source });
    }
    const keys = this.#queued;
    if (keys.length === 0) return;
    this.#queued = [];
    for (let from = 0; from < keys.length; from += MAX_KEYS_PER_MESSAGE) {
      const part =
        from === 0 && keys.length <= MAX_KEYS_PER_MESSAGE
          ? keys
          : keys.slice(from, from + MAX_KEYS_PER_MESSAGE);
      bus.publish({ action: BusAction.Delete, keys: part, source: this.source });
    }
  }

  /** Sends what is queued and closes the bus. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#events.liveness(false);
    await this.#started;
    await this.#bus?.close();
  }
}
