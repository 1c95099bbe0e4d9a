// The Stowage bus the tiers bench uses: `@stowage/bus-redis` when it is installed next to the
// bench, otherwise a minimal stand-in over ioredis pub/sub with the same contract (one publisher
// connection, one subscriber connection, JSON messages). The report says which one ran.
import type { BusHandlers, BusMessage, CacheBus } from '@stowage/core';
import { Redis } from 'ioredis';

/** Which bus implementation a run used. */
export const BusKind = {
  /** `createRedisBus` from `@stowage/bus-redis`. */
  Package: '@stowage/bus-redis',
  /** {@link StandInRedisBus}: the package was not built yet. */
  StandIn: 'stand-in (ioredis pub/sub)',
} as const;

/** One of {@link BusKind}'s values. */
export type BusKind = (typeof BusKind)[keyof typeof BusKind];

/** Makes a fresh bus (one per client: a bus is started once) on the run's Redis. */
export interface BusFactory {
  /** Which implementation `create` builds. */
  readonly kind: BusKind;
  /** A new, unstarted bus. */
  readonly create: () => CacheBus;
}

const CHANNEL = 'stowage:bench-tiers';

/**
 * A bus over Redis pub/sub in the fewest lines that keep the contract the client relies on:
 * `live` once subscribed, `lost` when the subscriber drops, `publish` never throws. It neither
 * queues nor retries (the bench's Redis does not go away), which is what the real bus adds.
 */
export class StandInRedisBus implements CacheBus {
  readonly name = 'stand-in-redis-bus';
  readonly #url: string;
  #publisher: Redis | undefined;
  #subscriber: Redis | undefined;
  #handlers: BusHandlers | undefined;

  constructor(url: string) {
    this.#url = url;
  }

  async start(handlers: BusHandlers): Promise<void> {
    this.#handlers = handlers;
    this.#publisher = new Redis(this.#url, { maxRetriesPerRequest: 1 });
    const subscriber = new Redis(this.#url, { maxRetriesPerRequest: 1 });
    this.#subscriber = subscriber;
    subscriber.on('message', (_channel: string, text: string) => {
      try {
        handlers.message(JSON.parse(text) as BusMessage);
      } catch (error) {
        handlers.warn(error as Error);
      }
    });
    subscriber.on('close', () => handlers.lost(new Error('bus subscriber closed')));
    await subscriber.subscribe(CHANNEL);
    handlers.live();
  }

  publish(message: BusMessage): void {
    const publisher = this.#publisher;
    if (publisher === undefined) return;
    publisher.publish(CHANNEL, JSON.stringify(message)).catch((error: unknown) => {
      this.#handlers?.warn(error as Error);
    });
  }

  async close(): Promise<void> {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    subscriber?.removeAllListeners('close');
    await Promise.allSettled([subscriber?.quit(), this.#publisher?.quit()]);
  }
}

interface BusRedisModule {
  readonly createRedisBus: (options: { url: string; channel?: string }) => CacheBus;
}

/**
 * The package's bus when `@stowage/bus-redis` resolves from the bench, else the stand-in. The
 * specifier is a variable so the bench type-checks and builds before the package exists.
 */
export async function busFactory(url: string): Promise<BusFactory> {
  const specifier: string = '@stowage/bus-redis';
  try {
    const module = (await import(specifier)) as Partial<BusRedisModule>;
    const create = module.createRedisBus;
    if (typeof create === 'function') {
      return { kind: BusKind.Package, create: () => create({ url, channel: CHANNEL }) };
    }
  } catch {
    // Not installed or not built: fall through to the stand-in.
  }
  return { kind: BusKind.StandIn, create: () => new StandInRedisBus(url) };
}
