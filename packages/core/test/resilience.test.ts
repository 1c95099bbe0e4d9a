// Grace, stale-while-revalidate, soft and hard timeouts, negative caching and jitter in getOrSet.
// One clock drives both the client's freshness checks and the store's expiry; several clients on
// one store stand for several processes.
import { describe, expect, it } from 'vitest';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import {
  CacheClient,
  CacheConfigError,
  CacheErrorCode,
  CacheReturnCode,
  CacheTimeoutError,
  GRACE_FLAGS,
  NOT_FOUND_FLAGS,
  type CacheClientOptions,
  type CacheError,
  type WarningEvent,
} from '../src/index.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A manual clock, in epoch milliseconds. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_700_000_000_000;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

function setup(options: Omit<CacheClientOptions, 'backend' | 'now'> = {}): {
  clock: ReturnType<typeof manualClock>;
  store: RecordingBackend;
  client: (extra?: Omit<CacheClientOptions, 'backend' | 'now'>) => CacheClient;
} {
  const clock = manualClock();
  const store = new RecordingBackend({
    async: true,
    setIf: true,
    deleteIf: true,
    setAndRead: true,
    now: clock.now,
  });
  const client = (extra = {}): CacheClient =>
    new CacheClient({ ...options, ...extra, backend: store, now: clock.now, ownsBackend: false });
  return { clock, store, client };
}

/** A store behind a fault injector (to take it down), on a manual clock. */
function faultyStore(): {
  clock: ReturnType<typeof manualClock>;
  inner: RecordingBackend;
  backend: FaultBackend;
} {
  const clock = manualClock();
  const inner = new RecordingBackend({ async: true, setIf: true, deleteIf: true, now: clock.now });
  return { clock, inner, backend: new FaultBackend(inner) };
}

/** Stores `value` with ttl 10 s and grace 60 s, then moves past the ttl. */
async function staleEntry(client: CacheClient, clock: { advance: (ms: number) => void }) {
  await client.getOrSet('k', () => 'old', { ttl: 10, grace: 60 });
  clock.advance(11_000);
}

describe('grace', () => {
  it('stores a graced entry behind its header, readable while fresh, a miss to get once stale', async () => {
    const { clock, store, client } = setup();
    const cache = client();
    await cache.getOrSet('k', () => ({ a: 1 }), { ttl: 10, grace: 60 });
    const stored = store.peek(cache.fullKey('k'));
    expect(stored?.flags).toBe(GRACE_FLAGS);
    expect(store.calls.at(-1)?.ttl).toBe(70); // ttl + grace: the server keeps it through grace
    expect(await cache.get('k')).toEqual({ a: 1 });
    clock.advance(11_000);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.getEntry('k')).toMatchObject({ status: 'stale', value: { a: 1 } });
  });

  it('leaves entries without grace byte-for-byte Q2 entries', async () => {
    const { store, client } = setup();
    const cache = client();
    await cache.getOrSet('k', () => 'plain', { ttl: 10 });
    const stored = store.peek(cache.fullKey('k'));
    expect(stored?.flags).toBe(CacheReturnCode.String);
    expect(Buffer.from(stored?.value ?? []).toString()).toBe('plain');
  });

  it('refreshes a stale entry when the factory succeeds', async () => {
    const { clock, client } = setup();
    const cache = client();
    await staleEntry(cache, clock);
    expect(await cache.getOrSet('k', () => 'new', { ttl: 10, grace: 60 })).toBe('new');
    expect(await cache.getEntry('k')).toMatchObject({ status: 'hit', value: 'new' });
  });

  it('serves the stale value when the factory throws, and reports it', async () => {
    const { clock, client } = setup();
    const cache = client();
    const warnings: WarningEvent[] = [];
    cache.on('warning', (event) => warnings.push(event));
    await staleEntry(cache, clock);
    const errors: CacheError[] = [];
    const value = await cache.getOrSet(
      'k',
      () => {
        throw new Error('upstream 503');
      },
      { ttl: 10, grace: 60, onError: (error) => errors.push(error) },
    );
    expect(value).toBe('old');
    expect(errors.map((error) => error.code)).toEqual([CacheErrorCode.Factory]);
    expect((errors[0]?.cause as Error).message).toBe('upstream 503');
    expect(warnings.map((warning) => warning.kind)).toEqual(['factory']);
    expect(cache.stats().staleServed).toBe(1);
    // The refresh lease was given back: the next call tries again at once.
    expect(await cache.getOrSet('k', () => 'new', { ttl: 10, grace: 60 })).toBe('new');
  });

  it('without a stale value the factory error reaches the caller', async () => {
    const { client } = setup();
    await expect(
      client().getOrSet(
        'k',
        () => {
          throw new Error('boom');
        },
        { grace: 60, ttl: 10 },
      ),
    ).rejects.toThrow('boom');
  });

  it('serves the last good value when the backend is down', async () => {
    const { clock, backend } = faultyStore();
    const cache = new CacheClient({ backend, now: clock.now });
    await cache.getOrSet('k', () => 'good', { ttl: 10, grace: 60 });
    backend.mode = { kind: 'alwaysReject', error: new Error('ECONNREFUSED') };
    clock.advance(11_000);
    let runs = 0;
    const value = await cache.getOrSet(
      'k',
      () => {
        runs++;
        return 'fresh';
      },
      { ttl: 10, grace: 60, onError: () => {} },
    );
    expect([value, runs]).toEqual(['good', 0]);
    clock.advance(60_000); // grace over: nothing left to serve
    expect(await cache.getOrSet('k', () => 'fresh', { grace: 60, onError: () => {} })).toBe(
      'fresh',
    );
  });
});

