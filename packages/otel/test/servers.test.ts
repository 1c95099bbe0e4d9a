// Spans and metrics on real servers: a memcached and a redis-server started on 127.0.0.1 for this
// file and stopped by PID. One span per call under the caller's span, with db.system.name
// memcached / redis, the server the backend reports (or the configured one), stored bytes,
// the factory under its getOrSet, and a paused server's timeout as an ERROR span and an error.
// With CI=true a missing binary fails the run instead of skipping.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { createRedisBackend } from '@stowage/backend-redis';
import { CacheClient, type CacheBackend } from '@stowage/core';
import { hasBinary, startMemcached, startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STOWAGE_ATTRIBUTES as A, STOWAGE_METRICS as M } from '../src/index.js';
import {
  counterSum,
  inRequest,
  parentIdOf,
  stowageSpans,
  useContextManager,
  useInstrumentation,
} from './helpers.js';

useContextManager();

/** How one kind of server is started and reached. */
interface ServerKind {
  readonly system: 'memcached' | 'redis';
  readonly available: boolean;
  readonly start: () => Promise<ServerHandle>;
  /** A backend on `server` whose calls give up after `timeoutMs`. */
  readonly backend: (server: ServerHandle, timeoutMs: number) => CacheBackend;
}

const kinds: readonly ServerKind[] = [
  {
    system: 'memcached',
    available: hasBinary('memcached'),
    start: () => startMemcached(),
    backend: (server, timeoutMs) => createMemcachedBackend({ servers: server.address, timeoutMs }),
  },
  {
    system: 'redis',
    available: hasBinary('redis-server'),
    start: () => startRedis(),
    backend: (server, timeoutMs) =>
      createRedisBackend({ url: `redis://127.0.0.1:${server.port}`, timeoutMs }),
  },
];

for (const kind of kinds) {
  describe.runIf(kind.available)(`on a real ${kind.system}`, () => {
    let server: ServerHandle;
    beforeAll(async () => {
      server = await kind.start();
    });
    afterAll(async () => {
      await server?.stop();
    });

    describe('without server options', () => {
      const telemetry = useInstrumentation();

      it('one CLIENT span per call under the caller span, with the server the backend names', async () => {
        const cache = new CacheClient({ backend: kind.backend(server, 1000), prefix: 'otel' });
        try {
          const stored = Buffer.byteLength('{"x":1}');
          const request = await inRequest(telemetry.current, async () => {
            await cache.set('a', { x: 1 });
            expect(await cache.get('a')).toEqual({ x: 1 });
            expect(await cache.get('missing')).toBeUndefined();
            await cache.setMany({ b: 2, c: 3 });
            await cache.getMany(['a', 'b', 'missing']);
            expect(await cache.getOrSet('g', async () => 'computed')).toBe('computed');
            expect(await cache.getOrSet('g', () => 'never')).toBe('computed');
            await cache.delete('a');
          });
          const spans = stowageSpans(telemetry.current);
          const names = spans.map((span) => span.name);
          expect(names.filter((name) => name !== 'stowage factory')).toEqual([
            'stowage set',
            'stowage get',
            'stowage get',
            'stowage setMany',
            'stowage getMany',
            'stowage getOrSet',
            'stowage getOrSet',
            'stowage delete',
          ]);
          for (const span of spans.filter((s) => s.kind === SpanKind.CLIENT)) {
            expect(parentIdOf(span), span.name).toBe(request.spanContext().spanId);
            expect(span.attributes[A.dbSystemName]).toBe(kind.system);
            expect(span.status.code, span.name).toBe(SpanStatusCode.UNSET);
          }
          const oneKey = spans.filter((s) => s.kind === SpanKind.CLIENT && !/Many$/.test(s.name));
          for (const span of oneKey) {
            expect(span.attributes, span.name).toMatchObject({
              [A.serverAddress]: '127.0.0.1',
              [A.serverPort]: server.port,
            });
          }
          const [set, hit, miss] = spans.map((span) => span.attributes);
          expect(set).toMatchObject({ [A.outcome]: 'ok', [A.bytesOut]: stored });
          expect(hit).toMatchObject({ [A.outcome]: 'hit', [A.bytesIn]: stored });
          expect(miss).toMatchObject({ [A.outcome]: 'miss' });
          const getOrSets = spans.filter((span) => span.name === 'stowage getOrSet');
          expect(getOrSets.map((span) => span.attributes[A.outcome])).toEqual(['miss', 'hit']);
          const factory = spans.find((span) => span.name === 'stowage factory')!;
          expect(parentIdOf(factory)).toBe(getOrSets[0]!.spanContext().spanId);

          const metrics = await telemetry.current.metrics();
          const on = { [A.dbSystemName]: kind.system };
          expect(counterSum(metrics, M.hits, on)).toBe(3); // get, getMany, getOrSet
          expect(counterSum(metrics, M.misses, on)).toBe(2); // get, getOrSet
          expect(counterSum(metrics, M.bytesIn, { ...on, [A.dbOperationName]: 'get' })).toBe(
            stored,
          );
          expect(counterSum(metrics, M.errors)).toBe(0);
        } finally {
          await cache.close();
        }
      });

      it("reports a paused server's timeout as an ERROR span and an error by error.type", async () => {
        const cache = new CacheClient({ backend: kind.backend(server, 150) });
        try {
          await cache.set('warm', 1); // connected before the pause
          server.pause();
          try {
            await expect(cache.get('warm')).rejects.toMatchObject({ code: 'E_CACHE_TIMEOUT' });
          } finally {
            server.resume();
          }
          const span = stowageSpans(telemetry.current).find((s) => s.name === 'stowage get')!;
          expect(span.status.code).toBe(SpanStatusCode.ERROR);
          expect(span.attributes).toMatchObject({
            [A.errorType]: 'E_CACHE_TIMEOUT',
            [A.outcome]: 'error',
            [A.dbSystemName]: kind.system,
          });
          expect(span.events.map((event) => event.name)).toContain('exception');
          const metrics = await telemetry.current.metrics();
          expect(
            counterSum(metrics, M.errors, {
              [A.dbSystemName]: kind.system,
              [A.errorType]: 'E_CACHE_TIMEOUT',
            }),
          ).toBe(1);
        } finally {
          await cache.close();
        }
      });
    });

    describe('with serverAddress and serverPort', () => {
      const telemetry = useInstrumentation(() => ({
        serverAddress: '127.0.0.1',
        serverPort: server.port,
      }));

      it('names the configured server on calls the backend cannot place (many keys)', async () => {
        const cache = new CacheClient({ backend: kind.backend(server, 1000) });
        try {
          await cache.getMany(['x', 'y']);
          const [span] = stowageSpans(telemetry.current);
          expect(span?.attributes).toMatchObject({
            [A.serverAddress]: '127.0.0.1',
            [A.serverPort]: server.port,
            [A.keyCount]: 2,
          });
          const metrics = await telemetry.current.metrics();
          expect(
            counterSum(metrics, M.misses, {
              [A.serverAddress]: '127.0.0.1',
              [A.serverPort]: server.port,
            }),
          ).toBe(1);
        } finally {
          await cache.close();
        }
      });
    });
  });
}
