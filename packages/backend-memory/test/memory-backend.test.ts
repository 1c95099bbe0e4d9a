import {
  CacheClient,
  CacheConfigError,
  CacheErrorCode,
  CacheReturnCode,
  CacheValueError,
  getCache,
  isCacheError,
  MAX_TTL_SECONDS,
  type StoredEntry,
} from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { retainedBytes } from '@stowage/core/backend';
import {
  createBackendFromUrl,
  createMemoryBackend,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_VALUE_BYTES,
  MemoryBackend,
  type MemoryBackendOptions,
} from '../src/index.js';

const DAY_MS = 86_400_000;

function clocked(options: MemoryBackendOptions = {}): {
  backend: MemoryBackend;
  advance: (ms: number) => void;
} {
  const clock = { time: 1_000_000, now: () => clock.time };
  return {
    backend: createMemoryBackend({ clock, ...options }),
    advance: (ms) => {
      clock.time += ms;
    },
  };
}

const entry = (text: string, flags: number = CacheReturnCode.String): StoredEntry => ({
  value: Buffer.from(text, 'latin1'),
  flags,
});
const textOf = (found: StoredEntry | undefined): string | undefined =>
  found === undefined ? undefined : Buffer.from(found.value).toString('latin1');
const timers = (): number =>
  process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

describe('MemoryBackend entries', () => {
  it('keeps the entry object it was given and hands the same object back', () => {
    const { backend } = clocked();
    const written: StoredEntry = entry('"v"', CacheReturnCode.Json);
    backend.set('k', written, 0);
    expect(backend.get('k')).toBe(written);
    expect(backend.getMany(['k'])[0]).toBe(written);
    expect(backend.setAndRead('k', written, 0)).toBe(written);
  });

  it('stores a copy with unsigned flags when given signed ones', () => {
    const { backend } = clocked();
    backend.set('k', entry('v', -1), 0);
    expect(backend.get('k')?.flags).toBe(0xffffffff);
  });

  it("counts the text a client's entry keeps towards maxBytes", async () => {
    const { backend } = clocked();
    backend.set('k', entry('x'.repeat(100)), 0);
    expect(backend.bytes).toBe(100 + 1 + 64);
    // An entry the client encoded keeps its payload text too (so hits skip decoding).
    const client = new CacheClient({ backend, compress: false, ownsBackend: false });
    await client.set('k', 'x'.repeat(100));
    expect(backend.bytes).toBe(200 + 1 + 64);
  });

  it('lets a client answer hits from the text it attached, not the bytes', async () => {
    const backend = createMemoryBackend();
    const client = new CacheClient({ backend, compress: false });
    await client.set('k', { a: 1 });
    const stored = backend.get('k') as StoredEntry;
    expect(retainedBytes(stored)).toBe(2 * '{"a":1}'.length);
    // Only this test touches stored bytes (the contract forbids it): a hit decoding them would
    // not parse.
    (stored.value as Buffer).fill(0x7b);
    expect(await client.get('k')).toEqual({ a: 1 });
  });
});