describe('the last good value', () => {
  it('hands each caller served during an outage a copy of its own', async () => {
    const { clock, backend } = faultyStore();
    const cache = new CacheClient({ backend, now: clock.now });
    const options = { ttl: 10, grace: 60, onError: () => {} };
    const computed = await cache.getOrSet('k', () => ({ tags: ['a'] }), options);
    computed.tags.push('changed by the first caller'); // the caller owns what it was given
    backend.mode = { kind: 'alwaysReject', error: new Error('ECONNREFUSED') };
    clock.advance(11_000);
    const first = await cache.getOrSet('k', () => ({ tags: ['fresh'] }), options);
    expect(first).toEqual({ tags: ['a'] });
    first.tags.push('changed by the second caller');
    const second = await cache.getOrSet('k', () => ({ tags: ['fresh'] }), options);
    expect(second).toEqual({ tags: ['a'] });
    expect(second).not.toBe(first);
    expect(cache.stats().staleServed).toBe(2);
  });

  it('serves a copy of a graced value it read, not the object the reader got', async () => {
    const { clock, inner, backend } = faultyStore();
    const writer = new CacheClient({ backend: inner, now: clock.now, ownsBackend: false });
    await writer.getOrSet('k', () => ({ n: 1 }), { ttl: 10, grace: 60 });
    const cache = new CacheClient({ backend, now: clock.now });
    const options = { ttl: 10, grace: 60, onError: () => {} };
    clock.advance(11_000); // stale: the read remembers the value for outages
    const failing = (): { n: number } => {
      throw new Error('the source is down'); // so the stale value is served and nothing stored
    };
    const read = await cache.getOrSet('k', failing, options);
    expect(read).toEqual({ n: 1 });
    read.n = 99;
    backend.mode = { kind: 'alwaysReject', error: new Error('ECONNREFUSED') };
    expect(await cache.getOrSet('k', () => ({ n: 3 }), options)).toEqual({ n: 1 });
  });

  it('is forgotten when this process deletes the key, even if the delete timed out', async () => {
    const { clock, backend } = faultyStore();
    const cache = new CacheClient({ backend, now: clock.now, quarantineMs: 0 });
    await cache.getOrSet('k', () => 'old', { ttl: 1, grace: 60 });
    backend.mode = { kind: 'alwaysReject', error: new Error('ETIMEDOUT') };
    await expect(cache.delete('k')).rejects.toMatchObject({ code: CacheErrorCode.Backend });
    const value = await cache.getOrSet('k', () => 'computed', {
      ttl: 1,
      grace: 60,
      onError: () => {},
    });
    expect(value).toBe('computed');
  });
});

describe('TTL limits', () => {
  it('never lets jitter or grace push a TTL past the longest one accepted', async () => {
    const { store, client } = setup({ jitter: 0.5 });
    const cache = client();
    for (let i = 0; i < 20; i++)
      await cache.set(`k${i}`, i, { ttl: 2 ** 31 - 1, skipIntegrityCheck: true });
    await cache.getOrSet('g', () => 1, { ttl: 2 ** 31 - 1, grace: 3600 });
    const ttls = store.calls
      .filter((call) => call.op === 'set' || call.op === 'setIf')
      .map((call) => call.ttl as number);
    expect(ttls).toHaveLength(21);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(2 ** 31 - 1);
  });
});

