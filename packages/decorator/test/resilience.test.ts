// Grace, stale-while-revalidate, timeouts and negative caching through `cached`: the options go
// to core's getOrSet as given. One manual clock drives the client and the memory backend.
import { setTimeout as sleep } from 'node:timers/promises';
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient, CacheConfigError, CacheErrorCode, StorageLevel } from '@stowage/core';
import { afterEach, describe, expect, it } from 'vitest';
import { cached } from '../src/index.js';
import { errorLog, manualClock } from './helpers.js';

const clients: CacheClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

function setup(): {
  clock: ReturnType<typeof manualClock>;
  context: { client: CacheClient; storageLevel: StorageLevel };
} {
  const clock = manualClock(1_700_000_000_000);
  const client = new CacheClient({
    backend: createMemoryBackend({ clock }),
    now: clock.now,
    service: 'billing',
  });
  clients.push(client);
  return { clock, context: { client, storageLevel: StorageLevel.Service } };
}

describe('@stowage/decorator resilience options', () => {
  it('grace: serves the last value when the function throws after the timeout', async () => {
    const { clock, context } = setup();
    const log = errorLog();
    let fail = false;
    let runs = 0;
    const rate = cached(
      async (currency: string) => {
        runs++;
        if (fail) throw new Error('rates API down');
        return `${currency}:${runs}`;
      },
      { key: 'rate', timeout: 10, grace: '1m', context, onError: log.onError },
    );
    expect(await rate('EUR')).toBe('EUR:1');
    clock.advance(11_000);
    fail = true;
    expect(await rate('EUR')).toBe('EUR:1');
    expect(log.codes()).toEqual([CacheErrorCode.Factory]);
    fail = false;
    expect(await rate('EUR')).toBe('EUR:3');
  });

  it('staleWhileRevalidate: answers stale at once and refreshes behind', async () => {
    const { clock, context } = setup();
    let runs = 0;
    const read = cached(
      async () => {
        runs++;
        await sleep(30);
        return runs;
      },
      { key: 'swr', timeout: 10, grace: 60, staleWhileRevalidate: true, context },
    );
    expect(await read()).toBe(1);
    clock.advance(11_000);
    const started = performance.now();
    expect(await read()).toBe(1);
    expect(performance.now() - started).toBeLessThan(25);
    await sleep(60);
    expect(await read()).toBe(2);
  });

  it('negativeTtl: undefined is remembered; null still is not without cacheNullish', async () => {
    const { clock, context } = setup();
    let runs = 0;
    const find = cached(
      async (id: string) => {
        runs++;
        return id === 'none' ? undefined : null;
      },
      { key: 'find', negativeTtl: 5, context },
    );
    expect(await find('none')).toBeUndefined();
    expect(await find('none')).toBeUndefined();
    expect(runs).toBe(1);
    expect(await find('null')).toBeNull();
    expect(await find('null')).toBeNull();
    expect(runs).toBe(3);
    clock.advance(6_000);
    await find('none');
    expect(runs).toBe(4);
  });

  it('hardTimeout: a slow function settles the call with CacheTimeoutError', async () => {
    const { context } = setup();
    const slow = cached(
      async () => {
        await sleep(300);
        return 'late';
      },
      { key: 'slow', hardTimeout: '30ms', context },
    );
    const started = performance.now();
    await expect(slow()).rejects.toMatchObject({ code: CacheErrorCode.Timeout });
    expect(performance.now() - started).toBeLessThan(250);
  });

  it('rejects bad resilience options where the function is wrapped', () => {
    expect(() => cached(async () => 1, { grace: -1 })).toThrow(CacheConfigError);
    expect(() => cached(async () => 1, { jitter: 2 })).toThrow(/jitter/);
    expect(() => cached(async () => 1, { softTimeout: 5, hardTimeout: 1 })).toThrow(/softTimeout/);
  });
});
