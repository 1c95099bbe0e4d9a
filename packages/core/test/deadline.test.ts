import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CacheClient,
  CacheErrorCode,
  CacheBackendError,
  CacheTimeoutError,
  DEFAULT_TIMEOUT_MS,
  type CacheClientOptions,
} from '../src/index.js';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import { faultClient } from './helpers/clients.js';

const TIMEOUT_MS = 100;

function hanging(
  options: Omit<CacheClientOptions, 'backend'> = {},
): ReturnType<typeof faultClient> {
  const made = faultClient({ timeoutMs: TIMEOUT_MS, quarantineMs: 0, ...options });
  made.backend.mode = { kind: 'neverAnswer' };
  return made;
}

const timers = (): number =>
  process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

afterEach(() => {
  vi.useRealTimers();
});

describe('deadlines on a backend that never answers', () => {
  const operations: Array<[string, boolean, (c: CacheClient) => Promise<unknown>]> = [
    ['get', false, (c) => c.get('k')],
    ['getMany', false, (c) => c.getMany(['k', 'j'])],
    ['set', true, (c) => c.set('k', 1)],
    ['set', true, (c) => c.set('k', 1, { skipIntegrityCheck: true })],
    ['setMany', true, (c) => c.setMany({ k: 1 })],
    ['add', true, (c) => c.add('k', 1)],
    ['touch', true, (c) => c.touch('k', 5)],
    ['incr', true, (c) => c.incr('k')],
    ['decr', true, (c) => c.decr('k')],
    ['delete', true, (c) => c.delete('k')],
    ['deleteMany', true, (c) => c.deleteMany(['k'])],
    ['flushAll', true, (c) => c.flushAll()],
  ];

  it.each(operations)(
    '%s rejects with CacheTimeoutError by timeoutMs (indeterminate: %s)',
    async (operation, indeterminate, call) => {
      const { client } = hanging();
      const started = performance.now();
      const error = (await call(client).catch((e: unknown) => e)) as CacheTimeoutError;
      const elapsed = performance.now() - started;
      expect(error).toBeInstanceOf(CacheTimeoutError);
      expect(error).toMatchObject({
        code: CacheErrorCode.Timeout,
        operation,
        timeoutMs: TIMEOUT_MS,
        indeterminate,
      });
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
      // A hang would be seconds; the deadline is 100 ms, leave room for a loaded machine.
      expect(elapsed).toBeLessThan(TIMEOUT_MS + 900);
    },
  );

  it('times out bustRecent', async () => {
    const { client, backend } = hanging();
    backend.mode = { kind: 'pass' };
    await client.set('k', 1);
    backend.mode = { kind: 'neverAnswer' };
    await expect(client.bustRecent()).rejects.toBeInstanceOf(CacheTimeoutError);
  });

  it('names the full key and the backend in the error', async () => {
    const { client } = hanging({ prefix: 'app' });
    await expect(client.get('k')).rejects.toMatchObject({
      key: 'app:k',
      backend: 'fault(recording)',
    });
  });

  it('settles getOrSet by its deadlines and still returns the computed value', async () => {
    const { client } = hanging();
    const started = performance.now();
    expect(await client.getOrSet('k', () => 'computed')).toBe('computed');
    expect(performance.now() - started).toBeLessThan(2 * TIMEOUT_MS + 900);
  });

  it('leaves no unhandled rejection when the backend fails after the deadline', async () => {
    const { client, backend } = hanging();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(client.get('k')).rejects.toBeInstanceOf(CacheTimeoutError);
      await expect(client.set('k', 1)).rejects.toBeInstanceOf(CacheTimeoutError);
      backend.failLate(new Error('late failure'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('ignores an answer that arrives after the deadline', async () => {
    const { client, backend, inner } = hanging();
    inner.put('k', 'late', 1);
    await expect(client.get('k')).rejects.toBeInstanceOf(CacheTimeoutError);
    await backend.answerLate();
    expect(backend.pending).toBe(0);
  });

  it('uses the default deadline of 1000 ms', async () => {
    vi.useFakeTimers();
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'neverAnswer' };
    const client = new CacheClient({ backend, quarantineMs: 0 });
    const pending = client.get('k').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(DEFAULT_TIMEOUT_MS - 1);
    let settled = false;
    void pending.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await pending).toBeInstanceOf(CacheTimeoutError);
  });
});

describe('deadline timers', () => {
  it('creates no timer for a backend that answers synchronously (in-process)', async () => {
    const backend = new RecordingBackend();
    const client = new CacheClient({ backend });
    const spy = vi.spyOn(globalThis, 'setTimeout');
    await client.set('k', 1);
    await client.get('k');
    await client.getMany(['k']);
    await client.delete('k');
    expect(spy).not.toHaveBeenCalled();
  });

  it('creates one timer per call for a remote backend and clears it on the answer', async () => {
    const backend = new FaultBackend(new RecordingBackend({ async: true }));
    const client = new CacheClient({ backend, timeoutMs: 5_000 });
    const before = timers();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    await client.get('k');
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    expect(timers()).toBe(before);
  });

  it('answers a slow but timely backend normally', async () => {
    const backend = new FaultBackend(new RecordingBackend());
    const client = new CacheClient({ backend, timeoutMs: 2_000 });
    backend.mode = { kind: 'delay', ms: 20 };
    expect(await client.set('k', 'v')).toBe(true);
    expect(await client.get('k')).toBe('v');
  });
});

describe('a backend that enforces its own deadline (capabilities.timeoutMs)', () => {
  const remote = (timeoutMs: unknown): FaultBackend =>
    new FaultBackend(new RecordingBackend({ async: true, setAndRead: true }), { timeoutMs });

  it.each([[100], [50], [0.5]])(
    'arms no client timer when the backend claims %d ms and the client allows 100',
    async (claim) => {
      const client = new CacheClient({ backend: remote(claim), timeoutMs: 100 });
      const spy = vi.spyOn(globalThis, 'setTimeout');
      await client.set('k', 1);
      await client.set('k', 2, { skipIntegrityCheck: true });
      expect(await client.get('k')).toBe(2);
      expect(await client.getMany(['k'])).toEqual(new Map([['k', 2]]));
      expect(await client.getOrSet('j', () => 3)).toBe(3);
      await client.delete('k');
      expect(spy).not.toHaveBeenCalled();
    },
  );

  it.each([[5_000], [101], [0], [-1], [Number.NaN], [Number.POSITIVE_INFINITY], ['50'], [null]])(
    'keeps the client timer when the backend claims %s and the client allows 100',
    async (claim) => {
      const client = new CacheClient({ backend: remote(claim), timeoutMs: 100 });
      const spy = vi.spyOn(globalThis, 'setTimeout');
      await client.get('k');
      expect(spy).toHaveBeenCalledTimes(1);
    },
  );

  it('still times out by its own deadline when the backend claims a longer one', async () => {
    const backend = remote(5_000);
    backend.mode = { kind: 'neverAnswer' };
    const client = new CacheClient({ backend, timeoutMs: TIMEOUT_MS, quarantineMs: 0 });
    const started = performance.now();
    const error = await client.get('k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheTimeoutError);
    expect(error).toMatchObject({ timeoutMs: TIMEOUT_MS, operation: 'get' });
    expect(performance.now() - started).toBeLessThan(2_000);
    backend.failLate();
  });

  it("passes the backend's own timeout error on, counted and reported", async () => {
    const backend = remote(TIMEOUT_MS);
    const own = new CacheTimeoutError('fault get did not answer within 100 ms', {
      backend: 'fault',
      operation: 'get',
      key: 'k',
      indeterminate: false,
      timeoutMs: TIMEOUT_MS,
    });
    backend.mode = { kind: 'alwaysReject', error: own };
    const client = new CacheClient({ backend, timeoutMs: TIMEOUT_MS });
    const errors: unknown[] = [];
    client.on('error', (event) => errors.push(event.error));
    await expect(client.get('k')).rejects.toBe(own);
    expect(errors).toEqual([own]);
    expect(client.stats().errors).toBe(1);
  });

  it('still wraps a raw error from such a backend into a CacheBackendError', async () => {
    const backend = remote(TIMEOUT_MS);
    backend.mode = { kind: 'alwaysReject', error: new Error('socket closed') };
    const client = new CacheClient({ backend, timeoutMs: TIMEOUT_MS });
    const error = await client.set('k', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheBackendError);
    expect(error).toMatchObject({ operation: 'set', indeterminate: true });
  });
});