describe('timeouts', () => {
  it('hardTimeout aborts the signal and rejects with CacheTimeoutError when nothing is stale', async () => {
    const { store, client } = setup();
    const cache = client();
    let aborted: unknown;
    const pending = cache.getOrSet(
      'k',
      ({ signal }) =>
        new Promise<string>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = signal.reason;
          });
          setTimeout(() => resolve('late'), 200);
        }),
      { hardTimeout: '40ms' },
    );
    const error: unknown = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheTimeoutError);
    expect(aborted).toBe(error);
    await sleep(200);
    expect(store.peek(cache.fullKey('k'))).toBeUndefined(); // the late result is not stored
  });

  it('hardTimeout with a stale value serves it', async () => {
    const { clock, client } = setup();
    const cache = client();
    await staleEntry(cache, clock);
    let sawAbort = false;
    const value = await cache.getOrSet(
      'k',
      ({ signal, stale }) =>
        new Promise<string>((resolve) => {
          expect(stale).toBe('old');
          signal.addEventListener('abort', () => {
            sawAbort = true;
          });
          setTimeout(() => resolve('late'), 200);
        }),
      { ttl: 10, grace: 60, hardTimeout: 0.04, onError: () => {} },
    );
    expect([value, sawAbort]).toEqual(['old', true]);
  });

  it('softTimeout serves stale and lets the factory finish and store in the background', async () => {
    const { clock, client } = setup();
    const cache = client();
    await staleEntry(cache, clock);
    const started = performance.now();
    const value = await cache.getOrSet(
      'k',
      async () => {
        await sleep(120);
        return 'new';
      },
      { ttl: 10, grace: 60, softTimeout: '30ms' },
    );
    expect(value).toBe('old');
    expect(performance.now() - started).toBeLessThan(110);
    await sleep(150);
    expect(await cache.get('k')).toBe('new');
  });

  it('refuses a softTimeout longer than the hardTimeout, and bad durations, before any I/O', async () => {
    const { store, client } = setup();
    const cache = client();
    await expect(
      cache.getOrSet('k', () => 1, { softTimeout: 2, hardTimeout: 1 }),
    ).rejects.toBeInstanceOf(CacheConfigError);
    await expect(cache.getOrSet('k', () => 1, { grace: -1 })).rejects.toBeInstanceOf(
      CacheConfigError,
    );
    await expect(cache.getOrSet('k', () => 1, { jitter: 1 })).rejects.toBeInstanceOf(
      CacheConfigError,
    );
    expect(store.calls).toHaveLength(0);
    expect(() => client({ jitter: -0.1 })).toThrow(CacheConfigError);
  });
});

describe('staleWhileRevalidate', () => {
  it('answers stale at once; exactly one refresh runs across three processes', async () => {
    const { clock, client } = setup();
    const [a, b, c] = [client(), client(), client()];
    await staleEntry(a, clock);
    let refreshes = 0;
    const factory = async (): Promise<string> => {
      refreshes++;
      await sleep(50);
      return 'new';
    };
    const options = { ttl: 10, grace: 60, staleWhileRevalidate: true };
    const started = performance.now();
    const answers = await Promise.all(
      [a, b, c].flatMap((cache) => [
        cache.getOrSet('k', factory, options),
        cache.getOrSet('k', factory, options),
      ]),
    );
    expect(performance.now() - started).toBeLessThan(45);
    expect(answers).toEqual(Array.from({ length: 6 }, () => 'old'));
    await sleep(100);
    expect(refreshes).toBe(1);
    expect(await b.getEntry('k')).toMatchObject({ status: 'hit', value: 'new' });
  });

  it('a failed background refresh goes to onError, never to an unhandled rejection', async () => {
    const { clock, client } = setup();
    const cache = client();
    await staleEntry(cache, clock);
    const errors: CacheError[] = [];
    const value = await cache.getOrSet(
      'k',
      async () => {
        await sleep(10);
        throw new Error('refresh failed');
      },
      { ttl: 10, grace: 60, staleWhileRevalidate: true, onError: (e) => errors.push(e) },
    );
    expect(value).toBe('old');
    await sleep(40);
    expect(errors.map((e) => e.code)).toEqual([CacheErrorCode.Factory]);
  });

  it('close() aborts a background refresh and waits for it', async () => {
    const { clock, store, client } = setup();
    const cache = client();
    await staleEntry(cache, clock);
    let aborted = false;
    await cache.getOrSet(
      'k',
      ({ signal }) =>
        new Promise<string>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
          });
          setTimeout(() => resolve('new'), 500);
        }),
      { ttl: 10, grace: 60, staleWhileRevalidate: true, onError: () => {} },
    );
    const closing = performance.now();
    await cache.close();
    expect(aborted).toBe(true);
    expect(performance.now() - closing).toBeLessThan(400);
    const reader = client();
    // The stamp was put back: the stale value is still there for the next process.
    expect(await reader.getEntry('k')).toMatchObject({ status: 'stale', value: 'old' });
    expect(store.ops).toContain('setIf');
  });
});

