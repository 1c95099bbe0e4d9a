// Spans on the memory backend: one per operation, named `stowage <operation>`, CLIENT, under the
// caller's active span, with the database conventions' attributes and Stowage's own; the factory
// as an INTERNAL child of its getOrSet; errors as ERROR status with the exception recorded.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient, StorageLevel } from '@stowage/core';
import { FaultBackend } from '@stowage/testkit';
import { describe, expect, it, vi } from 'vitest';
import { INSTRUMENTED_OPERATIONS, STOWAGE_ATTRIBUTES as A } from '../src/index.js';
import {
  inRequest,
  manualClock,
  parentIdOf,
  stowageSpans,
  useContextManager,
  useInstrumentation,
} from './helpers.js';

useContextManager();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs every client operation once, as the core tracing test does. */
async function everyOperation(cache: CacheClient): Promise<void> {
  await cache.set('a', 1);
  await cache.setMany({ b: 2, c: 3 });
  await cache.add('d', 4);
  await cache.touch('a', 10);
  await cache.incr('a');
  await cache.decr('a');
  await cache.get('a');
  await cache.getMany(['a', 'b']);
  await cache.getEntry('a');
  await cache.getOrSet('e', () => 5);
  await cache.delete('a');
  await cache.deleteMany(['b']);
  await cache.bustRecent();
  await cache.invalidateTags(['t']);
  await cache.flushAll();
}

