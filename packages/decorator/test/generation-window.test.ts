// `generationWindow`: a hit under a generation token read or written within the window reads only
// its entry. Another process's invalidateAll may be missed for at most the window, never longer;
// this process's own invalidateAll, and any miss, are never served from the trusted token.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CacheClient, StorageLevel, type CacheBackend } from '@stowage/core';
import { createMemoryBackend, type MemoryBackend } from '@stowage/backend-memory';
import {
  cached,
  invalidate,
  invalidateAll,
  runWithCacheScope,
  type CacheOptions,
} from '../src/index.js';
import { FaultBackend } from '@stowage/testkit';
import { FaultyBackend, manualClock } from './helpers.js';

const WINDOW_MS = 2_000;
const clients: CacheClient[] = [];

// The window is measured with `performance.now()`; only that clock is faked, so the clients'
// timers and the memory backend (its own injected clock) run as usual.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['performance'] });
});
afterEach(async () => {
  vi.useRealTimers();
  for (const client of clients.splice(0)) await client.close();
});

/** Two root clients over one memory backend, as two processes of one service would be. */
function twoProcesses(): { a: CacheClient; b: CacheClient; backend: MemoryBackend } {
  const backend = createMemoryBackend({ clock: manualClock() });
  const a = new CacheClient({ backend, service: 'billing', ownsBackend: false });
  const b = new CacheClient({ backend, service: 'billing', ownsBackend: false });
  clients.push(a, b);
  return { a, b, backend };
}

/**
 * Two processes reading one source: `inA` with the generation window, `inB` without. The source
 * starts as `'old'`.
 */
function windowedPair(): {
  source: { value: string };
  inA: ReturnType<typeof reader>;
  inB: ReturnType<typeof reader>;
} {
  const { a, b } = twoProcesses();
  const source = { value: 'old' };
  return {
    source,
    inA: reader(a, source, { generationWindow: `${WINDOW_MS}ms` }),
    inB: reader(b, source),
  };
}

/** A source whose value the test changes, and a Service-level cached read of it on `client`. */
function reader(
  client: CacheClient,
  source: { value: string },
  options: CacheOptions<[id: string]> = {},
): { read: (id: string) => Promise<string>; runs: () => number } {
  let runs = 0;
  const read = cached(
    async (id: string) => {
      runs++;
      return `${source.value}:${id}`;
    },
    {
      key: 'rates',
      context: { client, storageLevel: StorageLevel.Service },
      timeout: 0,
      ...options,
    },
  );
  return { read, runs: () => runs };
}

/** Counts the backend reads a call makes. */
function countReads(backend: MemoryBackend): () => { get: number; getMany: number } {
  const get = vi.spyOn(backend, 'get');
  const getMany = vi.spyOn(backend, 'getMany');
  return () => {
    const counts = { get: get.mock.calls.length, getMany: getMany.mock.calls.length };
    get.mockClear();
    getMany.mockClear();
    return counts;
  };
}

/**
 * A backend whose `getMany` answers, while `hold` is on, what the store held when it was called,
 * but only at `deliver()`: a read served before a write and delivered after it.
 */
class LateReads extends FaultBackend<CacheBackend> {
  hold = false;
  readonly #late: Array<() => void> = [];

