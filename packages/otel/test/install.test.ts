// Installing and uninstalling: channels subscribed by name (any copy of core), options for the
// server and db.system.name, nothing recorded after uninstall (not even the end of a call in
// flight), and the names this package emits checked against core and the semantic conventions.
import { tracingChannel } from 'node:diagnostics_channel';
import { SpanStatusCode } from '@opentelemetry/api';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import {
  ATTR_DB_OPERATION_BATCH_SIZE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  METRIC_DB_CLIENT_OPERATION_DURATION,
} from '@opentelemetry/semantic-conventions';
import {
  DB_SYSTEM_NAME_VALUE_MEMCACHED,
  DB_SYSTEM_NAME_VALUE_REDIS,
} from '@opentelemetry/semantic-conventions/incubating';
import { createMemoryBackend } from '@stowage/backend-memory';
import {
  CACHE_CHANNELS,
  CacheClient,
  TRACED_OPERATIONS,
  type CacheTraceContext,
} from '@stowage/core';
import { RecordingBackend } from '@stowage/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  INSTRUMENTED_OPERATIONS,
  instrumentStowage,
  STOWAGE_ATTRIBUTES as A,
  STOWAGE_METRICS,
  type StowageInstrumentation,
} from '../src/index.js';
import { WELL_KNOWN_SYSTEMS } from '../src/attributes.js';
import type { TraceContextLike } from '../src/trace-context.js';
import { createTelemetry, stowageSpans, useContextManager, type Telemetry } from './helpers.js';

useContextManager();

const installs: StowageInstrumentation[] = [];
afterEach(() => {
  for (const installed of installs.splice(0)) installed.uninstall();
});

function install(options: Parameters<typeof instrumentStowage>[0] = {}): Telemetry {
  const telemetry = createTelemetry();
  installs.push(
    instrumentStowage({
      ...options,
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
    }),
  );
  return telemetry;
}

/** Every metric point as name, attributes and value (times left out: collection moves them). */
function pointsOf(metrics: Map<string, MetricData>): unknown[] {
  return [...metrics.values()].flatMap((metric) =>
    metric.dataPoints.map((point) => [metric.descriptor.name, point.attributes, point.value]),
  );
}

/** A context as some copy of core would publish it. */
function handMade(fields: Partial<TraceContextLike> = {}): TraceContextLike {
  return {
    operation: 'get',
    backend: 'redis',
    level: undefined,
    keyCount: 1,
    key: undefined,
    parent: undefined,
    outcome: undefined,
    bytesIn: undefined,
    bytesOut: undefined,
    leaseWaited: false,
    ...fields,
  };
}