describe('negativeTtl', () => {
  it('remembers undefined as "not found" for its own TTL', async () => {
    const { clock, store, client } = setup();
    const cache = client();
    let runs = 0;
    const lookup = (): Promise<string | undefined> =>
      cache.getOrSet(
        'user:404',
        () => {
          runs++;
          return undefined;
        },
        { ttl: 300, negativeTtl: 5 },
      );
    expect(await lookup()).toBeUndefined();
    expect(await lookup()).toBeUndefined();
    expect(runs).toBe(1);
    expect(store.peek(cache.fullKey('user:404'))?.flags).toBe(NOT_FOUND_FLAGS);
    expect(await cache.get('user:404', 'default')).toBe('default');
    expect(await cache.getEntry('user:404')).toEqual({ status: 'notFound' });
    clock.advance(6_000);
    expect(await lookup()).toBeUndefined();
    expect(runs).toBe(2);
  });

  it('a refresh that finds nothing deletes the stale copy (without negativeTtl)', async () => {
    const { clock, client } = setup();
    const cache = client();
    await staleEntry(cache, clock);
    expect(await cache.getOrSet('k', () => undefined, { ttl: 10, grace: 60 })).toBeUndefined();
    expect(await cache.getEntry('k')).toEqual({ status: 'miss' });
  });
});

describe('jitter', () => {
  it("spreads 10,000 writes' TTLs over the ±10 % band", async () => {
    const { store, client } = setup({ jitter: 0.1 });
    const cache = client();
    for (let i = 0; i < 10_000; i++)
      await cache.set(`k${i}`, i, { ttl: 100, skipIntegrityCheck: true });
    const ttls = store.calls.filter((call) => call.op === 'set').map((call) => call.ttl as number);
    expect(ttls).toHaveLength(10_000);
    expect(Math.min(...ttls)).toBeGreaterThanOrEqual(90);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(110);
    expect(Math.min(...ttls)).toBeLessThan(91);
    expect(Math.max(...ttls)).toBeGreaterThan(109);
    // Spread over the band, not bunched: each tenth of it holds about a tenth of the writes.
    const deciles = Array.from({ length: 10 }, () => 0);
    for (const ttl of ttls) deciles[Math.min(9, Math.floor(ttl - 90) >> 1)]!++;
    for (const count of deciles) expect(count).toBeGreaterThan(800);
  });

  it('applies a call’s jitter to getOrSet writes, and never to TTL 0', async () => {
    const { store, client } = setup();
    const cache = client();
    await cache.getOrSet('a', () => 1, { ttl: 100, jitter: 0.5, skipIntegrityCheck: true });
    await cache.getOrSet('b', () => 1, { ttl: 0, jitter: 0.5 });
    const [a, b] = store.calls.filter((call) => call.op === 'setIf').map((call) => call.ttl);
    expect(a).not.toBe(100);
    expect(a).toBeGreaterThanOrEqual(50);
    expect(a).toBeLessThanOrEqual(150);
    expect(b).toBe(0);
  });
});

describe('cacheIf', () => {
  it('returns a refused result without storing it', async () => {
    const { store, client } = setup();
    const cache = client();
    const value = await cache.getOrSet('k', () => ({ partial: true }), {
      cacheIf: (result) => !result.partial,
    });
    expect(value).toEqual({ partial: true });
    expect(store.peek(cache.fullKey('k'))).toBeUndefined();
  });
});
