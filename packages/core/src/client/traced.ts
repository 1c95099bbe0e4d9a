import type { CacheBackend } from '../backend/contract.js';
import type { BackendPort } from '../backend/port.js';
import {
  CACHE_CHANNELS,
  type CacheTraceContext,
  type TraceOutcome,
  type TracedOperation,
} from '../tracing.js';

/** What a client tells its traces: where calls go and how to name their keys. */
export interface TraceScope {
  /** The client's port (the backend, and the bytes the hot paths measure). */
  readonly port: BackendPort;
  /** The client's scope level, `undefined` for a root client. */
  readonly level: string | undefined;
  /** Whether traces carry full keys (`traceKeys`). */
  readonly traceKeys: boolean;
  /** The full key of a caller key; may throw for a bad key (the call will say why). */
  readonly fullKey: (key: string) => string;
}

/** The outcome of a call that resolves whether it did what it was asked. */
export function doneOrNot(done: boolean): TraceOutcome {
  return done ? 'ok' : 'noop';
}

/** Where `backend` keeps `fullKey`, for a trace; `undefined` when it cannot say. */
function serverOf(backend: CacheBackend, fullKey: string): string | undefined {
  try {
    return backend.serverFor?.(fullKey);
  } catch {
    return undefined;
  }
}

/** The full key of `key` for a trace, or `undefined` when the key is bad. */
function traceKey(scope: TraceScope, key: string): string | undefined {
  try {
    return scope.fullKey(key);
  } catch {
    return undefined;
  }
}

/**
 * Runs `run` inside the `stowage:<operation>` tracing channel with a fresh
 * {@link CacheTraceContext}; the port measures bytes for the backend calls `run` makes before it
 * first yields. `outcome` names the result unless `run` set it already.
 */
export function traceCall<R>(
  scope: TraceScope,
  call: {
    readonly operation: TracedOperation;
    readonly key: string | undefined;
    readonly keyCount: number;
  },
  run: (trace: CacheTraceContext) => Promise<R>,
  outcome?: (result: R) => TraceOutcome,
): Promise<R> {
  const { port } = scope;
  // Mapped again only when a trace shows it (traceKeys) or a backend places it (serverFor).
  const fullKey =
    call.key !== undefined && (scope.traceKeys || port.backend.serverFor !== undefined)
      ? traceKey(scope, call.key)
      : undefined;
  const trace: CacheTraceContext = {
    operation: call.operation,
    backend: port.name,
    server: fullKey === undefined ? undefined : serverOf(port.backend, fullKey),
    level: scope.level,
    keyCount: call.keyCount,
    key: scope.traceKeys ? fullKey : undefined,
    parent: undefined,
    outcome: undefined,
    bytesIn: undefined,
    bytesOut: undefined,
    hitCount: undefined,
    leaseWaited: false,
  };
  return CACHE_CHANNELS[call.operation].tracePromise(() => {
    port.trace = trace;
    let pending: Promise<R>;
    try {
      pending = run(trace);
    } finally {
      port.trace = undefined;
    }
    return pending.then(
      (result) => {
        if (trace.outcome === undefined && outcome !== undefined) trace.outcome = outcome(result);
        return result;
      },
      (error: unknown) => {
        trace.outcome = 'error';
        throw error;
      },
    );
  }, trace);
}
