import { tracingChannel, type TracingChannel } from 'node:diagnostics_channel';

/**
 * What Stowage traces: every client operation, plus `factory` (a `getOrSet` factory run, its
 * `parent` the `getOrSet`). Each has a `node:diagnostics_channel` tracing channel named
 * `stowage:<operation>` (`stowage:get`, `stowage:getOrSet`, `stowage:factory`, …).
 */
export const TRACED_OPERATIONS = [
  'get',
  'getMany',
  'getEntry',
  'set',
  'setMany',
  'add',
  'touch',
  'incr',
  'decr',
  'delete',
  'deleteMany',
  'flushAll',
  'bustRecent',
  'invalidateTags',
  'getOrSet',
  'factory',
] as const;

/** One of {@link TRACED_OPERATIONS}. */
export type TracedOperation = (typeof TRACED_OPERATIONS)[number];

/** How a traced call ended, set before its `end`/`asyncEnd` event. */
export type TraceOutcome =
  /** A read found a value (for `getMany`: at least one). */
  | 'hit'
  /** A read found nothing (or nothing it could use). */
  | 'miss'
  /** `getOrSet` / `getEntry` answered a value past its `ttl` (grace). */
  | 'stale'
  /** `getOrSet` / `getEntry` found a remembered "not found". */
  | 'notFound'
  /** A write, delete or counter did what it was asked (`true`, a number, …). */
  | 'ok'
  /** A write was refused, a delete or touch found no key, a counter missed. */
  | 'noop'
  /** The call threw (the `error` event carries the error). */
  | 'error';

/**
 * The object every `stowage:*` tracing channel publishes, the same one for a call's `start`,
 * `end`, `asyncStart`, `asyncEnd` and `error` events, so a subscriber can keep its span on it.
 * Node adds `result` (what the call resolved — in-process subscribers only) and `error`.
 */
export interface CacheTraceContext {
  /** The traced operation. */
  readonly operation: TracedOperation;
  /** The backend's name (`memory`, `memcached`, `redis`, or your backend's). */
  readonly backend: string;
  /** The server (`host:port`) of a one-key call, where the backend knows it (`serverFor`). */
  readonly server: string | undefined;
  /** The scope level of the client (`service`, `stack`, `session`), `undefined` for the root. */
  readonly level: string | undefined;
  /** How many keys the call concerns (`getMany`, `setMany`, `deleteMany`: the list's length). */
  readonly keyCount: number;
  /**
   * The full key of a one-key call, only when the client has `traceKeys: true` (keys may hold
   * user ids); `undefined` otherwise.
   */
  readonly key: string | undefined;
  /** For `factory`: the `getOrSet` it runs for; otherwise `undefined`. */
  readonly parent: CacheTraceContext | undefined;
  /** How the call ended; set before `end`/`asyncEnd`. */
  outcome: TraceOutcome | undefined;
  /** Stored bytes read (after compression and encryption), where the call measured them. */
  bytesIn: number | undefined;
  /** Stored bytes written, where the call measured them. */
  bytesOut: number | undefined;
  /** For `getMany`: how many of the keys were found. */
  hitCount: number | undefined;
  /** For `getOrSet`: whether it waited for another caller's lease. */
  leaseWaited: boolean;
  /** Set by `diagnostics_channel` on `asyncEnd`: what the call resolved. */
  result?: unknown;
  /** Set by `diagnostics_channel` on `error`: what the call threw. */
  error?: unknown;
}

function channelsOf(): Readonly<
  Record<TracedOperation, TracingChannel<unknown, CacheTraceContext>>
> {
  const channels = {} as Record<TracedOperation, TracingChannel<unknown, CacheTraceContext>>;
  for (const operation of TRACED_OPERATIONS) {
    channels[operation] = tracingChannel<unknown, CacheTraceContext>(`stowage:${operation}`);
  }
  return channels;
}

/**
 * The tracing channels by operation. `diagnostics_channel` keeps one channel per name for the
 * whole process, so two copies of this package (ESM and CommonJS) publish on the same channels.
 */
export const CACHE_CHANNELS: Readonly<
  Record<TracedOperation, TracingChannel<unknown, CacheTraceContext>>
> = channelsOf();
