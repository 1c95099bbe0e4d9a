/**
 * The operations `@stowage/core` traces, one `node:diagnostics_channel` tracing channel each,
 * named `stowage:<operation>`. Kept here rather than imported from core so this package has no
 * runtime dependency on it: channels are process-wide by name, so whichever copy of core a
 * service loads (ESM or CommonJS, hoisted or nested) publishes on the channels subscribed here.
 * A test checks the list against core's `TRACED_OPERATIONS`.
 */
export const INSTRUMENTED_OPERATIONS = [
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

/** One of {@link INSTRUMENTED_OPERATIONS}. */
export type InstrumentedOperation = (typeof INSTRUMENTED_OPERATIONS)[number];

/**
 * What this package reads of core's `CacheTraceContext`, by shape: the fields it needs and no
 * more, so an older or newer core that adds fields still fits. A test checks core's type against
 * it. `server` is optional because only newer cores report it.
 */
export interface TraceContextLike {
  /** The traced operation. */
  readonly operation: string;
  /** The backend's name (`memory`, `memcached`, `redis`, or a custom backend's). */
  readonly backend: string;
  /** `host:port` of the server holding the key, when the backend reports it. */
  readonly server?: string | undefined;
  /** Scope level of the client (`service`, `stack`, `session`); `undefined` for the root. */
  readonly level: string | undefined;
  /** How many keys the call concerns. */
  readonly keyCount: number;
  /** The full key, only when the client opted in with `traceKeys`. */
  readonly key: string | undefined;
  /** For `factory`: the context of the `getOrSet` it runs for. */
  readonly parent: object | undefined;
  /** How the call ended, set before `asyncEnd`. */
  readonly outcome: string | undefined;
  /** Stored bytes read, in bytes, where the call measured them. */
  readonly bytesIn: number | undefined;
  /** Stored bytes written, in bytes, where the call measured them. */
  readonly bytesOut: number | undefined;
  /** For `getMany`: how many of its keys were found (cores before it was added leave it out). */
  readonly hitCount?: number | undefined;
  /** For `getOrSet`: whether it waited for another caller's lease. */
  readonly leaseWaited: boolean;
  /** Set by `diagnostics_channel` on `error`: what the call threw. */
  readonly error?: unknown;
}

/**
 * Whether a published message looks like a Stowage trace context. Anyone can publish on a
 * channel by name, and a subscriber that throws surfaces as an uncaught exception in the
 * publisher's process, so a message of the wrong shape is ignored rather than trusted.
 */
export function isTraceContext(message: unknown): message is TraceContextLike {
  if (typeof message !== 'object' || message === null) return false;
  const candidate = message as { operation?: unknown; backend?: unknown };
  return typeof candidate.operation === 'string' && typeof candidate.backend === 'string';
}
