// The Stowage bus the tiers bench uses: `@stowage/bus-redis` on the run's Redis, on a channel of
// its own, with the package's defaults (heartbeat, timeouts, queue).
import type { CacheBus } from '@stowage/core';
import { createRedisBus } from '@stowage/bus-redis';

/** The pub/sub channel of every bus in a tiers run (processes A and B share it). */
export const BUS_CHANNEL = 'stowage:bench-tiers';

/** Makes a fresh bus (one per client: a bus is started once) on the run's Redis. */
export interface BusFactory {
  /** Which implementation `create` builds, for the report. */
  readonly kind: string;
  /** A new, unstarted bus. */
  readonly create: () => CacheBus;
}

/** Buses of `@stowage/bus-redis` connecting to `url`. */
export function busFactory(url: string): BusFactory {
  return {
    kind: '@stowage/bus-redis',
    create: () => createRedisBus({ url, channel: BUS_CHANNEL }),
  };
}