describe('MemoryBackend bounds', () => {
  it('evicts the least recently used entry past maxEntries', () => {
    const { backend } = clocked({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) backend.set(key, entry(key), 0);
    backend.get('a');
    backend.set('d', entry('d'), 0);
    expect(backend.get('b')).toBeUndefined();
    expect(['a', 'c', 'd'].map((key) => textOf(backend.get(key)))).toEqual(['a', 'c', 'd']);
    expect(backend.size).toBe(3);
  });

  it('evicts the least recently used entries past maxBytes', () => {
    // Each entry counts value bytes + key length + 64: 100 + 1 + 64 = 165 bytes.
    const { backend } = clocked({ maxBytes: 500 });
    for (const key of ['a', 'b', 'c']) backend.set(key, entry('x'.repeat(100)), 0);
    expect(backend.bytes).toBe(495);
    backend.get('a');
    backend.set('d', entry('x'.repeat(100)), 0);
    expect(backend.get('b')).toBeUndefined();
    expect(backend.get('a')).toBeDefined();
    expect(backend.bytes).toBeLessThanOrEqual(500);
  });

  it('refuses a value over maxValueBytes and unlinks the old value, like memcached', () => {
    const { backend } = clocked({ maxValueBytes: 100 });
    expect(backend.set('k', entry('old'), 0)).toBe(true);
    expect(backend.set('k', entry('x'.repeat(101)), 0)).toBe(false);
    expect(backend.get('k')).toBeUndefined();
  });

  it('refuses an entry larger than maxBytes and unlinks the old value', () => {
    const { backend } = clocked({ maxBytes: 300 });
    backend.set('k', entry('old'), 0);
    expect(backend.set('k', entry('x'.repeat(400)), 0)).toBe(false);
    expect(backend.get('k')).toBeUndefined();
  });

  it('reports refused entries of a setMany as failed keys', () => {
    const { backend } = clocked({ maxValueBytes: 10 });
    const failed = backend.setMany(
      [
        { key: 'a', entry: entry('ok') },
        { key: 'b', entry: entry('far too long') },
      ],
      0,
    );
    expect(failed).toEqual(['b']);
  });

  it("uses memcached's limits and documented bounds by default", () => {
    const backend = createMemoryBackend();
    expect(backend.limits).toEqual({ maxKeyBytes: 250, maxValueBytes: DEFAULT_MAX_VALUE_BYTES });
    expect(DEFAULT_MAX_VALUE_BYTES).toBe(1024 * 1024 - 512);
    expect(DEFAULT_MAX_ENTRIES).toBe(10_000);
    expect(DEFAULT_MAX_BYTES).toBe(64 * 1024 * 1024);
  });

  it('makes the client refuse a value over maxValueBytes before calling the backend', async () => {
    const client = new CacheClient({
      backend: createMemoryBackend({ maxValueBytes: 50 }),
      compress: false,
    });
    await expect(client.set('k', 'x'.repeat(51))).rejects.toThrow(CacheValueError);
  });

  it.each<[string, MemoryBackendOptions]>([
    ['maxEntries 0', { maxEntries: 0 }],
    ['maxBytes -1', { maxBytes: -1 }],
    ['maxValueBytes 1.5', { maxValueBytes: 1.5 }],
    ['maxKeyBytes NaN', { maxKeyBytes: Number.NaN }],
    ['a clock without now', { clock: {} as never }],
  ])('refuses %s with CacheConfigError', (_name, options) => {
    expect(() => createMemoryBackend(options)).toThrow(CacheConfigError);
  });
});

describe('MemoryBackend TTL', () => {
  it('expires entries on the injected clock, to the millisecond', () => {
    // lru-cache keeps an entry through its whole TTL and drops it the millisecond after.
    const { backend, advance } = clocked();
    backend.set('k', entry('v'), 1.5);
    advance(1_500);
    expect(textOf(backend.get('k'))).toBe('v');
    advance(1);
    expect(backend.get('k')).toBeUndefined();
  });

  it('rounds a sub-millisecond TTL up to 1 ms instead of "never expires"', () => {
    const { backend, advance } = clocked();
    backend.set('k', entry('v'), 0.0001);
    expect(backend.get('k')).toBeDefined();
    advance(2);
    expect(backend.get('k')).toBeUndefined();
  });

  it('keeps a TTL of 0 for ever', () => {
    const { backend, advance } = clocked();
    backend.set('k', entry('v'), 0);
    advance(3650 * DAY_MS);
    expect(backend.get('k')).toBeDefined();
  });

  it('keeps a TTL of 2^31 ms and more exact, without TimeoutOverflowWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const { backend, advance } = clocked();
      backend.set('month', entry('v'), 30 * 86_400); // 2.592e9 ms > 2^31 − 1
      backend.set('max', entry('v'), MAX_TTL_SECONDS);
      advance(29 * DAY_MS);
      expect(backend.get('month')).toBeDefined();
      advance(2 * DAY_MS);
      expect(backend.get('month')).toBeUndefined();
      expect(backend.get('max')).toBeDefined();
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('creates no timers, however many TTL entries it holds', () => {
    const before = timers();
    const backend = createMemoryBackend({ maxEntries: 5_000 });
    for (let i = 0; i < 3_000; i++) {
      backend.set(`k${i}`, entry('v'), [1, 0.5, 30 * 86_400, MAX_TTL_SECONDS][i % 4] as number);
    }
    backend.touch('k1', 60);
    backend.set('n', entry('1', CacheReturnCode.Integer), 30 * 86_400);
    backend.incr('n', 1n);
    expect(timers()).toBe(before);
  });

  it('resets the TTL on touch and keeps it on incr', () => {
    const { backend, advance } = clocked();
    backend.set('n', entry('1', CacheReturnCode.Integer), 10);
    advance(5_000);
    expect(backend.incr('n', 1n)).toBe(2n);
    advance(5_001);
    expect(backend.get('n')).toBeUndefined();
    backend.set('t', entry('v'), 10);
    advance(9_000);
    expect(backend.touch('t', 10)).toBe(true);
    advance(9_000);
    expect(backend.get('t')).toBeDefined();
  });

  it('answers false when deleting an entry that has expired, as memcached does', () => {
    const { backend, advance } = clocked();
    backend.set('k', entry('v'), 1);
    advance(2_000);
    expect(backend.delete('k')).toBe(false);
  });

  it('treats an expired entry as absent for add and touch', () => {
    const { backend, advance } = clocked();
    backend.set('k', entry('old'), 1);
    advance(2_000);
    expect(backend.touch('k', 10)).toBe(false);
    expect(backend.add('k', entry('new'), 0)).toBe(true);
    expect(textOf(backend.get('k'))).toBe('new');
  });
});

describe('MemoryBackend counters', () => {
  it('wraps incr at 2^64 and stops decr at 0, like memcached', () => {
    const { backend } = clocked();
    backend.set('n', entry('18446744073709551615', CacheReturnCode.Integer), 0);
    expect(backend.incr('n', 2n)).toBe(1n);
    expect(backend.decr('n', 5n)).toBe(0n);
  });

  it("keeps the entry's flags", () => {
    const { backend } = clocked();
    backend.set('n', entry('5', 77), 0);
    backend.incr('n', 1n);
    expect(backend.get('n')?.flags).toBe(77);
  });

  it("reads memcached decr's space padding", () => {
    const { backend } = clocked();
    backend.set('n', entry('9 ', CacheReturnCode.Integer), 0);
    expect(backend.incr('n', 1n)).toBe(10n);
  });

  it.each([['abc'], ['-1'], ['1.5'], ['18446744073709551616'], ['']])(
    'throws CacheValueError for the value %j',
    (text) => {
      const { backend } = clocked();
      backend.set('n', entry(text), 0);
      expect(() => backend.incr('n', 1n)).toThrow(CacheValueError);
    },
  );

  it('answers undefined on a miss', () => {
    const { backend } = clocked();
    expect(backend.incr('absent', 1n)).toBeUndefined();
  });
});

describe('MemoryBackend.flush', () => {
  it('removes everything now with a delay of 0', () => {
    const { backend } = clocked();
    backend.set('a', entry('v'), 0);
    backend.flush(0);
    expect(backend.get('a')).toBeUndefined();
  });

  it('removes everything once a delay has passed, including entries written meanwhile', () => {
    const { backend, advance } = clocked();
    backend.set('before', entry('v'), 0);
    backend.flush(10);
    advance(5_000);
    backend.set('meanwhile', entry('v'), 0);
    advance(4_999);
    expect(backend.get('before')).toBeDefined();
    expect(backend.get('meanwhile')).toBeDefined();
    advance(1);
    expect(backend.get('before')).toBeUndefined();
    expect(backend.get('meanwhile')).toBeUndefined();
    backend.set('after', entry('v'), 0);
    expect(backend.get('after')).toBeDefined();
  });

  it('honours a delayed flush through the client', async () => {
    const clock = { time: 1_000_000, now: () => clock.time };
    const client = new CacheClient({ backend: createMemoryBackend({ clock }) });
    await client.set('k', 1);
    await client.flushAll({ delaySeconds: 30 });
    expect(await client.get('k')).toBe(1);
    clock.time += 30_000;
    expect(await client.get('k')).toBeUndefined();
  });
});

describe('MemoryBackend.close', () => {
  it('is idempotent and makes later calls throw E_CACHE_CLOSED', () => {
    const backend = createMemoryBackend();
    backend.set('k', entry('v'), 0);
    backend.close();
    backend.close();
    expect(() => backend.get('k')).toThrow(
      expect.objectContaining({ code: CacheErrorCode.Closed }) as Error,
    );
    let thrown: unknown;
    try {
      backend.set('k', entry('v'), 0);
    } catch (error) {
      thrown = error;
    }
    expect(isCacheError(thrown, CacheErrorCode.Closed)).toBe(true);
  });
});

describe('createBackendFromUrl', () => {
  it('creates a backend with the default limits from memory://', () => {
    const backend = createBackendFromUrl(new URL('memory://'), { timeoutMs: 1000 });
    expect(backend).toBeInstanceOf(MemoryBackend);
    expect(backend.limits).toEqual({ maxKeyBytes: 250, maxValueBytes: DEFAULT_MAX_VALUE_BYTES });
  });

  it('reads numeric options from the query', () => {
    const backend = createBackendFromUrl(
      new URL('memory://?maxEntries=2&maxBytes=100000&maxValueBytes=500&maxKeyBytes=100'),
      { timeoutMs: 1000 },
    );
    expect(backend.limits).toEqual({ maxKeyBytes: 100, maxValueBytes: 500 });
    for (const key of ['a', 'b', 'c']) backend.set(key, entry(key), 0);
    expect(backend.size).toBe(2);
    expect(backend.get('a')).toBeUndefined();
  });

  it.each<[string, RegExp]>([
    ['memory://?maxEntrys=5', /unknown memory:\/\/ option 'maxEntrys'/],
    ['memory://?maxEntries=0', /'maxEntries' must be a positive integer/],
    ['memory://?maxBytes=-1', /'maxBytes' must be a positive integer/],
    ['memory://?maxValueBytes=1.5', /'maxValueBytes'/],
    ['memory://?maxKeyBytes=abc', /'maxKeyBytes'/],
    ['memory://?maxEntries=', /'maxEntries'/],
    ['redis://localhost', /needs a memory:\/\/ URL/],
  ])('refuses %s with CacheConfigError', (url, message) => {
    expect(() => createBackendFromUrl(new URL(url), { timeoutMs: 1000 })).toThrow(CacheConfigError);
    expect(() => createBackendFromUrl(new URL(url), { timeoutMs: 1000 })).toThrow(message);
  });

  it('is what getCache loads for memory:// by default', async () => {
    const cache = await getCache({ env: { CACHE_URL: 'memory://?maxValueBytes=4096' } });
    expect(cache.backend.name).toBe('memory');
    expect(cache.backend.limits.maxValueBytes).toBe(4096);
    await cache.set('k', { works: true });
    expect(await cache.get('k')).toEqual({ works: true });
    await cache.close();
  });
});