describe('spans on the memory backend', () => {
  const telemetry = useInstrumentation();

  it('one span per operation, each a CLIENT child of the caller span, with db.* attributes', async () => {
    const cache = new CacheClient({ backend: createMemoryBackend(), prefix: 'app' });
    const request = await inRequest(telemetry.current, () => everyOperation(cache));
    const spans = stowageSpans(telemetry.current);
    expect(spans.map((span) => span.name).sort()).toEqual(
      INSTRUMENTED_OPERATIONS.map((operation) => `stowage ${operation}`).sort(),
    );
    const requestId = request.spanContext().spanId;
    for (const span of spans.filter((s) => s.name !== 'stowage factory')) {
      const operation = span.name.slice('stowage '.length);
      expect(span.kind, span.name).toBe(SpanKind.CLIENT);
      expect(parentIdOf(span), span.name).toBe(requestId);
      expect(span.spanContext().traceId).toBe(request.spanContext().traceId);
      expect(span.attributes[A.dbSystemName]).toBe('stowage.memory');
      expect(span.attributes[A.dbOperationName]).toBe(operation);
      // In process: there is no server to name.
      expect(span.attributes[A.serverAddress]).toBeUndefined();
      expect(span.attributes[A.key]).toBeUndefined();
      expect(span.status.code, span.name).toBe(SpanStatusCode.UNSET);
    }
    const byName = new Map(spans.map((span) => [span.name, span.attributes]));
    expect(byName.get('stowage get')).toMatchObject({ [A.outcome]: 'hit' });
    expect(byName.get('stowage getMany')).toMatchObject({ [A.keyCount]: 2, [A.outcome]: 'hit' });
    // getMany is one operation on many keys, not a batch; setMany is a batch of writes.
    expect(byName.get('stowage getMany')?.[A.dbOperationBatchSize]).toBeUndefined();
    expect(byName.get('stowage setMany')).toMatchObject({
      [A.keyCount]: 2,
      [A.dbOperationBatchSize]: 2,
      [A.outcome]: 'ok',
    });
    expect(byName.get('stowage getOrSet')).toMatchObject({
      [A.outcome]: 'miss',
      [A.leaseWaited]: false,
    });
    expect(byName.get('stowage touch')).toMatchObject({ [A.outcome]: 'ok' });
    expect(byName.get('stowage add')).toMatchObject({ [A.outcome]: 'ok' });
  });

  it('records the scope level, outcome and stored bytes of each call', async () => {
    const cache = new CacheClient({ backend: createMemoryBackend(), prefix: 'app' });
    const tenant = cache.scoped(StorageLevel.Stack, { stack: 'acme' });
    await inRequest(telemetry.current, async () => {
      await tenant.set('plan', { tier: 'gold' });
      await tenant.get('plan');
      await tenant.get('missing');
      await tenant.delete('missing');
    });
    const stored = Buffer.byteLength('{"tier":"gold"}');
    const [set, hit, miss, noop] = stowageSpans(telemetry.current).map((span) => span.attributes);
    expect(set).toMatchObject({ [A.level]: 'stack', [A.outcome]: 'ok', [A.bytesOut]: stored });
    expect(hit).toMatchObject({ [A.level]: 'stack', [A.outcome]: 'hit', [A.bytesIn]: stored });
    expect(miss).toMatchObject({ [A.outcome]: 'miss', [A.bytesIn]: 0 });
    expect(noop).toMatchObject({ [A.outcome]: 'noop' });
  });

  it('carries the full key only for a client with traceKeys', async () => {
    const backend = createMemoryBackend();
    const plain = new CacheClient({ backend, prefix: 'app', ownsBackend: false });
    const opted = new CacheClient({ backend, prefix: 'app', traceKeys: true, ownsBackend: false });
    await plain.get('user:42');
    await opted.get('user:42');
    const [first, second] = stowageSpans(telemetry.current);
    expect(first?.attributes[A.key]).toBeUndefined();
    expect(second?.attributes[A.key]).toBe('app:user:42');
  });

  it('makes the factory an INTERNAL child of its getOrSet span, without db.* attributes', async () => {
    const cache = new CacheClient({ backend: createMemoryBackend() });
    const request = await inRequest(telemetry.current, () => cache.getOrSet('k', async () => 'v'));
    const spans = stowageSpans(telemetry.current);
    const getOrSet = spans.find((span) => span.name === 'stowage getOrSet')!;
    const factory = spans.find((span) => span.name === 'stowage factory')!;
    expect(parentIdOf(getOrSet)).toBe(request.spanContext().spanId);
    expect(parentIdOf(factory)).toBe(getOrSet.spanContext().spanId);
    expect(factory.kind).toBe(SpanKind.INTERNAL);
    expect(factory.attributes[A.dbSystemName]).toBeUndefined();
    expect(factory.attributes).toMatchObject({ [A.backend]: 'memory', [A.outcome]: 'ok' });
    // The factory runs inside the call: its span ends first (spans are exported as they end;
    // their clocks are anchored per span to Date.now(), too coarse to compare here).
    expect(spans.indexOf(factory)).toBeLessThan(spans.indexOf(getOrSet));
  });

  // On a backend that answers asynchronously (memcached, Redis) the refresh starts after the call
  // settled, so core's factory context, copied from the call's, already holds its `result`.
  it.each([
    ['synchronously', false],
    ['asynchronously', true],
  ])(
    'keeps a background refresh under the getOrSet that started it (backend answering %s)',
    async (_, async) => {
      const clock = manualClock();
      const memory = createMemoryBackend({ clock });
      const backend = async ? new FaultBackend(memory) : memory;
      if (backend instanceof FaultBackend) backend.mode = { kind: 'delay', ms: 0 };
      const cache = new CacheClient({ backend, now: clock.now });
      const options = { ttl: 10, grace: 60, staleWhileRevalidate: true };
      await cache.getOrSet('k', () => 'old', options);
      clock.advance(11_000);
      telemetry.current.exporter.reset();
      let refreshed = false;
      const answer = await inRequest(telemetry.current, async () => {
        expect(
          await cache.getOrSet(
            'k',
            async () => {
              await sleep(20);
              refreshed = true;
              return 'new';
            },
            options,
          ),
        ).toBe('old');
      });
      await vi.waitFor(() => {
        expect(refreshed).toBe(true);
        expect(stowageSpans(telemetry.current)).toHaveLength(2);
      });
      const spans = stowageSpans(telemetry.current);
      const getOrSet = spans.find((span) => span.name === 'stowage getOrSet')!;
      const factory = spans.find((span) => span.name === 'stowage factory')!;
      expect(getOrSet.attributes[A.outcome]).toBe('stale');
      expect(parentIdOf(getOrSet)).toBe(answer.spanContext().spanId);
      expect(parentIdOf(factory)).toBe(getOrSet.spanContext().spanId);
      // The refresh outlives the call that answered stale, and its span lasts until it is done.
      expect(spans.indexOf(getOrSet)).toBeLessThan(spans.indexOf(factory));
      expect(factory.attributes[A.outcome]).toBe('ok');
      expect(hrMs(factory.duration)).toBeGreaterThanOrEqual(15);
    },
  );

  it('marks a failed call ERROR with the exception and error.type, on the call and its factory', async () => {
    const backend = new FaultBackend(createMemoryBackend());
    const cache = new CacheClient({ backend });
    backend.mode = { kind: 'alwaysReject', error: new Error('ECONNRESET') };
    await expect(cache.get('k')).rejects.toMatchObject({ code: 'E_CACHE_BACKEND' });
    backend.mode = { kind: 'pass' };
    class PricingError extends Error {
      override name = 'PricingError';
    }
    await expect(
      cache.getOrSet('p', () => Promise.reject(new PricingError('price feed down'))),
    ).rejects.toThrow('price feed down');
    const spans = stowageSpans(telemetry.current);
    const get = spans.find((span) => span.name === 'stowage get')!;
    expect(get.status.code).toBe(SpanStatusCode.ERROR);
    expect(get.attributes).toMatchObject({
      [A.errorType]: 'E_CACHE_BACKEND',
      [A.outcome]: 'error',
    });
    expect(get.events.map((event) => event.name)).toEqual(['exception']);
    const factory = spans.find((span) => span.name === 'stowage factory')!;
    expect(factory.status).toEqual({ code: SpanStatusCode.ERROR, message: 'price feed down' });
    expect(factory.attributes[A.errorType]).toBe('PricingError');
    const getOrSet = spans.find((span) => span.name === 'stowage getOrSet')!;
    expect(getOrSet.status.code).toBe(SpanStatusCode.ERROR);
    expect(getOrSet.attributes[A.errorType]).toBe('PricingError');
    expect(parentIdOf(factory)).toBe(getOrSet.spanContext().spanId);
  });
});

/** A span duration in milliseconds. */
function hrMs([seconds, nanos]: readonly [number, number]): number {
  return seconds * 1000 + nanos / 1e6;
}
