// The L1 tier: repeat reads from process memory, dropped on every write, delete and bus message,
// never refilled by an answer that raced with an invalidation. Two clients on one backend stand
// for two processes; an in-process hub stands for the Redis bus (the real one is tested in
// @stowage/bus-redis and in the e2e tier tests).
import { describe, expect, it, vi } from 'vitest';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import {
  CacheClient,
  CacheConfigError,
  createAesGcmCipher,
  type CacheBackend,
  type CacheCipher,
  type CacheClientOptions,
  type WarningEvent,
} from '../src/index.js';
import { LocalBusHub } from './helpers/local-bus.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A server-like store: async answers, leases, the integrity read-back. */
function server(now?: () => number): RecordingBackend {
  return new RecordingBackend({ async: true, setIf: true, deleteIf: true, setAndRead: true, now });
}

/** How many reads of `key` reached the store. */
function reads(store: RecordingBackend, key: string): number {
  return store.calls.filter(
    (call) => (call.op === 'get' || call.op === 'getMany') && call.keys.includes(key),
  ).length;
}

function client(
  store: CacheBackend,
  options: Omit<CacheClientOptions, 'backend'> = {},
): CacheClient {
  return new CacheClient({ l1: true, ...options, backend: store, ownsBackend: false });
}

/** A store whose reads answer with what it held when asked, but only once `release()` is called. */
function slowReads(store: RecordingBackend): { backend: CacheBackend; release: () => void } {
  let gates: Array<() => void> = [];
  const backend = new Proxy(store, {
    get(target, property) {
      if (property === 'get') {
        return async (key: string) => {
          const found = await target.get(key);
          await new Promise<void>((resolve) => gates.push(resolve));
          return found;
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
  return {
    backend,
    release: () => {
      const open = gates;
      gates = [];
      for (const resolve of open) resolve();
    },
  };
}

describe('L1: repeat reads from process memory', () => {
  it('answers a repeat read without a round trip, with a fresh object each time', async () => {
    const store = server();
    const cache = client(store);
    await cache.set('plan', { tier: 'gold' });
    const other = client(store); // nothing in its L1: its first read goes to the store
    expect(await other.get('plan')).toEqual({ tier: 'gold' });
    const first = await other.get('plan');
    const second = await other.get('plan');
    expect(second).toEqual({ tier: 'gold' });
    expect(first).not.toBe(second); // decoded per hit: a caller's mutation never reaches another
    expect(reads(store, 'plan')).toBe(1);
  });

  it('keeps the value this process wrote: the next read is not a round trip', async () => {
    const store = server();
    const cache = client(store);
    await cache.set('k', 'v1');
    const before = reads(store, 'k');
    expect(await cache.get('k')).toBe('v1');
    expect(reads(store, 'k')).toBe(before);
  });

  it('without setAndRead, the integrity check still reads the server, not the L1', async () => {
    const store = new RecordingBackend({ async: true });
    const cache = client(store);
    store.tamper = () => ({ value: new Uint8Array([1, 2, 3]), flags: 0 });
    const warnings: WarningEvent[] = [];
    cache.on('warning', (warning) => warnings.push(warning));
    expect(await cache.set('k', 'v')).toBe(false);
    expect(warnings.map((warning) => warning.kind)).toEqual(['integrity']);
    expect(reads(store, 'k')).toBe(1);
  });

  it('getMany answers what the L1 has and reads only the rest', async () => {
    const store = server();
    const cache = client(store);
    await cache.set('a', 1);
    await client(store, { l1: false }).set('b', 2);
    store.calls.length = 0;
    const found = await cache.getMany(['a', 'b']);
    expect([...found.entries()]).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(store.calls).toEqual([{ op: 'getMany', keys: ['b'] }]);
    store.calls.length = 0;
    expect((await cache.getMany(['a', 'b'])).size).toBe(2);
    expect(store.calls).toEqual([]);
  });

  it('decodes an encrypted copy once: later hits do not decrypt again', async () => {
    const store = server();
    const base = createAesGcmCipher({ keys: { id: 0, key: 'a passphrase for the L1 test' } });
    let decrypts = 0;
    const cipher: CacheCipher = {
      ...base,
      name: base.name,
      compression: base.compression,
      encrypt: (item, key) => base.encrypt(item, key),
      decrypt: (token, key) => {
        decrypts++;
        return base.decrypt(token, key);
      },
    };
    const writer = client(store, { cipher });
    await writer.set('secret', { card: '4111' });
    const reader = client(store, { cipher });
    for (let i = 0; i < 5; i++) expect(await reader.get('secret')).toEqual({ card: '4111' });
    expect(decrypts).toBe(1);
  });

  it('never keeps a lease marker: a waiter sees it go', async () => {
    const store = server();
    const cache = client(store);
    const other = client(store);
    let release!: (value: string) => void;
    const running = other.getOrSet(
      'slow',
      () => new Promise<string>((resolve) => (release = resolve)),
    );
    await tick();
    await tick();
    expect(store.calls.some((call) => call.op === 'add')).toBe(true);
    expect(await cache.get('slow')).toBeUndefined(); // the marker reads as a miss…
    release('done');
    expect(await running).toBe('done');
    expect(await cache.get('slow')).toBe('done'); // …and was not kept
  });
});

describe('L1: invalidation within the process', () => {
  it('a delete drops the copy at once', async () => {
    const store = server();
    const cache = client(store);
    await cache.set('k', 'v');
    await cache.delete('k');
    expect(await cache.get('k')).toBeUndefined();
  });

  it('a read that began before a delete does not bring the deleted value back', async () => {
    const store = server();
    const { backend, release } = slowReads(store);
    const cache = client(backend);
    const writer = client(store, { l1: false });
    await writer.set('k', 'old');
    const reading = cache.get('k'); // reads 'old' now, answers later
    await tick();
    await cache.delete('k');
    release();
    expect(await reading).toBe('old'); // it was there when the read was served
    const after = cache.get('k');
    await tick();
    release();
    expect(await after).toBeUndefined(); // not refilled from the raced read
  });

  it('a read that began before a write does not override the written copy', async () => {
    const store = server();
    const { backend, release } = slowReads(store);
    const cache = client(backend);
    await client(store, { l1: false }).set('k', 'old');
    const reading = cache.get('k');
    await tick();
    await cache.set('k', 'new');
    release();
    await reading;
    expect(await cache.get('k')).toBe('new');
  });

  it('incr, touch, deleteMany and flushAll drop copies', async () => {
    const store = server();
    const cache = client(store);
    const writer = client(store, { l1: false });
    await cache.set('n', 1);
    await cache.incr('n');
    expect(await cache.get('n')).toBe(2);
    await cache.setMany({ a: 'a', b: 'b' });
    await cache.deleteMany(['a']);
    expect(await cache.get('a')).toBeUndefined();
    await writer.set('b', 'changed'); // another process; this L1 still has 'b'
    await cache.flushAll();
    await writer.set('b', 'after flush');
    expect(await cache.get('b')).toBe('after flush');
  });

  it('a delayed flush empties every L1 again when the server runs it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const store = server();
      const hub = new LocalBusHub();
      const bus = hub.bus();
      const cache = client(store, { bus });
      await tick();
      await cache.flushAll({ delaySeconds: 2 });
      await cache.set('k', 'v'); // refills a copy before the server flushes
      expect(bus.published.filter((message) => message.action === 'clear')).toHaveLength(1);
      vi.advanceTimersByTime(2_000);
      expect(bus.published.filter((message) => message.action === 'clear')).toHaveLength(2);
      await store.flush(0); // what memcached does when the delay ends
      expect(await cache.get('k')).toBeUndefined(); // not served from a copy
    } finally {
      vi.useRealTimers();
    }
  });

  it('a copy lives no longer than the TTL of the write that made it', async () => {
    let now = 1_000_000;
    const store = server(() => now);
    const cache = client(store, { now: () => now, l1: { ttl: '1h' } });
    await cache.set('short', 'v', { ttl: 2 });
    expect(await cache.get('short')).toBe('v');
    now += 2_001;
    expect(await cache.get('short')).toBeUndefined();
  });

  it('a copy filled from a read lives no longer than the item has left on the server (ttlOf)', async () => {
    let now = 1_000_000;
    const store = server(() => now);
    let left: number | undefined | Error = 2_000;
    const asked: string[] = [];
    const withTtl = new Proxy(store, {
      get(target, property) {
        if (property === 'ttlOf') {
          return async (key: string) => {
            asked.push(key);
            if (left instanceof Error) throw left;
            return left;
          };
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(target)
          : value;
      },
    });
    await client(store, { l1: false }).set('k', 'v', { ttl: 2 });
    const cache = client(withTtl, { now: () => now, l1: { ttl: '1h' } });
    expect(await cache.get('k')).toBe('v');
    await tick();
    expect(asked).toEqual(['k']);
    now += 1_999;
    expect(await cache.get('k')).toBe('v'); // the copy, still within the item's life
    expect(reads(store, 'k')).toBe(1);
    now += 2;
    expect(await cache.get('k')).toBeUndefined(); // copy and item gone together
    // An item the server says it no longer holds, or an answer that failed: no copy kept.
    await client(store, { l1: false }).set('k2', 'v2', { ttl: 60 });
    for (const answer of [undefined, new Error('PTTL failed')]) {
      left = answer;
      expect(await cache.get('k2')).toBe('v2');
      await tick();
    }
    expect(reads(store, 'k2')).toBe(2);
  });

  it('without a bus, another process’s change is seen once l1.ttl has passed', async () => {
    let now = 1_000_000;
    const store = server(() => now);
    const a = client(store, { now: () => now, l1: { ttl: '5s' } });
    const b = client(store, { now: () => now, l1: { ttl: '5s' } });
    await a.set('k', 'v1');
    await b.set('k', 'v2');
    expect(await a.get('k')).toBe('v1'); // stale, within the documented bound
    now += 5_001;
    expect(await a.get('k')).toBe('v2');
  });

  it('scoped clients share the L1 by full key: a tenant never reads another tenant’s copy', async () => {
    const store = server();
    const root = client(store);
    const acme = root.scoped('stack', { stack: 'acme' });
    const globex = root.scoped('stack', { stack: 'globex' });
    await acme.set('plan', 'gold');
    expect(await globex.get('plan')).toBeUndefined();
    await globex.set('plan', 'trial');
    expect(await acme.get('plan')).toBe('gold');
    expect(await globex.get('plan')).toBe('trial');
  });
});

describe('L1: the bus', () => {
  function fleet(count: number, options: Omit<CacheClientOptions, 'backend'> = {}) {
    const store = server();
    const hub = new LocalBusHub();
    const clients = Array.from({ length: count }, () =>
      client(store, { ...options, bus: hub.bus() }),
    );
    return { store, hub, clients };
  }

  it('a write in one process drops the copy in the others once the message arrives', async () => {
    const { hub, clients } = fleet(3);
    const [a, b, c] = clients as [CacheClient, CacheClient, CacheClient];
    await tick();
    await a.set('k', 'v1');
    expect(await b.get('k')).toBe('v1');
    expect(await c.get('k')).toBe('v1');
    hub.hold();
    await a.set('k', 'v2');
    expect(await b.get('k')).toBe('v1'); // the message is on its way
    hub.release();
    expect(await b.get('k')).toBe('v2');
    expect(await c.get('k')).toBe('v2');
    await a.delete('k');
    await tick();
    expect(await b.get('k')).toBeUndefined();
  });

  it('changes of one tick go out as one message; a process ignores its own', async () => {
    const store = server();
    const hub = new LocalBusHub();
    const bus = hub.bus();
    const a = client(store, { bus });
    await tick();
    await Promise.all([a.set('x', 1), a.set('y', 2), a.delete('z')]);
    await tick();
    expect(bus.published.map((message) => [...message.keys].sort())).toEqual([['x', 'y', 'z']]);
    expect(await a.get('x')).toBe(1); // its own message did not drop its copy
    await a.flushAll();
    expect(bus.published.at(-1)?.action).toBe('clear');
  });

  it('a read that raced with another process’s write is not kept', async () => {
    const store = server();
    const hub = new LocalBusHub();
    const { backend, release } = slowReads(store);
    const a = client(backend, { bus: hub.bus() });
    const b = client(store, { bus: hub.bus() });
    await tick();
    await b.set('k', 'old');
    const reading = a.get('k');
    await tick();
    await b.set('k', 'new');
    await tick(); // the message arrives while a's read is still in flight
    release();
    expect(await reading).toBe('old');
    const next = a.get('k');
    await tick();
    release();
    expect(await next).toBe('new');
  });

  it('serves nothing while the bus is lost, and empties itself when it is back', async () => {
    const { store, hub, clients } = fleet(2);
    const [a, b] = clients as [CacheClient, CacheClient];
    const warnings: WarningEvent[] = [];
    a.on('warning', (warning) => warnings.push(warning));
    await tick();
    await b.set('k', 'v1');
    expect(await a.get('k')).toBe('v1');
    hub.cut();
    expect(warnings.map((warning) => warning.kind)).toEqual(['bus']);
    await b.set('k', 'v2'); // the message is lost
    store.calls.length = 0;
    expect(await a.get('k')).toBe('v2'); // read through: nothing served from the L1
    expect(await a.get('k')).toBe('v2');
    expect(reads(store, 'k')).toBe(2); // and nothing kept while lost
    hub.restore();
    store.calls.length = 0;
    expect(await a.get('k')).toBe('v2');
    expect(await a.get('k')).toBe('v2');
    expect(reads(store, 'k')).toBe(1);
  });

  it('serves nothing until the bus is live', async () => {
    const store = server();
    let started!: () => void;
    const never = {
      name: 'slow-bus',
      start: (handlers: { live: () => void }) =>
        new Promise<void>((resolve) => {
          started = () => {
            handlers.live();
            resolve();
          };
        }),
      publish: () => {},
      close: () => Promise.resolve(),
    };
    const a = client(store, { bus: never });
    await a.set('k', 'v');
    expect(await a.get('k')).toBe('v');
    expect(reads(store, 'k')).toBe(1); // not kept: the bus is not live yet
    started();
    await tick();
    await a.get('k');
    await a.get('k');
    expect(reads(store, 'k')).toBe(2);
  });

  it('bus: { url } that cannot be reached is a bus warning, and the L1 stays off', async () => {
    const store = server();
    const warnings: WarningEvent[] = [];
    // @stowage/bus-redis is loaded by name; nothing listens on port 1, so it never goes live.
    const a = client(store, { bus: { url: 'redis://127.0.0.1:1' } });
    a.on('warning', (warning) => warnings.push(warning));
    for (let waited = 0; !warnings.some((w) => w.kind === 'bus') && waited < 5000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(a.l1Stats()?.live).toBe(false);
    await a.set('k', 'v');
    await a.get('k');
    expect(reads(store, 'k')).toBe(1);
    expect(warnings.map((warning) => warning.kind)).toContain('bus');
    await a.close();
  });

  it('close() closes the bus, even when the client does not own the backend', async () => {
    const store = server();
    const hub = new LocalBusHub();
    const bus = hub.bus();
    const a = client(store, { bus });
    await tick();
    await a.close();
    expect(bus.closed).toBe(true);
  });
});

describe('L1: the backend down', () => {
  it('keeps serving live copies while the remote backend fails', async () => {
    const inner = server();
    const backend = new FaultBackend(inner);
    const hub = new LocalBusHub();
    const a = client(backend, { bus: hub.bus() });
    await tick();
    await a.set('k', 'v');
    backend.mode = { kind: 'alwaysReject', error: new Error('ECONNREFUSED') };
    expect(await a.get('k')).toBe('v');
  });

  it('a value another process deleted is not served stale while the backend is down', async () => {
    let now = 1_000_000;
    const inner = server(() => now);
    const backend = new FaultBackend(inner);
    const hub = new LocalBusHub();
    const a = client(backend, { bus: hub.bus(), now: () => now, l1: { ttl: '1s' } });
    const b = client(inner, { bus: hub.bus(), now: () => now });
    await tick();
    await a.getOrSet('k', () => 'good', { ttl: 10, grace: 60 });
    await b.delete('k'); // a purge: the value must not come back, stale or not
    await tick();
    backend.mode = { kind: 'alwaysReject', error: new Error('ECONNREFUSED') };
    now += 11_000;
    let runs = 0;
    const value = await a.getOrSet(
      'k',
      () => {
        runs++;
        return 'fresh';
      },
      { ttl: 10, grace: 60, onError: () => {} },
    );
    expect([value, runs]).toEqual(['fresh', 1]);
  });
});

describe('L1: bounds', () => {
  it('keeps at most maxEntries copies, dropping the least recently used', async () => {
    const store = server();
    const cache = client(store, { l1: { maxEntries: 3 } });
    for (const key of ['a', 'b', 'c']) await cache.set(key, key);
    await cache.get('a'); // a is used; b is now the oldest
    await cache.get('a');
    await cache.set('d', 'd');
    store.calls.length = 0;
    for (const key of ['a', 'c', 'd']) await cache.get(key);
    expect(store.calls).toEqual([]);
    await cache.get('b');
    expect(reads(store, 'b')).toBe(1);
  });

  it('keeps at most maxBytes', async () => {
    const store = server();
    const cache = client(store, { l1: { maxBytes: 64 * 1024 }, compress: false });
    const value = 'x'.repeat(2_000);
    for (let i = 0; i < 100; i++) await cache.set(`k${i}`, value);
    store.calls.length = 0;
    let served = 0;
    // Newest first: a miss refills the L1, which would evict the copies still to be checked.
    for (let i = 99; i >= 0; i--) {
      const before = store.calls.length;
      await cache.get(`k${i}`);
      if (store.calls.length === before) served++;
    }
    // 2,000-byte values count about 4.1 KB each: at most 15 fit in 64 KiB.
    expect(served).toBeGreaterThanOrEqual(10);
    expect(served).toBeLessThanOrEqual(16);
  });
});

describe('L1: options', () => {
  it.each([
    [{ l1: { ttl: 0 } }, /`l1.ttl` must be greater than 0/],
    [{ l1: { maxEntries: 0 } }, /`l1.maxEntries`/],
    [{ l1: { maxBytes: 10 } }, /`l1.maxBytes`/],
    [{ l1: { size: 10 } }, /l1 has no option `size`/],
    [{ l1: 'yes' }, /`l1` must be/],
    [{ bus: { url: 'redis://x' } }, /`bus` .* needs `l1`/],
    [{ l1: true, bus: { url: '' } }, /`bus` must be/],
    [{ l1: true, bus: { publish: () => {} } }, /`start`, `publish` and `close`/],
  ])('%j is a CacheConfigError', (options, message) => {
    expect(() => new CacheClient({ ...(options as object), backend: server() })).toThrow(
      CacheConfigError,
    );
    expect(() => new CacheClient({ ...(options as object), backend: server() })).toThrow(message);
  });
});
