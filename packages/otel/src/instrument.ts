import { tracingChannel, type TracingChannelSubscribers } from 'node:diagnostics_channel';
import {
  context as otelContext,
  diag,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type MeterProvider,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  commonAttributes,
  endAttributes,
  errorTypeOf,
  startAttributes,
  type AttributeSettings,
} from './attributes.js';
import { CacheMetrics } from './metrics.js';
import { STOWAGE_ATTRIBUTES as A } from './semconv.js';
import { isTraceContext, INSTRUMENTED_OPERATIONS, type TraceContextLike } from './trace-context.js';

/** Name of the tracer and the meter this package creates (its instrumentation scope). */
export const INSTRUMENTATION_SCOPE = '@stowage/otel';

/** Options of {@link instrumentStowage}. */
export interface StowageInstrumentationOptions {
  /**
   * Where spans go.
   * @default the global tracer provider (`trace.getTracerProvider()`), which follows a provider
   * registered later
   */
  readonly tracerProvider?: TracerProvider | undefined;
  /**
   * Where metrics go. Read once, at install: register the SDK's global provider first, or pass
   * it here.
   * @default the global meter provider (`metrics.getMeterProvider()`)
   */
  readonly meterProvider?: MeterProvider | undefined;
  /**
   * `server.address` for calls whose backend does not report its server, except in-process
   * backends (`memory`), which have none. A process with one cache server sets it once.
   * @default none (no `server.address` unless the backend reports it)
   */
  readonly serverAddress?: string | undefined;
  /**
   * `server.port` to go with `serverAddress` (1–65535); ignored without it.
   * @default none
   */
  readonly serverPort?: number | undefined;
  /**
   * `db.system.name` by backend name, over the built-in `{ memcached: 'memcached', redis:
   * 'redis' }`; any other backend gets `stowage.<name>` (`stowage.memory`).
   * @default {}
   */
  readonly dbSystemNames?: Readonly<Record<string, string>> | undefined;
}

/** What {@link instrumentStowage} returns. */
export interface StowageInstrumentation {
  /**
   * Unsubscribes from every `stowage:*` channel. Nothing is recorded afterwards, not even the
   * end of a call that started before (its span is dropped unended). Idempotent.
   */
  uninstall(): void;
}

/** A call in flight: its span and what its metrics need when it ends. */
interface Call {
  readonly span: Span;
  /** `performance.now()` at `start`, in milliseconds. */
  readonly startedAt: number;
  /** {@link commonAttributes} of the call, for its metric points. */
  readonly attributes: Attributes;
  /**
   * Whether the context already had a `result` at `start` (a background factory's context is
   * copied from its settled getOrSet's, `result` included), so `end` cannot read one as its own.
   */
  readonly hadResult: boolean;
  /** `error.type` once the `error` event fired. */
  errorType: string | undefined;
  /** Set when the span ended, so a late or repeated event records nothing twice. */
  ended: boolean;
}

function settingsOf(options: StowageInstrumentationOptions): AttributeSettings {
  const { serverAddress, serverPort } = options;
  if (serverAddress !== undefined && (typeof serverAddress !== 'string' || serverAddress === '')) {
    throw new TypeError('@stowage/otel: `serverAddress` must be a non-empty string');
  }
  if (
    serverPort !== undefined &&
    (!Number.isInteger(serverPort) || serverPort < 1 || serverPort > 65_535)
  ) {
    throw new TypeError('@stowage/otel: `serverPort` must be an integer from 1 to 65535');
  }
  return {
    systemNames: { ...options.dbSystemNames },
    server: serverAddress === undefined ? undefined : { address: serverAddress, port: serverPort },
  };
}

/**
 * Subscribes to `@stowage/core`'s tracing channels and turns every cache call into a span and
 * metric points. Spans and metrics of the calls of every client in the process, from any copy of
 * core, go to the given providers until {@link StowageInstrumentation.uninstall}.
 *
 * @throws TypeError when `serverAddress` or `serverPort` is malformed.
 */
export function instrumentStowage(
  options: StowageInstrumentationOptions = {},
): StowageInstrumentation {
  return new Instrumentation(options);
}

class Instrumentation implements StowageInstrumentation {
  readonly #tracer: Tracer;
  readonly #metrics: CacheMetrics;
  readonly #settings: AttributeSettings;
  /** Keyed by the context object core publishes: the same one on every event of a call. */
  readonly #calls = new WeakMap<object, Call>();
  readonly #unsubscribe: Array<() => void> = [];
  #installed = true;