describe('instrumentStowage', () => {
  it('subscribes to exactly the channels core publishes on', () => {
    expect([...INSTRUMENTED_OPERATIONS].sort()).toEqual([...TRACED_OPERATIONS].sort());
    // Core's context must keep fitting the shape read here (checked by tsc on this file).
    const fits: TraceContextLike = {} as CacheTraceContext;
    expect(fits).toBeDefined();
    install();
    for (const operation of TRACED_OPERATIONS) {
      expect(CACHE_CHANNELS[operation].hasSubscribers, operation).toBe(true);
    }
  });

  it('names attributes and the duration metric as the semantic conventions do', () => {
    expect(A.dbSystemName).toBe(ATTR_DB_SYSTEM_NAME);
    expect(A.dbOperationName).toBe(ATTR_DB_OPERATION_NAME);
    expect(A.dbOperationBatchSize).toBe(ATTR_DB_OPERATION_BATCH_SIZE);
    expect(A.serverAddress).toBe(ATTR_SERVER_ADDRESS);
    expect(A.serverPort).toBe(ATTR_SERVER_PORT);
    expect(A.errorType).toBe(ATTR_ERROR_TYPE);
    expect(STOWAGE_METRICS.operationDuration).toBe(METRIC_DB_CLIENT_OPERATION_DURATION);
    expect(WELL_KNOWN_SYSTEMS).toEqual({
      memcached: DB_SYSTEM_NAME_VALUE_MEMCACHED,
      redis: DB_SYSTEM_NAME_VALUE_REDIS,
    });
  });

  it('sets server.* from the options for remote backends, never for memory', async () => {
    const telemetry = install({
      serverAddress: 'cache.internal',
      serverPort: 11211,
      dbSystemNames: { recording: 'acme.kv' },
    });
    await new CacheClient({ backend: createMemoryBackend() }).get('k');
    await new CacheClient({ backend: new RecordingBackend() }).get('k');
    const [memory, remote] = stowageSpans(telemetry);
    expect(memory?.attributes[A.serverAddress]).toBeUndefined();
    expect(memory?.attributes[A.dbSystemName]).toBe('stowage.memory');
    expect(remote?.attributes).toMatchObject({
      [A.serverAddress]: 'cache.internal',
      [A.serverPort]: 11211,
      [A.dbSystemName]: 'acme.kv',
    });
  });

  it('prefers the server a backend reports in the context, IPv6 included', () => {
    const telemetry = install({ serverAddress: 'configured', serverPort: 1 });
    const channel = tracingChannel<unknown, object>('stowage:get');
    for (const server of ['[::1]:6379', '10.0.0.5:11211', '/tmp/redis.sock']) {
      channel.traceSync(() => undefined, handMade({ server, outcome: 'miss' }));
    }
    expect(
      stowageSpans(telemetry).map((span) => [
        span.attributes[A.serverAddress],
        span.attributes[A.serverPort],
      ]),
    ).toEqual([
      ['::1', 6379],
      ['10.0.0.5', 11211],
      ['/tmp/redis.sock', undefined],
    ]);
  });

  it('ends the span of a call that threw synchronously (no asyncEnd follows)', () => {
    const telemetry = install();
    const channel = tracingChannel<unknown, object>('stowage:get');
    expect(() =>
      channel.traceSync(
        () => {
          throw new TypeError('bad key');
        },
        handMade({ outcome: 'error' }),
      ),
    ).toThrow(TypeError);
    const [span] = stowageSpans(telemetry);
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'bad key' });
    expect(span?.attributes[A.errorType]).toBe('TypeError');
    expect(stowageSpans(telemetry)).toHaveLength(1);
  });

  it('ignores messages that are not Stowage contexts instead of throwing into the publisher', () => {
    const telemetry = install();
    const channel = tracingChannel<unknown, object>('stowage:get');
    for (const junk of [{}, { operation: 1 }, []]) {
      expect(() => channel.traceSync(() => 'ok', junk as object)).not.toThrow();
    }
    channel.start.publish(null);
    channel.asyncEnd.publish('text');
    expect(telemetry.spans()).toEqual([]);
  });

  it('refuses a malformed server option', () => {
    expect(() => instrumentStowage({ serverAddress: '' })).toThrow(TypeError);
    expect(() => instrumentStowage({ serverAddress: 'h', serverPort: 0 })).toThrow(TypeError);
    expect(() => instrumentStowage({ serverAddress: 'h', serverPort: 1.5 })).toThrow(TypeError);
  });
});

describe('uninstall', () => {
  it('removes every subscription; no span or metric afterwards', async () => {
    const telemetry = createTelemetry();
    const installed = instrumentStowage({
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
    });
    const cache = new CacheClient({ backend: createMemoryBackend() });
    await cache.get('before');
    expect(stowageSpans(telemetry)).toHaveLength(1);
    installed.uninstall();
    installed.uninstall(); // idempotent
    for (const operation of TRACED_OPERATIONS) {
      expect(CACHE_CHANNELS[operation].hasSubscribers, operation).toBe(false);
    }
    const metricsBefore = pointsOf(await telemetry.metrics());
    expect(metricsBefore.length).toBeGreaterThan(0);
    await cache.set('k', 1);
    await cache.get('k');
    await cache.getOrSet('g', () => 2);
    expect(stowageSpans(telemetry)).toHaveLength(1);
    expect(pointsOf(await telemetry.metrics())).toEqual(metricsBefore);
  });

  it('drops a call in flight at uninstall: its end is not recorded either', async () => {
    const telemetry = createTelemetry();
    const installed = instrumentStowage({
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
    });
    const cache = new CacheClient({ backend: createMemoryBackend() });
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const pending = cache.getOrSet('k', async () => {
      await held;
      return 'v';
    });
    installed.uninstall();
    release();
    expect(await pending).toBe('v');
    expect(telemetry.spans()).toEqual([]);
    expect(pointsOf(await telemetry.metrics())).toEqual([]);
  });
});
