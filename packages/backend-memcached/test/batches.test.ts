// A batch split over two real memcached servers, the second behind testkit's fault proxy: when
// one server's share fails and the other answers, the backend throws CacheBatchError carrying the
// answered part — it never turns the failed share into misses or "not stored" on its own.
import {
  CacheBackendError,
  CacheBatchError,
  CacheClosedError,
  CacheErrorCode,
  CacheTimeoutError,
  isCacheError,
} from '@stowage/core';
import { FaultProxy, hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemcachedBackend, type MemcachedBackend } from '../src/index.js';
import { entry, sleep, textOf, trackProcessErrors } from './helpers.js';

const TIMEOUT_MS = 300;
const MAX_VALUE_BYTES = 1000;

function errorOf(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** The first `count` keys named `<stem>-<n>` that the backend sends to `address`. */
function keysOn(backend: MemcachedBackend, address: string, stem: string, count = 2): string[] {
  const keys: string[] = [];
  for (let n = 0; keys.length < count; n++) {
    const key = `${stem}-${n}`;
    if (backend.serverFor(key) === address) keys.push(key);
  }
  return keys;
}

trackProcessErrors();

describe.runIf(hasBinary('memcached'))('a batch over two servers, one failing', () => {
  let healthy: ServerHandle;
  let failing: ServerHandle;
  let proxy: FaultProxy;
  let backend: MemcachedBackend;
  let onHealthy: string[];
  let onFailing: string[];

  beforeAll(async () => {
    healthy = await startMemcached();
    failing = await startMemcached();
    proxy = await FaultProxy.start(failing.port);
  });
  afterAll(async () => {
    await proxy.close();
    await healthy.stop();
    await failing.stop();
  });

  beforeEach(async () => {
    proxy.setMode({ kind: 'pass' });
    await proxy.accept();
    backend = createMemcachedBackend({
      servers: [healthy.address, proxy.address],
      keyPrefix: `b${Date.now()}:`,
      timeoutMs: TIMEOUT_MS,
      maxValueBytes: MAX_VALUE_BYTES,
      // The breaker stays out of the way: every failure here is the share's own.
      breakerThreshold: 1000,
    });
    onHealthy = keysOn(backend, healthy.address, 'h');
    onFailing = keysOn(backend, proxy.address, 'f');
    await backend.setMany(
      [...onHealthy, ...onFailing].map((key) => ({ key, entry: entry(`old ${key}`) })),
      0,
    );
  });
  afterEach(() => {
    backend.close();
  });

  /** Connections to the failing server are refused from now on: nothing more is sent to it. */
  async function refuseFailing(): Promise<void> {
    proxy.resetAll(); // first: the proxy stops listening only once its connections are gone
    await proxy.refuse();
    // Let the reset reach the backend, so the next call connects anew (and is refused) instead
    // of writing on the dying socket, which would make a write's failure indeterminate.
    await sleep(50);
  }

  it('getMany throws CacheBatchError whose entries hold the healthy hits, aligned with the keys', async () => {
    await refuseFailing();
    const [h0, h1] = onHealthy as [string, string];
    const [f0] = onFailing as [string];
    const missing = keysOn(backend, healthy.address, 'missing', 1)[0]!;
    const keys = [h0, f0, h1, h0, f0, missing];
    const error = await errorOf(() => backend.getMany(keys));

    expect(error).toBeInstanceOf(CacheBatchError);
    const batch = error as CacheBatchError;
    expect(batch.code).toBe(CacheErrorCode.Backend);
    expect(batch.operation).toBe('getMany');
    expect(batch.entries?.map(textOf)).toEqual([
      `old ${h0}`,
      undefined,
      `old ${h1}`,
      `old ${h0}`,
      undefined,
      undefined,
    ]);
    expect(batch.failedKeys).toEqual([f0]);
    expect(batch.failures).toHaveLength(1);
    expect(batch.failures[0]).toBeInstanceOf(CacheBackendError);
    expect(batch.failures[0]!.message).toContain(proxy.address);
    // A read, and nothing was sent: never indeterminate.
    expect(batch.indeterminate).toBe(false);
  });

  it('setMany lists refused and failed keys in notStored; an oversized value is deleted on the healthy server', async () => {
    const [h0, h1] = onHealthy as [string, string];
    const [f0, f1] = onFailing as [string, string];
    await refuseFailing();
    const big = Buffer.alloc(MAX_VALUE_BYTES + 1, 1);
    const error = await errorOf(() =>
      backend.setMany(
        [
          { key: h0, entry: entry('new') },
          { key: h1, entry: entry(big) },
          { key: f0, entry: entry('new') },
          { key: f1, entry: entry(big) },
        ],
        0,
      ),
    );

    expect(error).toBeInstanceOf(CacheBatchError);
    const batch = error as CacheBatchError;
    expect(batch.operation).toBe('setMany');
    expect([...batch.notStored!].sort()).toEqual([h1, f0, f1].sort());
    expect([...batch.failedKeys].sort()).toEqual([f0, f1].sort());
    // One plain error per failed server, never a batch error inside a batch error.
    expect(batch.failures).toHaveLength(1);
    expect(batch.failures[0]).not.toBeInstanceOf(CacheBatchError);
    expect(batch.failures[0]!.message).toContain(proxy.address);
    expect(batch.indeterminate).toBe(false);
    expect(textOf(await backend.get(h0))).toBe('new');
    expect(await backend.get(h1)).toBeUndefined();
  });

  it('deleteMany throws CacheBatchError naming the failed keys; the healthy ones are gone', async () => {
    await refuseFailing();
    const error = await errorOf(() => backend.deleteMany([...onHealthy, ...onFailing]));

    expect(error).toBeInstanceOf(CacheBatchError);
    const batch = error as CacheBatchError;
    expect(batch.operation).toBe('deleteMany');
    expect([...batch.failedKeys].sort()).toEqual([...onFailing].sort());
    expect(batch.indeterminate).toBe(false);
    expect(await backend.getMany(onHealthy)).toEqual([undefined, undefined]);
  });

  it('a share that was sent and then timed out makes a write batch indeterminate, never a read', async () => {
    expect(textOf(await backend.get(onFailing[0]!))).toBe(`old ${onFailing[0]}`); // connected
    proxy.setMode({ kind: 'blackhole' });

    const read = await errorOf(() => backend.getMany([...onHealthy, ...onFailing]));
    expect(read).toBeInstanceOf(CacheBatchError);
    expect((read as CacheBatchError).failures[0]).toBeInstanceOf(CacheTimeoutError);
    expect((read as CacheBatchError).indeterminate).toBe(false);

    const written = await errorOf(() =>
      backend.setMany(
        [...onHealthy, ...onFailing].map((key) => ({ key, entry: entry('late') })),
        0,
      ),
    );
    expect(written).toBeInstanceOf(CacheBatchError);
    expect((written as CacheBatchError).failures[0]).toBeInstanceOf(CacheTimeoutError);
    expect((written as CacheBatchError).indeterminate).toBe(true);
    expect([...(written as CacheBatchError).notStored!].sort()).toEqual([...onFailing].sort());

    const deleted = await errorOf(() => backend.deleteMany([...onHealthy, ...onFailing]));
    expect(deleted).toBeInstanceOf(CacheBatchError);
    expect((deleted as CacheBatchError).indeterminate).toBe(true);
  });

  it('when every share failed, throws that failure itself, not a CacheBatchError', async () => {
    await refuseFailing();
    const error = await errorOf(() => backend.getMany(onFailing));
    expect(error).toBeInstanceOf(CacheBackendError);
    expect(error).not.toBeInstanceOf(CacheBatchError);
    expect((error as CacheBackendError).operation).toBe('getMany');
  });

  it('a batch in flight when the backend closes rejects with CacheClosedError', async () => {
    expect(textOf(await backend.get(onFailing[0]!))).toBe(`old ${onFailing[0]}`); // connected
    proxy.setMode({ kind: 'blackhole' });
    const pending = errorOf(() => backend.getMany([...onHealthy, ...onFailing]));
    await sleep(50); // the healthy share has answered by now
    backend.close();
    const error = await pending;
    expect(error).toBeInstanceOf(CacheClosedError);
    expect(isCacheError(error, CacheErrorCode.Closed)).toBe(true);
  });
});