  override getMany(keys: readonly string[]): ReturnType<CacheBackend['getMany']> {
    const answer = super.getMany(keys);
    if (!this.hold) return answer;
    return new Promise((resolve) => this.#late.push(() => resolve(answer)));
  }

  /** Reads answered and not delivered yet. */
  get held(): number {
    return this.#late.length;
  }

  deliver(): void {
    for (const resolve of this.#late.splice(0)) resolve();
  }
}

describe('generationWindow', () => {
  it("sees another process's invalidateAll within the window, and never serves the old entries after it", async () => {
    const { source, inA, inB } = windowedPair();
    expect(await inA.read('EUR')).toBe('old:EUR'); // creates the generation: trusted from here
    source.value = 'new';
    await invalidateAll(inB.read); // process B moves the generation
    vi.advanceTimersByTime(WINDOW_MS - 1);
    // Within the window A may still serve what it cached under the token it trusts.
    expect(await inA.read('EUR')).toBe('old:EUR');
    vi.advanceTimersByTime(1);
    // From the end of the window on, A reads the token again and never serves the old entry.
    expect(await inA.read('EUR')).toBe('new:EUR');
    vi.advanceTimersByTime(WINDOW_MS * 10);
    expect(await inA.read('EUR')).toBe('new:EUR');
    expect(inA.runs()).toBe(2);
  });

  it('counts the window from the last read of the token, not from the last hit', async () => {
    const { source, inA, inB } = windowedPair();
    await inA.read('EUR');
    // Hits within the window do not read the token, so they cannot extend the trust.
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(WINDOW_MS / 4 - 1);
      expect(await inA.read('EUR')).toBe('old:EUR');
    }
    source.value = 'new';
    await invalidateAll(inB.read);
    vi.advanceTimersByTime(4); // WINDOW_MS since the token was written
    expect(await inA.read('EUR')).toBe('new:EUR');
  });

  it('sees its own invalidateAll at once, through any function of the same name', async () => {
    const { a } = twoProcesses();
    const source = { value: 'old' };
    const first = reader(a, source, { generationWindow: `${WINDOW_MS}ms` });
    const second = reader(a, source, { generationWindow: `${WINDOW_MS}ms` });
    expect(await first.read('EUR')).toBe('old:EUR');
    expect(await second.read('EUR')).toBe('old:EUR'); // the same entry: a hit
    source.value = 'new';
    await invalidateAll(first.read);
    expect(await first.read('EUR')).toBe('new:EUR');
    expect(await second.read('EUR')).toBe('new:EUR');
    expect(first.runs() + second.runs()).toBe(2);
  });

  it('sees an invalidate(args) from another process at once', async () => {
    const { source, inA, inB } = windowedPair();
    await inA.read('EUR');
    source.value = 'new';
    expect(await invalidate(inB.read, 'EUR')).toBe(true);
    expect(await inA.read('EUR')).toBe('new:EUR');
  });

  it('sees its own invalidate(args) at once, also after another process moved the generation', async () => {
    const { source, inA, inB } = windowedPair();
    await inA.read('EUR'); // A trusts the first token
    source.value = 'new';
    await invalidateAll(inB.read); // B moves the generation…
    expect(await inB.read('EUR')).toBe('new:EUR'); // …and caches under it
    source.value = 'newer';
    // A deletes the entry under the generation the cache holds, and trusts that one from now on.
    expect(await invalidate(inA.read, 'EUR')).toBe(true);
    expect(await inA.read('EUR')).toBe('newer:EUR');
  });

  it('trusts no token after its own invalidateAll failed, since the write may have landed', async () => {
    const backend = new FaultyBackend(createMemoryBackend({ clock: manualClock() }));
    const client = new CacheClient({ backend, service: 'billing', timeoutMs: 50 });
    clients.push(client);
    const source = { value: 'old' };
    const { read } = reader(client, source, { generationWindow: `${WINDOW_MS}ms` });
    await read('EUR');
    backend.only.add('set').add('setAndRead');
    backend.fault = 'hold'; // the new token's write is on its way when the deadline ends
    source.value = 'new';
    await expect(invalidateAll(read)).rejects.toThrow();
    backend.release(); // …and lands
    backend.fault = 'none';
    expect(await read('EUR')).toBe('new:EUR');
  });

  it('reads the token again on a miss, so a result is stored under the current generation', async () => {
    const { source, inA, inB } = windowedPair();
    await inA.read('EUR');
    source.value = 'new';
    await invalidateAll(inB.read);
    // A still trusts the old token, but 'USD' is a miss under it: A reads the token, runs the
    // function and stores under B's new generation, where B finds it.
    expect(await inA.read('USD')).toBe('new:USD');
    expect(await inB.read('USD')).toBe('new:USD');
    expect(inB.runs()).toBe(0);
  });

  it('runs the function once for concurrent calls that miss under a trusted token', async () => {
    const { a } = twoProcesses();
    let runs = 0;
    const read = cached(
      async (id: string) => {
        runs++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return id;
      },
      {
        key: 'slow',
        context: { client: a, storageLevel: StorageLevel.Service },
        generationWindow: `${WINDOW_MS}ms`,
      },
    );
    await read('warm'); // the generation is created and trusted
    const results = await Promise.all(Array.from({ length: 50 }, () => read('EUR')));
    expect(new Set(results)).toEqual(new Set(['EUR']));
    expect(runs).toBe(2);
  });

  it('makes a hit one entry read within the window, and two keys in one read without it', async () => {
    const { a, backend } = twoProcesses();
    const source = { value: 'v' };
    const windowed = reader(a, source, { generationWindow: `${WINDOW_MS}ms`, key: 'windowed' });
    const checked = reader(a, source, { key: 'checked' });
    await windowed.read('EUR');
    await checked.read('EUR');
    const reads = countReads(backend);
    await windowed.read('EUR');
    expect(reads()).toEqual({ get: 1, getMany: 0 });
    await checked.read('EUR');
    expect(reads()).toEqual({ get: 0, getMany: 1 });
    vi.advanceTimersByTime(WINDOW_MS);
    await windowed.read('EUR'); // the window ended: the token is read with the entry again
    expect(reads()).toEqual({ get: 0, getMany: 1 });
  });

  it('with the window off (the default), sees another process’s invalidateAll on the next call', async () => {
    const { a, b } = twoProcesses();
    const source = { value: 'old' };
    const inA = reader(a, source);
    const inB = reader(b, source);
    expect(await inA.read('EUR')).toBe('old:EUR');
    expect(await inA.read('EUR')).toBe('old:EUR');
    source.value = 'new';
    await invalidateAll(inB.read);
    expect(await inA.read('EUR')).toBe('new:EUR');
    expect(inA.runs()).toBe(2);
  });

  it('trusts a token per root client: another client with the same prefix reads its own', async () => {
    // Two root clients in one process over different backends share a prefix but not entries.
    const one = new CacheClient({ backend: createMemoryBackend(), service: 'billing' });
    const two = new CacheClient({ backend: createMemoryBackend(), service: 'billing' });
    clients.push(one, two);
    const source = { value: 'one' };
    const read = cached(async () => source.value, {
      key: 'rates',
      storageLevel: StorageLevel.Service,
      generationWindow: `${WINDOW_MS}ms`,
    });
    expect(await runWithCacheScope({ client: one }, () => read())).toBe('one');
    source.value = 'two';
    expect(await runWithCacheScope({ client: two }, () => read())).toBe('two');
    expect(await runWithCacheScope({ client: one }, () => read())).toBe('one');
  });

  it('never trusts a token read before its own invalidateAll, even when the read lands after it', async () => {
    const backend = new LateReads(createMemoryBackend({ clock: manualClock() }));
    const client = new CacheClient({ backend, service: 'billing' });
    clients.push(client);
    const source = { value: 'old' };
    const { read } = reader(client, source, { generationWindow: `${WINDOW_MS}ms` });
    await read('EUR');
    vi.advanceTimersByTime(WINDOW_MS); // the next call reads the token with the entry
    backend.hold = true;
    const early = read('EUR'); // its read is served now, with the old token…
    await vi.waitFor(() => {
      expect(backend.held).toBe(1);
    });
    backend.hold = false;
    source.value = 'new';
    await invalidateAll(read);
    backend.deliver(); // …and lands after the new token was written
    expect(await early).toBe('old:EUR'); // it began before the invalidation
    expect(await read('EUR')).toBe('new:EUR');
  });
});
