/**
 * The invalidation bus contract: how processes that each keep an in-process L1 copy of a remote
 * cache tell each other to drop copies. `@stowage/bus-redis` (Redis pub/sub) is the reference
 * implementation; a bus over NATS, Postgres `LISTEN`/`NOTIFY` or anything else implements the same
 * three methods.
 *
 * The client's rule is "when in doubt, delete": a process serves nothing from its L1 unless its
 * subscription is live, and it empties its L1 whenever the subscription was lost, because
 * messages published meanwhile may never reach it. A bus therefore needs no durable queue on the
 * receiving side; it must only say, truthfully and promptly, when its subscription stops and
 * starts again.
 */

/** What a bus message asks every other process to do with its L1. */
export const BusAction = {
  /** Drop the L1 copies of `keys` (full keys): they were written, deleted, touched or counted. */
  Delete: 'delete',
  /** Drop every L1 copy: a flush or clear ran. `keys` is empty. */
  Clear: 'clear',
} as const;

/** One of {@link BusAction}'s values. */
export type BusAction = (typeof BusAction)[keyof typeof BusAction];

/** One invalidation, as published and as delivered. */
export interface BusMessage {
  /** What to drop; see {@link BusAction}. */
  readonly action: BusAction;
  /** Full keys (prefixed and scoped, exactly as stored in the backend); empty for `clear`. */
  readonly keys: readonly string[];
  /**
   * Who published it: an id unique to the publishing L1 (random, per client). Delivered back to
   * the publisher too; it ignores its own messages. Any non-empty string of at most 64 UTF-16
   * code units.
   */
  readonly source: string;
}

/** What a bus reports to the L1 that started it. Every callback must return quickly and never throw. */
export interface BusHandlers {
  /** A message was delivered (including this process's own; the receiver filters by `source`). */
  readonly message: (message: BusMessage) => void;
  /**
   * The subscription stopped: from now until {@link BusHandlers.live} is called again, messages
   * may be lost. Called once per loss (not again until the bus was live in between).
   */
  readonly lost: (error: Error) => void;
  /**
   * The subscription is live: every message published from now on will be delivered until
   * {@link BusHandlers.lost} is called. Called when `start()` succeeds and after every recovery.
   */
  readonly live: () => void;
  /**
   * Something the bus absorbed without losing the subscription: a malformed message it dropped,
   * a publish it will retry, a queue that overflowed. The client turns it into a `warning` event
   * of kind `'bus'`.
   */
  readonly warn: (error: Error) => void;
}

/**
 * An invalidation bus. Rules every implementation keeps (`@stowage/bus-redis`'s tests check each
 * for the Redis bus):
 * - `publish` never throws and never blocks the caller: it sends at once when it can, and
 *   otherwise queues the message (bounded) and retries until it was handed to the transport or
 *   the bus closes; messages from one process are sent in the order they were published;
 * - when the queue overflows, the bus drops queued messages and publishes one `clear` in their
 *   place once it can (every other L1 is emptied: nothing is silently lost);
 * - `lost`/`live` are reported truthfully: no message published while the subscription is live
 *   may be missed without a `lost` before the next `live`;
 * - `close()` stops reconnecting, tries once to send what is queued (bounded by its own deadline),
 *   and settles; handlers are not called after it resolves.
 */
export interface CacheBus {
  /** Short name used in warnings (`redis-bus`). */
  readonly name: string;
  /**
   * Connects and subscribes, and keeps the subscription alive (reconnecting) until `close()`.
   * Resolves once the first subscription is live (after calling `handlers.live`); rejects with a
   * `CacheBackendError` when it cannot be made within the bus's connect deadline — the bus keeps
   * trying in the background and reports `live` when it succeeds. Called at most once.
   */
  start(handlers: BusHandlers): Promise<void>;
  /** Publishes one message to every subscriber, this process included; see the rules above. */
  publish(message: BusMessage): void;
  /** Stops the bus; see the rules above. Idempotent. */
  close(): Promise<void>;
}

/** Options every bus factory created from a URL accepts (`@stowage/bus-redis`'s `createRedisBus`). */
export interface BusUrlOptions {
  /** Where the bus connects (`redis://127.0.0.1:6379`). */
  readonly url: string;
  /**
   * The pub/sub channel. Processes that share a cache must share a channel; a different cache on
   * the same server may share it too (keys are full keys, so a foreign message drops nothing of
   * yours unless you hold the same key).
   * @default 'stowage:bus'
   */
  readonly channel?: string | undefined;
}

/** What a bus package exports for `bus: { url }` and `CACHE_BUS_URL`. */
export interface BusModule {
  /** Creates a bus from a URL (and its options). Must not open connections: `start()` does. */
  readonly createBusFromUrl: (options: BusUrlOptions) => CacheBus;
}
