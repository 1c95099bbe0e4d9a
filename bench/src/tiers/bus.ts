// The Stowage bus the tiers bench uses: `@stowage/bus-redis` when it can be loaded (see
// `BUS_MODULES`), otherwise a minimal stand-in over ioredis pub/sub with the same contract (one
// publisher connection, one subscriber connection, JSON messages). The report says which ran.
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
 * Where `@stowage/bus-redis` is looked for: as a dependency of the bench, then as the built
 * workspace package next to it (`packages/bus-redis/dist`, three levels up from both
 * `src/tiers/` and `dist/tiers/`), so the bench runs before it lists the package in its
 * dependencies. Both resolve `@stowage/core` to the same files, so the client accepts the bus.
 */
const BUS_MODULES: readonly string[] = [
  '@stowage/bus-redis',
  new URL('../../../packages/bus-redis/dist/index.mjs', import.meta.url).href,
];

/**
 * The package's bus when `@stowage/bus-redis` can be loaded, else the stand-in. The specifiers
 * are values, not literals, so the bench type-checks and builds without the package.
 */
export async function busFactory(url: string): Promise<BusFactory> {
  for (const specifier of BUS_MODULES) {
    try {
      const module = (await import(specifier)) as Partial<BusRedisModule>;
      const create = module.createRedisBus;
      if (typeof create === 'function') {
        return { kind: BusKind.Package, create: () => create({ url, channel: CHANNEL }) };
      }
    } catch {
      // Not installed or not built: try the next place, then the stand-in.
    }
  }
  return { kind: BusKind.StandIn, create: () => new StandInRedisBus(url) };
}
