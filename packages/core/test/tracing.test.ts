// The `stowage:*` tracing channels: one context per call, published on start and asyncEnd (or
// error), with the operation, backend, scope level, key count, outcome and bytes; full keys only
// with `traceKeys`; a getOrSet factory traced as a child of its call.
import { tracingChannel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import {
  CACHE_CHANNELS,
  CacheClient,
  StorageLevel,
  TRACED_OPERATIONS,
  type CacheTraceContext,
} from '../src/index.js';

interface Seen {
  readonly event: string;
  readonly context: CacheTraceContext;
}

const unsubscribers: Array<() => void> = [];
afterEach(() => {
  for (const off of unsubscribers.splice(0)) off();
});

/** Subscribes to every event of `stowage:<operation>` channels and records them. */
function watch(...operations: Array<(typeof TRACED_OPERATIONS)[number]>): Seen[] {
  const seen: Seen[] = [];
  for (const operation of operations) {
    const handlers = {
      start: (context: CacheTraceContext) => seen.push({ event: 'start', context }),
      end: () => {},
      asyncStart: () => {},
      asyncEnd: (context: CacheTraceContext) => seen.push({ event: 'asyncEnd', context }),
      error: (context: CacheTraceContext) => seen.push({ event: 'error', context }),
    };
    // By name, as an APM agent would: the same channel as the one core publishes on.
    const channel = tracingChannel<unknown, CacheTraceContext>(`stowage:${operation}`);
    channel.subscribe(handlers);
    unsubscribers.push(() => channel.unsubscribe(handlers));
  }
  return seen;
}

function client(options: { traceKeys?: boolean } = {}): CacheClient {
  return new CacheClient({
    backend: new RecordingBackend({ async: true, setIf: true, deleteIf: true, setAndRead: true }),
    prefix: 'app',
    ...options,
  });
}

describe('tracing channels', () => {
  it('publish one context per call with operation, backend, level, outcome and bytes', async () => {
    const seen = watch('get', 'set');
    const cache = client();
    const tenant = cache.scoped(StorageLevel.Stack, { stack: 'acme' });
    await tenant.set('plan', { tier: 'gold' });
    await tenant.get('plan');
    await tenant.get('missing', 'default');
    expect(seen.map((s) => `${s.event}:${s.context.operation}`)).toEqual([
      'start:set',
      'asyncEnd:set',
      'start:get',
      'asyncEnd:get',
      'start:get',
      'asyncEnd:get',
    ]);
    const [set, hit, miss] = [seen[1]!.context, seen[3]!.context, seen[5]!.context];
    expect(set).toMatchObject({ backend: 'recording', level: 'stack', keyCount: 1, outcome: 'ok' });
    expect(set.bytesOut).toBe(Buffer.byteLength('{"tier":"gold"}'));
    expect(hit).toMatchObject({ outcome: 'hit', bytesIn: set.bytesOut, result: { tier: 'gold' } });
    expect(miss).toMatchObject({ outcome: 'miss', bytesIn: 0, result: 'default' });
    // The same object on start and asyncEnd: a subscriber keeps its span on it.
    expect(seen[0]!.context).toBe(seen[1]!.context);
  });

  it('name the server of a one-key call where the backend knows it', async () => {
    const seen = watch('get');
    const backend = new RecordingBackend();
    Object.assign(backend, { serverFor: (key: string) => `10.0.0.${key.length}:11211` });
    await new CacheClient({ backend }).get('abc');
    await client().get('abc');
    expect(seen.filter((s) => s.event === 'start').map((s) => s.context.server)).toEqual([
      '10.0.0.3:11211',
      undefined,
    ]);
  });

  it('carry the full key only with traceKeys', async () => {
    const seen = watch('get');
    await client().get('user:42');
    await client({ traceKeys: true }).get('user:42');
    expect(seen.filter((s) => s.event === 'start').map((s) => s.context.key)).toEqual([
      undefined,
      'app:user:42',
    ]);
  });

  it('trace a getOrSet factory as a child of its call, and the call as a miss, then a hit', async () => {
    const seen = watch('getOrSet', 'factory');
    const cache = client();
    await cache.getOrSet('k', () => 'v');
    await cache.getOrSet('k', () => 'never');
    const starts = seen.filter((s) => s.event === 'start').map((s) => s.context);
    expect(starts.map((c) => c.operation)).toEqual(['getOrSet', 'factory', 'getOrSet']);
    expect(starts[1]!.parent).toBe(starts[0]);
    expect(starts[0]!.outcome).toBe('miss');
    expect(starts[1]!.outcome).toBe('ok');
    expect(starts[2]!.outcome).toBe('hit');
  });

  it('count a getMany from a Set and its hits; name a remembered "not found" on a synchronous backend', async () => {
    const seen = watch('getMany', 'getOrSet');
    const cache = new CacheClient({
      backend: new RecordingBackend({ setIf: true, deleteIf: true }),
    });
    await cache.set('a', 1);
    await cache.getMany(new Set(['a', 'b', 'c']));
    await cache.getOrSet('gone', () => undefined, { negativeTtl: 60 });
    await cache.getOrSet('gone', () => undefined, { negativeTtl: 60 });
    const ends = seen.filter((s) => s.event === 'asyncEnd').map((s) => s.context);
    expect(ends[0]).toMatchObject({
      operation: 'getMany',
      keyCount: 3,
      hitCount: 1,
      outcome: 'hit',
    });
    expect(ends.slice(1).map((c) => c.outcome)).toEqual(['miss', 'notFound']);
  });

  it("give a background refresh its own factory context, without its call's result", async () => {
    watch('getOrSet');
    const startedWith: Array<Record<string, unknown>> = [];
    const factory = tracingChannel<unknown, CacheTraceContext>('stowage:factory');
    const handlers = {
      start: (context: CacheTraceContext) => startedWith.push({ ...context }),
      end: () => {},
      asyncStart: () => {},
      asyncEnd: () => {},
      error: () => {},
    };
    factory.subscribe(handlers);
    unsubscribers.push(() => factory.unsubscribe(handlers));
    const store = new RecordingBackend({
      async: true,
      setIf: true,
      deleteIf: true,
      setAndRead: true,
    });
    let time = 1_700_000_000_000;
    const cache = new CacheClient({ backend: store, now: () => time });
    await cache.getOrSet('k', () => 'old', { ttl: 1, grace: 60 });
    time += 2_000;
    const options = { ttl: 1, grace: 60, staleWhileRevalidate: true };
    expect(await cache.getOrSet('k', () => 'new', options)).toBe('old');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(startedWith).toHaveLength(2);
    // The refresh started after its getOrSet answered 'old'; its context must not say so.
    expect(startedWith[1]).not.toHaveProperty('result');
    expect(startedWith[1]).toMatchObject({ operation: 'factory', outcome: undefined });
  });

  it('report a failed call on the error event with outcome error', async () => {
    const seen = watch('delete');
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'alwaysReject', error: new Error('ECONNRESET') };
    const cache = new CacheClient({ backend });
    await expect(cache.delete('k')).rejects.toThrow();
    expect(seen.map((s) => s.event)).toEqual(['start', 'error', 'asyncEnd']);
    expect(seen[1]!.context.outcome).toBe('error');
    expect(seen[1]!.context.error).toBeInstanceOf(Error);
  });

  it('cover every client operation, one channel each, and publish nothing unsubscribed', async () => {
    const seen = watch(...TRACED_OPERATIONS.filter((op) => op !== 'factory'));
    const cache = client();
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
    const operations = new Set(seen.map((s) => s.context.operation));
    expect([...operations].sort()).toEqual(
      TRACED_OPERATIONS.filter((op) => op !== 'factory')
        .slice()
        .sort(),
    );
    expect(seen.find((s) => s.context.operation === 'getMany')?.context.keyCount).toBe(2);
    for (const off of unsubscribers.splice(0)) off();
    const before = seen.length;
    await cache.get('a');
    expect(seen).toHaveLength(before);
    expect(CACHE_CHANNELS.get.hasSubscribers).toBe(false);
  });
});
