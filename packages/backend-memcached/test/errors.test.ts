// The errors every call may end in, on a real memcached: CacheClosedError after close() (before
// any I/O), and the one rule for `indeterminate` — a write, deletes included, whose bytes may
// have reached the server; never a read, never anything that was not sent.
import { CacheClosedError, CacheErrorCode, CacheTimeoutError, isCacheError } from '@stowage/core';
import { FaultProxy, hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemcachedBackend, type MemcachedBackend } from '../src/index.js';
import { entry, RecordingProxy, textOf, trackProcessErrors } from './helpers.js';

const TIMEOUT_MS = 200;

function errorOf(call: () => unknown): Promise<unknown> {
  return Promise.resolve()
    .then(call)
    .then(
      () => undefined,
      (error: unknown) => error,
    );
}

/** Every method of the backend contract, called with valid arguments. */
function everyCall(
  backend: MemcachedBackend,
): ReadonlyArray<readonly [string, () => Promise<unknown>]> {
  const value = entry('v');
  return [
    ['get', () => backend.get('k')],
    ['getMany', () => backend.getMany(['k', 'l'])],
    ['set', () => backend.set('k', value, 0)],
    ['setAndRead', () => backend.setAndRead('k', value, 0)],
    ['setMany', () => backend.setMany([{ key: 'k', entry: value }], 0)],
    ['add', () => backend.add('k', value, 0)],
    ['touch', () => backend.touch('k', 10)],
    ['incr', () => backend.incr('n', 1n)],
    ['decr', () => backend.decr('n', 1n)],
    ['delete', () => backend.delete('k')],
    ['deleteIf', () => backend.deleteIf('k', value)],
    ['setIf', () => backend.setIf('k', value, entry('w'), 0)],
    ['deleteMany', () => backend.deleteMany(['k', 'l'])],
    ['flush', () => backend.flush(0)],
    ['clear', () => backend.clear()],
  ];
}

trackProcessErrors();

describe.runIf(hasBinary('memcached'))('errors', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startMemcached();
  });
  afterAll(async () => {
    await server.stop();
  });

  describe('after close()', () => {
    let proxy: RecordingProxy;
    let closed: MemcachedBackend;
    beforeAll(async () => {
      proxy = await RecordingProxy.start(server.port);
      closed = createMemcachedBackend({ servers: proxy.address });
      closed.close();
      closed.close(); // idempotent
    });
    afterAll(async () => {
      await proxy.close();
    });

    const names = everyCall(createMemcachedBackend({ servers: 'h' })).map(([name]) => name);
    it.each(names)(
      '%s rejects with CacheClosedError (E_CACHE_CLOSED) and sends nothing',
      async (name) => {
        const call = everyCall(closed).find(([candidate]) => candidate === name)![1];
        const error = await errorOf(call);
        expect(error).toBeInstanceOf(CacheClosedError);
        expect(error).toMatchObject({
          code: CacheErrorCode.Closed,
          message: 'the memcached backend is closed',
        });
        expect(proxy.connections).toBe(0);
      },
    );

    it('an oversized set or add rejects with CacheClosedError too', async () => {
      const big = entry(Buffer.alloc(closed.limits.maxValueBytes + 1));
      expect(
        isCacheError(await errorOf(() => closed.set('k', big, 0)), CacheErrorCode.Closed),
      ).toBe(true);
      expect(
        isCacheError(await errorOf(() => closed.add('k', big, 0)), CacheErrorCode.Closed),
      ).toBe(true);
    });
  });

  describe('indeterminate', () => {
    let proxy: FaultProxy;
    let backend: MemcachedBackend;
    beforeAll(async () => {
      proxy = await FaultProxy.start(server.port);
      backend = createMemcachedBackend({
        servers: proxy.address,
        timeoutMs: TIMEOUT_MS,
        breakerThreshold: 1000,
      });
      await backend.set('k', entry('v'), 0);
    });
    afterAll(async () => {
      backend.close();
      await proxy.close();
    });
    beforeEach(async () => {
      proxy.setMode({ kind: 'pass' });
      // Connected, so the call under test is written at once and then goes unanswered.
      expect(textOf(await backend.get('k'))).toBe('v');
    });

    // deleteIf times out in its read: nothing was deleted yet. So does setIf here (`k` was
    // written by `set`, so its CAS must be read first); leases.test.ts times out its CAS set.
    const reads = new Set(['get', 'getMany', 'deleteIf', 'setIf']);
    const names = everyCall(createMemcachedBackend({ servers: 'h' })).map(([name]) => name);
    it.each(names)(
      '%s sent and unanswered: a timeout, indeterminate only for a write',
      async (name) => {
        proxy.setMode({ kind: 'blackhole' });
        const call = everyCall(backend).find(([candidate]) => candidate === name)![1];
        const error = await errorOf(call);
        expect(error).toBeInstanceOf(CacheTimeoutError);
        expect(error).toMatchObject({ operation: name });
        expect((error as CacheTimeoutError).indeterminate).toBe(!reads.has(name));
      },
    );

    it('a write refused by an open breaker was never sent: not indeterminate', async () => {
      const fragile = createMemcachedBackend({
        servers: proxy.address,
        timeoutMs: TIMEOUT_MS,
        breakerThreshold: 1,
        breakerCooldownMs: 60_000,
      });
      try {
        proxy.setMode({ kind: 'blackhole' });
        await errorOf(() => fragile.get('k')); // opens the breaker
        expect(fragile.breakers()).toEqual({ [proxy.address]: 'open' });
        for (const [name, call] of everyCall(fragile)) {
          const error = await errorOf(call);
          expect(error, name).toMatchObject({
            code: CacheErrorCode.Backend,
            indeterminate: false,
          });
        }
      } finally {
        fragile.close();
      }
    });
  });
});
