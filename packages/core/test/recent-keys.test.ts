import { describe, expect, it } from 'vitest';
import { DEFAULT_RECENT_KEYS, RecentKey, RecentKeysStack, StorageLevel } from '../src/index.js';
import { recordingClient } from './helpers/clients.js';

const keysOf = (stack: Iterable<RecentKey>): string[] => [...stack].map((entry) => entry.fullKey);

describe('RecentKeysStack.append', () => {
  it('keeps keys unique, newest last', () => {
    const stack = new RecentKeysStack(10);
    stack.append(new RecentKey('a'));
    stack.append(new RecentKey('b'));
    stack.append(new RecentKey('a'));
    expect(keysOf(stack)).toEqual(['b', 'a']);
  });

  it('tells keys apart by prefix', () => {
    const stack = new RecentKeysStack(10);
    stack.append(new RecentKey('k', 'p1:'));
    stack.append(new RecentKey('k', 'p2:'));
    expect(keysOf(stack)).toEqual(['p1:k', 'p2:k']);
  });

  it('evicts the oldest past maxSize', () => {
    const stack = new RecentKeysStack(3);
    for (const key of ['a', 'b', 'c', 'd', 'e']) stack.append(new RecentKey(key));
    expect(keysOf(stack)).toEqual(['c', 'd', 'e']);
    expect(stack.size).toBe(3);
  });

  it('keeps a key that was moved to the end when evicting', () => {
    const stack = new RecentKeysStack(3);
    for (const key of ['a', 'b', 'c', 'a', 'd']) stack.append(new RecentKey(key));
    expect(keysOf(stack)).toEqual(['c', 'a', 'd']);
  });

  it('keeps nothing with maxSize 0', () => {
    const stack = new RecentKeysStack(0);
    stack.append(new RecentKey('a'));
    expect(stack.size).toBe(0);
  });

  it('defaults to 100 keys', () => {
    const stack = new RecentKeysStack();
    for (let i = 0; i < 150; i++) stack.append(new RecentKey(`k${i}`));
    expect(stack.maxSize).toBe(DEFAULT_RECENT_KEYS);
    expect(keysOf(stack)[0]).toBe('k50');
  });

  it.each([[-1], [1.5], [Number.NaN]])('refuses maxSize %d', (maxSize) => {
    expect(() => new RecentKeysStack(maxSize)).toThrow(TypeError);
  });
});

describe('RecentKeysStack.list', () => {
  it('hides expired entries by the injected clock', () => {
    let now = 1_000;
    const stack = new RecentKeysStack(10, () => now);
    stack.append(new RecentKey('short', '', false, 2_000));
    stack.append(new RecentKey('long', '', false, 9_000));
    stack.append(new RecentKey('forever'));
    expect(keysOf(stack.list())).toEqual(['short', 'long', 'forever']);
    now = 2_000;
    expect(keysOf(stack.list())).toEqual(['long', 'forever']);
    now = 10_000;
    expect(keysOf(stack.list())).toEqual(['forever']);
    expect(stack.size).toBe(1);
  });
});

describe('RecentKeysStack.record', () => {
  it('keeps an entry its expiry when a read records it again', () => {
    const stack = new RecentKeysStack(10, () => 0);
    stack.record('p:k', 'k', 'p:');
    stack.setExpiry('p:k', 5_000);
    stack.record('p:k', 'k', 'p:');
    expect(stack.list()[0]?.expiresAtMs).toBe(5_000);
  });

  it('clears the expiry when a write without TTL sets it again', () => {
    const stack = new RecentKeysStack(10, () => 0);
    stack.record('p:k', 'k', 'p:');
    stack.setExpiry('p:k', 5_000);
    stack.record('p:k', 'k', 'p:');
    stack.setExpiry('p:k', null);
    expect(stack.list()[0]?.expiresAtMs).toBeUndefined();
  });
});

describe('RecentKeysStack.removeSafe', () => {
  it('removes by entry or full key and never throws for an absent key', () => {
    const stack = new RecentKeysStack(10);
    const a = new RecentKey('a', 'p:');
    stack.append(a);
    stack.append(new RecentKey('b', 'p:'));
    stack.removeSafe(a);
    stack.removeSafe('p:b');
    expect(() => stack.removeSafe('absent')).not.toThrow();
    expect(stack.size).toBe(0);
  });
});