  constructor(options: StowageInstrumentationOptions) {
    this.#settings = settingsOf(options);
    const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
    const meterProvider = options.meterProvider ?? metrics.getMeterProvider();
    this.#tracer = tracerProvider.getTracer(INSTRUMENTATION_SCOPE);
    this.#metrics = new CacheMetrics(meterProvider.getMeter(INSTRUMENTATION_SCOPE));
    const handlers: TracingChannelSubscribers<object> = {
      start: (message) => this.#guard(message, (call) => this.#start(call)),
      end: (message) => this.#guard(message, (call) => this.#end(call)),
      asyncStart: () => {},
      asyncEnd: (message) => this.#guard(message, (call) => this.#finish(call)),
      error: (message) => this.#guard(message, (call) => this.#error(call)),
    };
    for (const operation of INSTRUMENTED_OPERATIONS) {
      // By name, not through core's CACHE_CHANNELS: every copy of core publishes on these.
      const channel = tracingChannel<unknown, object>(`stowage:${operation}`);
      channel.subscribe(handlers);
      this.#unsubscribe.push(() => channel.unsubscribe(handlers));
    }
  }

  uninstall(): void {
    if (!this.#installed) return;
    this.#installed = false;
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  /**
   * Runs a handler for a Stowage context while installed. A subscriber that throws would surface
   * as an uncaught exception in the caller's process, so nothing escapes: it goes to OTel's diag.
   */
  #guard(message: unknown, handle: (context: TraceContextLike) => void): void {
    if (!this.#installed || !isTraceContext(message)) return;
    try {
      handle(message);
    } catch (error) {
      diag.error('@stowage/otel: a tracing channel handler failed', error);
    }
  }

  #start(context: TraceContextLike): void {
    const attributes = commonAttributes(context, this.#settings);
    const factory = context.operation === 'factory';
    const span = this.#tracer.startSpan(
      `stowage ${context.operation}`,
      {
        // A factory run is the caller's own work, not a database call: INTERNAL, and without
        // db.* attributes so it is not counted as one.
        kind: factory ? SpanKind.INTERNAL : SpanKind.CLIENT,
        attributes: factory
          ? { ...startAttributes(context), [A.backend]: context.backend }
          : { ...attributes, ...startAttributes(context) },
      },
      this.#parentOf(context),
    );
    this.#calls.set(context, {
      span,
      startedAt: performance.now(),
      attributes,
      hadResult: Object.hasOwn(context, 'result'),
      errorType: undefined,
      ended: false,
    });
  }

  /**
   * The parent of a call's span: its parent call's span (a factory's `getOrSet`, which may have
   * ended already when the factory refreshes in the background), else the caller's active span.
   */
  #parentOf(context: TraceContextLike): Context {
    const active = otelContext.active();
    if (context.parent === undefined) return active;
    const parent = this.#calls.get(context.parent);
    return parent === undefined ? active : trace.setSpan(active, parent.span);
  }

  #error(context: TraceContextLike): void {
    const call = this.#calls.get(context);
    if (call === undefined || call.ended) return;
    const error = context.error;
    call.errorType = errorTypeOf(error);
    call.span.recordException(error instanceof Error ? error : String(error));
    call.span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : undefined,
    });
    call.span.setAttribute(A.errorType, call.errorType);
  }

  /**
   * `end` fires when the traced function returns. Core's calls are promises (`tracePromise`):
   * they settle later, and `asyncEnd` finishes them. A call traced with `traceSync`, or one that
   * threw synchronously, gets no `asyncEnd`: Node set its `result` or published its `error`
   * before `end`, so it finishes here.
   */
  #end(context: TraceContextLike): void {
    const call = this.#calls.get(context);
    if (call === undefined) return;
    const returned = !call.hadResult && Object.hasOwn(context, 'result');
    if (returned || call.errorType !== undefined) this.#finish(context);
  }

  #finish(context: TraceContextLike): void {
    const call = this.#calls.get(context);
    if (call === undefined || call.ended) return;
    call.ended = true;
    const seconds = (performance.now() - call.startedAt) / 1000;
    call.span.setAttributes(endAttributes(context));
    call.span.end();
    this.#metrics.record({
      context,
      seconds,
      attributes: call.attributes,
      errorType: call.errorType,
    });
  }
}
