// `timeout` reaches the backend: checked against the memory backend's injected clock.
import { describe, expect, it } from 'vitest';
import { StorageLevel } from '@stowage/core';
import { cached, MIN_GENERATION_TTL_SECONDS, type CacheOptions } from '../src/index.js';
import { counted, memoryClient } from './helpers.js';

function setup(options: CacheOptions<[]>) {
  const { client, clock } = memoryClient();
  const { fn, runs } = counted(() => 'v');
  const read = cached(fn, {
    key: 'read',
    context: { client, storageLevel: StorageLevel.Service },
    ...options,
  });
  return { read, runs, clock, client };
}

describe('timeout', () => {
  it('defaults to 300 seconds, as in Q2', async () => {
    const { read, runs, clock } = setup({});
    await read();
    clock.advance(299_900);
    await read();
    expect(runs()).toBe(1);
    clock.advance(200);
    await read();
    expect(runs()).toBe(2);
  });

  it.each([
    ['timeout', { timeout: '1m' }],
    ["ttl (core's name for it)", { ttl: '1m' }],
  ] as const)('accepts a unit string as %s', async (_name, options) => {
    const { read, runs, clock } = setup(options);
    await read();
    clock.advance(59_000);
    await read();
    expect(runs()).toBe(1);
    clock.advance(1_001);
    await read();
    expect(runs()).toBe(2);
  });

  it('accepts fractions of a second', async () => {
    const { read, runs, clock } = setup({ timeout: 0.25 });
    await read();
    clock.advance(240);
    await read();
    clock.advance(20);
    await read();
    expect(runs()).toBe(2);
  });

  it('never expires with 0', async () => {
    const { read, runs, clock } = setup({ timeout: 0 });
    await read();
    clock.advance(10 * 365 * 86_400_000);
    await read();
    expect(runs()).toBe(1);
  });

  it('refuses ttl and timeout that disagree', () => {
    expect(() => setup({ ttl: 60, timeout: 60 })).not.toThrow();
    expect(() => setup({ ttl: 60, timeout: 30 })).toThrow(/`ttl` or `timeout`/);
    expect(() => setup({ ttl: -1 })).toThrow(/ttl/);
  });

  it('keeps the generation key at least a day, and forever with timeout 0', async () => {
    const short = setup({ timeout: '1m' });
    await short.read();
    const generation = () => short.client.scoped(StorageLevel.Service).get('read:version');
    short.clock.advance(MIN_GENERATION_TTL_SECONDS * 1000 - 1);
    expect(await generation()).toMatch(/^[\w-]{8}$/);
    short.clock.advance(2);
    expect(await generation()).toBeUndefined();
    // The entries of the expired generation are gone for good: the next call misses and starts a new one.
    await short.read();
    expect(short.runs()).toBe(2);
    expect(await generation()).toMatch(/^[\w-]{8}$/);

    const forever = setup({ timeout: 0 });
    await forever.read();
    forever.clock.advance(10 * 365 * 86_400_000);
    expect(await forever.client.scoped(StorageLevel.Service).get('read:version')).toMatch(
      /^[\w-]{8}$/,
    );
  });
});