describe('RecentKeysStack under churn', () => {
  // The reference the stack must agree with: a plain array, unique keys, newest last, the
  // oldest dropped past maxSize, an expiry kept on reads and replaced on writes.
  interface Model {
    fullKey: string;
    expiresAtMs: number | undefined;
  }

  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return state / 2 ** 31;
    };
  }

  it.each([[1], [3], [10]])(
    'agrees with a simple model over random records, removals and expiries (maxSize %d)',
    (maxSize) => {
      let now = 1_000;
      const stack = new RecentKeysStack(maxSize, () => now);
      let model: Model[] = [];
      const next = random(maxSize);
      for (let step = 0; step < 5_000; step++) {
        const fullKey = `k${Math.floor(next() * (maxSize * 3))}`;
        const roll = next();
        if (roll < 0.5) {
          // a hit: moves the key, keeps its expiry
          stack.record(fullKey, fullKey, '');
          const found = model.find((m) => m.fullKey === fullKey);
          model = model.filter((m) => m.fullKey !== fullKey);
          model.push({ fullKey, expiresAtMs: found?.expiresAtMs });
        } else if (roll < 0.8) {
          // a write: moves the key, sets (or clears) its expiry
          const expiresAtMs = next() < 0.5 ? null : now + Math.floor(next() * 50);
          stack.record(fullKey, fullKey, '');
          stack.setExpiry(fullKey, expiresAtMs);
          model = model.filter((m) => m.fullKey !== fullKey);
          model.push({ fullKey, expiresAtMs: expiresAtMs ?? undefined });
        } else if (roll < 0.9) {
          stack.removeSafe(fullKey);
          model = model.filter((m) => m.fullKey !== fullKey);
        } else {
          now += Math.floor(next() * 20);
          model = model.filter((m) => m.expiresAtMs === undefined || m.expiresAtMs > now);
          expect(keysOf(stack.list())).toEqual(model.map((m) => m.fullKey));
        }
        if (model.length > maxSize) model.shift();
        expect(stack.size).toBeLessThanOrEqual(maxSize);
      }
      model = model.filter((m) => m.expiresAtMs === undefined || m.expiresAtMs > now);
      expect(stack.list().map((k) => [k.fullKey, k.expiresAtMs])).toEqual(
        model.map((m) => [m.fullKey, m.expiresAtMs]),
      );
    },
  );

  // Records wait in a log and are applied in batches (when the log fills or the stack is read).
  // Order must match the model exactly. An expiry may differ in one way only: where the model
  // forgot a write's expiry because the key was evicted between the write and a later hit, the
  // batch may still know it — never an expiry no write gave, never an older write's.
  it.each([
    [1, 40],
    [3, 7],
    [10, 500],
    [100, 3000],
  ])(
    'agrees with the model when records pile up between reads (maxSize %d, %d records a read)',
    (maxSize, perRead) => {
      const now = 1_000;
      const stack = new RecentKeysStack(maxSize, () => now);
      let model: Model[] = [];
      const lastWrite = new Map<string, number | undefined>();
      const next = random(maxSize * 7 + perRead);
      for (let step = 0; step < 20_000; step++) {
        const fullKey = `k${Math.floor(next() * (maxSize * 4))}`;
        const roll = next();
        if (roll < 0.6) {
          stack.record(fullKey, `c${fullKey}`, 'p:');
          const found = model.find((m) => m.fullKey === fullKey);
          model = model.filter((m) => m.fullKey !== fullKey);
          model.push({ fullKey, expiresAtMs: found?.expiresAtMs });
        } else if (roll < 0.97) {
          const expiresAtMs = next() < 0.3 ? null : now + 1 + Math.floor(next() * 1e6);
          stack.record(fullKey, `c${fullKey}`, 'p:');
          stack.setExpiry(fullKey, expiresAtMs);
          lastWrite.set(fullKey, expiresAtMs ?? undefined);
          model = model.filter((m) => m.fullKey !== fullKey);
          model.push({ fullKey, expiresAtMs: expiresAtMs ?? undefined });
        } else {
          stack.removeSafe(fullKey);
          lastWrite.delete(fullKey);
          model = model.filter((m) => m.fullKey !== fullKey);
        }
        if (model.length > maxSize) model.shift();
        if (step % perRead !== perRead - 1) continue;
        const listed = stack.list();
        expect(keysOf(listed)).toEqual(model.map((m) => m.fullKey));
        for (const [i, entry] of listed.entries()) {
          const expected = model[i]?.expiresAtMs;
          if (entry.expiresAtMs !== expected) {
            expect(expected).toBeUndefined();
            expect(entry.expiresAtMs).toBe(lastWrite.get(entry.fullKey));
          }
          expect([entry.key, entry.prefix]).toEqual([`c${entry.fullKey}`, 'p:']);
        }
      }
    },
  );

  it("applies a write's expiry to its record still waiting in the log", () => {
    const stack = new RecentKeysStack(2, () => 0);
    stack.record('a', 'a', '');
    stack.setExpiry('a', 50);
    stack.record('b', 'b', '');
    stack.record('a', 'a', ''); // a hit: keeps the write's expiry
    stack.setExpiry('b', 70);
    stack.record('c', 'c', ''); // evicts b once applied
    expect(stack.list().map((k) => [k.fullKey, k.expiresAtMs])).toEqual([
      ['a', 50],
      ['c', undefined],
    ]);
  });

  it('forgets waiting records on clear and on removal', () => {
    const stack = new RecentKeysStack(5, () => 0);
    stack.record('a', 'a', '');
    stack.record('b', 'b', '');
    stack.clear();
    stack.record('c', 'c', '');
    stack.removeSafe('c');
    stack.record('d', 'd', '');
    expect(keysOf(stack.list())).toEqual(['d']);
  });

  it('hands out snapshots: changing a listed key does not change the stack', () => {
    const stack = new RecentKeysStack(10, () => 0);
    stack.record('p:a', 'a', 'p:');
    stack.setExpiry('p:a', 5_000);
    const [listed] = stack.list();
    listed!.expiresAtMs = 1;
    listed!.isEncrypted = true;
    expect(stack.list()[0]).toMatchObject({ expiresAtMs: 5_000, isEncrypted: false });
  });

  it('keeps the fields of a reused slot apart from the key it replaced', () => {
    const stack = new RecentKeysStack(1, () => 0);
    stack.record('p:a', 'a', 'p:');
    stack.setExpiry('p:a', 5_000);
    stack.record('q:b', 'b', 'q:');
    expect(stack.list()).toEqual([new RecentKey('b', 'q:', false, undefined, 'q:b')]);
  });

  it("marks the keys it records with the stack's encryption setting", () => {
    const stack = new RecentKeysStack(2, () => 0, { encrypted: true });
    stack.record('p:a', 'a', 'p:');
    expect(stack.list()[0]?.isEncrypted).toBe(true);
  });
});

