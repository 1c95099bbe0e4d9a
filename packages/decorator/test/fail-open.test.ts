// Fail-open: a broken or silent backend never breaks the cached function; `strict` propagates.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CacheBackendError,
  CacheClient,
  CacheTimeoutError,
  CacheValueError,
  StorageLevel,
} from '@stowage/core';
import { createMemoryBackend } from '@stowage/backend-memory';
import { cached, invalidate, invalidateAll, type CacheOptions } from '../src/index.js';
import { counted, errorLog, FaultyBackend, manualClock } from './helpers.js';

const clients: CacheClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

/** A cached Service-level read on `client` that resolves `'v'`. */
function serviceRead(
  client: CacheClient,
  options: CacheOptions<[]> = {},
): { read: () => Promise<string>; runs: () => number } {
  const { fn, runs } = counted(() => 'v');
  const read = cached(fn, {
    key: 'read',
    context: { client, storageLevel: StorageLevel.Service },
    ...options,
  });
  return { read, runs };
}

/** A client over a fault-injecting wrapper of a memory backend, with a short deadline. */
function faultyClient(timeoutMs = 100): { client: CacheClient; backend: FaultyBackend } {
  const backend = new FaultyBackend(createMemoryBackend({ clock: manualClock() }));
  const client = new CacheClient({ backend, timeoutMs, service: 'billing' });
  clients.push(client);
  return { client, backend };
}

describe('backend down', () => {
  it('runs the function, returns its result and reports, without trying to write', async () => {
    const { client, backend } = faultyClient();
    backend.fault = 'fail';
    const log = errorLog();
    const { fn, runs } = counted((id: string) => `value of ${id}`);
    const read = cached(fn, {
      key: 'read',
      context: { client, storageLevel: StorageLevel.Service },
      onError: log.onError,
    });
    expect(await read('a')).toBe('value of a');
    expect(await read('a')).toBe('value of a');
    expect(runs()).toBe(2);
    expect(backend.calls).toBe(2);
    expect(log.errors.map(({ error }) => error)).toEqual([
      expect.any(CacheBackendError),
      expect.any(CacheBackendError),
    ]);
    expect(log.errors[0]?.info.name).toBe('read');
    expect(log.errors[0]?.info.key).toMatch(/^read:/);
  });

  it('returns the result when only writes fail, and caches again once the backend is back', async () => {
    const { client, backend } = faultyClient();
    backend.fault = 'fail';
    backend.only.add('set').add('setAndRead').add('add');
    const log = errorLog();
    const { read, runs } = serviceRead(client, {
      onError: log.onError,
    });
    expect(await read()).toBe('v');
    expect(await read()).toBe('v');
    expect(runs()).toBe(2);
    expect(log.codes()).toEqual(['E_CACHE_BACKEND', 'E_CACHE_BACKEND']);
    backend.fault = 'none';
    await read();
    await read();
    expect(runs()).toBe(3);
  });

  it('shares one run between concurrent callers while the backend is down', async () => {
    const { client, backend } = faultyClient();
    backend.fault = 'fail';
    const { fn, runs } = counted(() => 'v', 10);
    const read = cached(fn, {
      key: 'read',
      context: { client, storageLevel: StorageLevel.Service },
      onError: () => {},
    });
    expect(await Promise.all(Array.from({ length: 20 }, () => read()))).toHaveLength(20);
    expect(runs()).toBe(1);
  });

  it('throws the backend error with strict, before running the function', async () => {
    const { client, backend } = faultyClient();
    backend.fault = 'fail';
    const { read, runs } = serviceRead(client, {
      strict: true,
    });
    await expect(read()).rejects.toBeInstanceOf(CacheBackendError);
    expect(runs()).toBe(0);
  });

  it('never lets busting fail silently', async () => {
    const { client, backend } = faultyClient();
    const { read } = serviceRead(client);
    await read();
    backend.fault = 'fail';
    await expect(invalidate(read)).rejects.toBeInstanceOf(CacheBackendError);
    await expect(invalidateAll(read)).rejects.toBeInstanceOf(CacheBackendError);
  });
});

describe('a generation write in doubt (DESIGN D14)', () => {
  it('invalidate still orphans the entry other processes read when its own read of the generation is a miss', async () => {
    // Two processes on one server: A's bump of the generation times out (its quarantine then reads
    // the generation as a miss) while the server still holds the old one, under which B reads.
    const store = createMemoryBackend({ clock: manualClock() });
    const backendA = new FaultyBackend(store);
    const a = new CacheClient({ backend: backendA, timeoutMs: 50, service: 'billing' });
    const b = new CacheClient({ backend: new FaultyBackend(store), service: 'billing' });
    clients.push(a, b);
    const { fn, runs } = counted(() => 'v');
    const options = { key: 'read', onError: () => {} } as const;
    const readA = cached(fn, {
      ...options,
      context: { client: a, storageLevel: StorageLevel.Service },
    });
    const readB = cached(fn, {
      ...options,
      context: { client: b, storageLevel: StorageLevel.Service },
    });
    expect(await readB()).toBe('v');
    expect(await readB()).toBe('v');
    expect(runs()).toBe(1);
    backendA.fault = 'hang';
    backendA.only.add('set').add('setAndRead');
    await expect(invalidateAll(readA)).rejects.toBeInstanceOf(CacheTimeoutError);
    backendA.fault = 'none';
    expect(await a.get('read:version')).toBeUndefined(); // in doubt here, although the server has it
    expect(await invalidate(readA)).toBe(false);
    // B's next call must not be served the entry A invalidated.
    expect(await readB()).toBe('v');
    expect(runs()).toBe(2);
  });
});

