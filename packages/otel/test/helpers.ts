// An OpenTelemetry SDK in memory for the tests: spans in an InMemorySpanExporter, metrics read on
// demand, and the AsyncLocalStorage context manager a service would register, so "the caller's
// active span" means what it means in production.
import { context, type Attributes, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  DataPointType,
  MeterProvider,
  MetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { instrumentStowage, type StowageInstrumentationOptions } from '../src/index.js';

/** A metric reader the test collects from when it wants (cumulative temporality). */
class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** One SDK: providers for `instrumentStowage`, and what reached them. */
export interface Telemetry {
  readonly exporter: InMemorySpanExporter;
  readonly tracerProvider: BasicTracerProvider;
  readonly meterProvider: MeterProvider;
  /** Finished spans so far. */
  spans(): ReadableSpan[];
  /** Every metric collected now, by instrument name. */
  metrics(): Promise<Map<string, MetricData>>;
}

/** Creates an in-memory SDK (not registered globally: the tests pass its providers). */
export function createTelemetry(): Telemetry {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    exporter,
    tracerProvider,
    meterProvider,
    spans: () => exporter.getFinishedSpans(),
    async metrics() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
      const byName = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
      }
      return byName;
    },
  };
}

/**
 * Registers the AsyncLocalStorage context manager for the file, as `NodeSDK` does, and resets it
 * afterwards.
 */
export function useContextManager(): void {
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => {
    context.setGlobalContextManager(manager.enable());
  });
  afterAll(() => {
    manager.disable();
    context.disable();
  });
}

/** Options of {@link useInstrumentation}: everything but the providers, which it creates. */
export type InstallOptions = Omit<
  StowageInstrumentationOptions,
  'tracerProvider' | 'meterProvider'
>;

/**
 * A fresh SDK and a fresh `instrumentStowage` per test, uninstalled after it, so one test's
 * subscriptions never record another's calls. `options` may be a function, read at each install
 * (a server's port is known only once it started).
 */
export function useInstrumentation(options: InstallOptions | (() => InstallOptions) = {}): {
  readonly current: Telemetry;
  readonly uninstall: () => void;
} {
  const state = {} as { current: Telemetry; uninstall: () => void };
  beforeEach(() => {
    state.current = createTelemetry();
    const installed = instrumentStowage({
      ...(typeof options === 'function' ? options() : options),
      tracerProvider: state.current.tracerProvider,
      meterProvider: state.current.meterProvider,
    });
    state.uninstall = () => installed.uninstall();
  });
  afterEach(() => state.uninstall());
  return state;
}

/**
 * Runs `body` inside an active `request` span of `telemetry`'s provider (the caller's span, as an
 * HTTP instrumentation would start it) and returns that span.
 */
export async function inRequest(telemetry: Telemetry, body: () => Promise<unknown>): Promise<Span> {
  const tracer = telemetry.tracerProvider.getTracer('test');
  return tracer.startActiveSpan('request', async (span) => {
    try {
      await body();
    } finally {
      span.end();
    }
    return span;
  });
}

/** The spans named `stowage <operation>`, in the order they ended. */
export function stowageSpans(telemetry: Telemetry): ReadableSpan[] {
  return telemetry.spans().filter((span) => span.name.startsWith('stowage '));
}

/** The parent span id of a finished span (SDK 2 keeps it in `parentSpanContext`). */
export function parentIdOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** Sum of a counter's points whose attributes include `match`. */
export function counterSum(
  metrics: Map<string, MetricData>,
  name: string,
  match: Attributes = {},
): number {
  const metric = metrics.get(name);
  if (metric === undefined) return 0;
  let total = 0;
  for (const point of metric.dataPoints) {
    if (matches(point.attributes, match)) total += point.value as number;
  }
  return total;
}

/** Count and sum of a histogram's points whose attributes include `match`. */
export function histogramTotals(
  metrics: Map<string, MetricData>,
  name: string,
  match: Attributes = {},
): { count: number; sum: number } {
  const metric = metrics.get(name);
  if (metric === undefined) return { count: 0, sum: 0 };
  if (metric.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${name} is no histogram`);
  let count = 0;
  let sum = 0;
  for (const point of metric.dataPoints) {
    if (!matches(point.attributes, match)) continue;
    count += point.value.count;
    sum += point.value.sum ?? 0;
  }
  return { count, sum };
}

function matches(attributes: Attributes, match: Attributes): boolean {
  return Object.entries(match).every(([key, value]) => attributes[key] === value);
}

/** A manual clock in epoch milliseconds, shared by the client (`now`) and the memory backend. */
export function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_700_000_000_000;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}