describe('RecentKey', () => {
  it("exposes Q2's expire_time as a Date or null", () => {
    expect(new RecentKey('k', 'p:', true, 86_400_000).expireTime).toEqual(new Date(86_400_000));
    expect(new RecentKey('k').expireTime).toBeNull();
  });
});

describe('CacheClient.recentKeys', () => {
  it('remembers set successes and get hits, not misses, newest last', async () => {
    const { client } = recordingClient({ prefix: 'app' });
    await client.set('a', 1);
    await client.set('b', 2);
    await client.get('a');
    await client.get('missing');
    expect(client.recentKeys().map((entry) => entry.key)).toEqual(['b', 'a']);
    expect(client.recentKeys()[0]).toMatchObject({ key: 'b', prefix: 'app:', fullKey: 'app:b' });
  });

  it('remembers setMany, getMany hits and add', async () => {
    const { client } = recordingClient();
    await client.setMany({ a: 1, b: 2 });
    await client.add('c', 3);
    await client.getMany(['a', 'zz']);
    expect(client.recentKeys().map((entry) => entry.key)).toEqual(['b', 'c', 'a']);
  });

  it('does not remember a refused write', async () => {
    const { client, backend } = recordingClient();
    backend.refuse = () => true;
    await client.set('a', 1);
    expect(client.recentKeys()).toEqual([]);
  });

  it('records the expiry of a write and marks encrypted clients', async () => {
    const { client } = recordingClient({ now: () => 1_000_000, encryptionKey: Buffer.alloc(32) });
    await client.set('a', 1, { ttl: 60 });
    expect(client.recentKeys()[0]).toMatchObject({ expiresAtMs: 1_060_000, isEncrypted: true });
  });

  it('updates the expiry on touch and hides expired keys', async () => {
    let now = 1_000_000;
    const { client } = recordingClient({ now: () => now }, { now: () => now });
    await client.set('a', 1, { ttl: 10 });
    await client.touch('a', 100);
    now += 50_000;
    expect(client.recentKeys().map((entry) => entry.key)).toEqual(['a']);
    now += 60_000;
    expect(client.recentKeys()).toEqual([]);
  });

  it('forgets deleted keys and everything on flushAll', async () => {
    const { client } = recordingClient();
    await client.setMany({ a: 1, b: 2, c: 3 });
    await client.delete('a');
    await client.deleteMany(['b']);
    expect(client.recentKeys().map((entry) => entry.key)).toEqual(['c']);
    await client.flushAll();
    expect(client.recentKeys()).toEqual([]);
  });

  it('lists only its own scope on a scoped client, everything on the root', async () => {
    const { client } = recordingClient({ prefix: 'app' });
    const a = client.scoped(StorageLevel.Stack, { stack: 'a' });
    const b = client.scoped(StorageLevel.Stack, { stack: 'b' });
    await a.set('x', 1);
    await b.set('y', 2);
    await client.set('z', 3);
    expect(a.recentKeys().map((entry) => entry.fullKey)).toEqual(['app:stack=a:x']);
    expect(client.recentKeys()).toHaveLength(3);
  });

  it('tracks nothing with recentKeys: false', async () => {
    const { client } = recordingClient({ recentKeys: false });
    await client.set('a', 1);
    expect(client.recentKeys()).toEqual([]);
  });

  it('keeps at most recentKeys entries', async () => {
    const { client } = recordingClient({ recentKeys: 2 });
    await client.setMany({ a: 1, b: 2, c: 3 });
    expect(client.recentKeys().map((entry) => entry.key)).toEqual(['b', 'c']);
  });
});