describe('backend silent', () => {
  it('returns by the client deadline and reports the timeout', async () => {
    const { client, backend } = faultyClient(100);
    backend.fault = 'hang';
    const log = errorLog();
    const { read, runs } = serviceRead(client, {
      onError: log.onError,
    });
    const started = performance.now();
    expect(await read()).toBe('v');
    const elapsed = performance.now() - started;
    expect(runs()).toBe(1);
    expect(log.errors[0]?.error).toBeInstanceOf(CacheTimeoutError);
    // One deadline (100 ms), not one per operation and never a hang; generous for a loaded machine.
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(1500);
  });

  it('reports a write that times out after a good read, and still returns', async () => {
    const { client, backend } = faultyClient(100);
    backend.fault = 'hang';
    backend.only.add('add').add('set').add('setAndRead');
    const log = errorLog();
    const { read } = serviceRead(client, {
      onError: log.onError,
    });
    expect(await read()).toBe('v');
    expect(log.codes()).toEqual(['E_CACHE_TIMEOUT']);
  });

  it('throws the timeout with strict', async () => {
    const { client, backend } = faultyClient(100);
    backend.fault = 'hang';
    const { read } = serviceRead(client, {
      strict: true,
    });
    await expect(read()).rejects.toBeInstanceOf(CacheTimeoutError);
  });
});

describe('reporting', () => {
  it('writes one process warning per kind of problem when there is no onError', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const { client, backend } = faultyClient();
    backend.fault = 'fail';
    const { read } = serviceRead(client);
    await read();
    await read();
    await cached(async () => 'v', { key: 'read', context: { client } })();
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls.map((call) => (call[1] as { code?: string }).code)).toEqual([
      'E_CACHE_BACKEND',
      'E_CACHE_SCOPE',
    ]);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(
      /^read: fault\(memory\) get failed: connect ECONNREFUSED .*; caching was skipped for this call/,
    );
  });

  it("sends every problem to the client's logger when there is no onError, and no process warning", async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const lines: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (line: string) => lines.push(line) };
    const backend = new FaultyBackend(createMemoryBackend({ clock: manualClock() }));
    const client = new CacheClient({ backend, timeoutMs: 100, service: 'billing', logger });
    clients.push(client);
    backend.fault = 'fail';
    const { read } = serviceRead(client);
    expect(await read()).toBe('v');
    expect(await read()).toBe('v');
    // A problem found before a scope is known (no tenant) reaches the context client's logger too.
    await cached(async () => 'v', { key: 'read', context: { client } })();
    expect(warn).not.toHaveBeenCalled();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^stowage: read: .*caching was skipped for this call \[E_CACHE_BACKEND\]$/,
    );
    expect(lines[2]).toMatch(/\[E_CACHE_SCOPE\]$/);
  });

  it('survives an onError handler that throws', async () => {
    const { client, backend } = faultyClient();
    backend.fault = 'fail';
    const { read } = serviceRead(client, {
      onError: () => {
        throw new Error('logger down');
      },
    });
    expect(await read()).toBe('v');
  });

  it('returns a result the cache cannot store, and reports it; strict throws', async () => {
    const { client } = faultyClient();
    const log = errorLog();
    const context = { client, storageLevel: StorageLevel.Service };
    const { fn, runs } = counted(() => new Map([['a', 1]]));
    const read = cached(fn, { key: 'read', context, onError: log.onError });
    expect(await read()).toEqual(new Map([['a', 1]]));
    expect(log.errors[0]?.error).toBeInstanceOf(CacheValueError);
    await expect(cached(fn, { key: 'read', context, strict: true })()).rejects.toBeInstanceOf(
      CacheValueError,
    );
    expect(runs()).toBe(2);
  });

  it('reports a closed client and runs uncached', async () => {
    const { client } = faultyClient();
    await client.close();
    const log = errorLog();
    const { read } = serviceRead(client, {
      onError: log.onError,
    });
    expect(await read()).toBe('v');
    expect(log.codes()).toEqual(['E_CACHE_CLOSED']);
  });
});

describe('an invalidation while the result is being stored (found by the soak)', () => {
  it('leaves no entry behind when the write lands after the invalidation', async () => {
    const backend = new FaultyBackend(createMemoryBackend({ clock: manualClock() }));
    const client = new CacheClient({ backend, service: 'billing' });
    clients.push(client);
    let run = 0;
    const read = cached(async () => Promise.resolve(`v${++run}`), {
      key: 'read',
      onError: () => {},
      context: { client, storageLevel: StorageLevel.Service },
    });
    expect(await read()).toBe('v1');
    await invalidate(read);
    // The next call misses and stores v2; its write (under its lease: setIf) is held on the way
    // to the server.
    backend.fault = 'hold';
    backend.only.add('set').add('setAndRead').add('setIf');
    const pending = read();
    while (backend.pending === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    backend.fault = 'none';
    // The invalidation deletes the entry before the held write lands.
    await invalidate(read);
    backend.release();
    expect(await pending).toBe('v2'); // its caller asked before the invalidation
    // After the invalidation resolved, no call may be served v2.
    expect(await read()).toBe('v3');
  });
});