describe('CacheClient.bustRecent', () => {
  it('deletes the remembered keys with one deleteMany, never a flush', async () => {
    const { client, backend } = recordingClient({ prefix: 'app' });
    await client.setMany({ a: 1, b: 2 });
    backend.put('app:untracked', 'x', 1);
    backend.calls.length = 0;
    expect(await client.bustRecent()).toBe(2);
    expect(backend.calls).toEqual([{ op: 'deleteMany', keys: ['app:a', 'app:b'] }]);
    expect(backend.keys()).toEqual(['app:untracked']);
    expect(client.recentKeys()).toEqual([]);
  });

  it("deletes only its own scope's keys on a scoped client", async () => {
    const { client, backend } = recordingClient({ prefix: 'app' });
    const a = client.scoped(StorageLevel.Stack, { stack: 'a' });
    const b = client.scoped(StorageLevel.Stack, { stack: 'b' });
    await a.set('x', 1);
    await b.set('x', 2);
    expect(await a.bustRecent()).toBe(1);
    expect(await b.get('x')).toBe(2);
    expect(await a.get('x')).toBeUndefined();
    expect(backend.ops).not.toContain('flush');
    expect(client.recentKeys().map((entry) => entry.fullKey)).toEqual(['app:stack=b:x']);
  });

  it('does nothing and resolves 0 when nothing is remembered', async () => {
    const { client, backend } = recordingClient();
    expect(await client.bustRecent()).toBe(0);
    expect(backend.calls).toEqual([]);
  });

  it('busts hashed long keys by their stored key', async () => {
    const { client, backend } = recordingClient({ longKeys: 'hash' });
    const long = 'k'.repeat(400);
    await client.set(long, 1);
    await client.bustRecent();
    expect(backend.keys()).toEqual([]);
  });
});
