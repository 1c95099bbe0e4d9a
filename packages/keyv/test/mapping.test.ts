// The adapter's mapping decisions, each pinned: Keyv's ms TTL → Stowage seconds, serialized
// strings stored and returned byte for byte, Keyv's namespace as the head of Stowage's caller key,
// what clear() deletes and what it cannot, tenant isolation through scoped clients, encryption.
// RecordingBackend (testkit) records the seconds the backend is given.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryBackend } from '@stowage/backend-memory';
import {
  CacheClient,
  CacheValueError,
  CacheWriteError,
  MAX_TTL_SECONDS,
  StorageLevel,
} from '@stowage/core';
import { RecordingBackend } from '@stowage/testkit';
import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { StowageKeyvStore } from '../src/index.js';

function recorded(options: { defaultTtl?: number } = {}) {
  const backend = new RecordingBackend();
  const client = new CacheClient({ backend, prefix: 'app', ...options });
  const store = new StowageKeyvStore(client);
  return { backend, client, store, keyv: new Keyv({ store }) };
}

/** TTLs (seconds) of the backend's `set`/`setMany` calls, in order. */
const writtenTtls = (backend: RecordingBackend) =>
  backend.calls.filter((call) => call.op === 'set' || call.op === 'setMany').map((c) => c.ttl);

describe('TTL: Keyv milliseconds → Stowage seconds', () => {
  it('passes fractions of a second on, and Keyv’s default ttl too', async () => {
    const { backend, store } = recorded();
    await new Keyv({ store }).set('a', 1, 1500);
    await new Keyv({ store, ttl: 250 }).set('b', 2);
    await new Keyv({ store }).set('c', 3, 1);
    expect(writtenTtls(backend)).toEqual([1.5, 0.25, 0.001]);
  });

  it('no TTL (undefined or 0) leaves the client’s defaultTtl in charge', async () => {
    const { backend, keyv, store } = recorded({ defaultTtl: 60 });
    await keyv.set('a', 1);
    await keyv.set('b', 2, 0);
    await store.set('keyv:c', '"x"', undefined);
    expect(writtenTtls(backend)).toEqual([60, 60, 60]);
    const forever = recorded();
    await forever.keyv.set('d', 4);
    expect(writtenTtls(forever.backend)).toEqual([0]);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, '5', (MAX_TTL_SECONDS + 1) * 1000])(
    'refuses ttl %s with a CacheValueError before any I/O',
    async (ttl) => {
      const { backend, store } = recorded();
      const refused = store.set('keyv:a', '"x"', ttl as number);
      await expect(refused).rejects.toBeInstanceOf(CacheValueError);
      await expect(refused).rejects.toThrow(/ttl/);
      expect(backend.calls).toEqual([]);
    },
  );

  it('setMany writes one batch per distinct TTL; entries not stored are a CacheWriteError', async () => {
    const { backend, keyv } = recorded();
    const errors: unknown[] = [];
    keyv.on('error', (error: unknown) => errors.push(error));
    await keyv.setMany([
      { key: 'a', value: 1, ttl: 1000 },
      { key: 'b', value: 2 },
      { key: 'c', value: 4, ttl: 2000 },
    ]);
    expect(writtenTtls(backend).sort()).toEqual([0, 1, 2]);
    expect(await keyv.get(['a', 'b', 'c'])).toEqual([1, 2, 4]);
    expect(errors).toEqual([]);
    backend.refuse = (key) => key === 'app:keyv:refused';
    // Keyv answers false for every entry when the store throws; the stored one is still there.
    expect(
      await keyv.setMany([
        { key: 'refused', value: 3, ttl: 1000 },
        { key: 'd', value: 5, ttl: 1000 },
      ]),
    ).toEqual([false, false]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CacheWriteError);
    expect(errors[0]).toMatchObject({ key: 'keyv:refused', code: 'E_CACHE_WRITE' });
    expect(await keyv.get(['refused', 'd'])).toEqual([undefined, 5]);
  });

  it('a write the server refused deletes the key: the value from before is never read as new', async () => {
    const { backend, keyv } = recorded();
    await keyv.set('price', 100);
    await keyv.setMany([{ key: 'stock', value: 5 }]);
    backend.refuse = () => true;
    expect(await keyv.set('price', 120)).toBe(false);
    expect(await keyv.setMany([{ key: 'stock', value: 4 }])).toEqual([false]);
    expect(await keyv.get(['price', 'stock'])).toEqual([undefined, undefined]);
  });

  it('setMany writes a key given twice once, with its last value and TTL', async () => {
    const { backend, keyv } = recorded();
    const results = await keyv.setMany([
      { key: 'twice', value: 'first', ttl: 1000 },
      { key: 'other', value: 'x', ttl: 1000 },
      { key: 'twice', value: 'last', ttl: 2000 },
    ]);
    expect(results).toBeUndefined(); // Keyv 5 hands on what the store resolves: nothing
    const batches = backend.calls.filter((call) => call.op === 'setMany');
    expect(batches.map((call) => [call.ttl, call.keys]).sort()).toEqual([
      [1, ['app:keyv:other']],
      [2, ['app:keyv:twice']],
    ]);
    expect(await keyv.get('twice')).toBe('last');
  });

  it('setMany checks every entry before it sends any batch', async () => {
    const { backend, store } = recorded();
    const refused = store.setMany([
      { key: 'keyv:a', value: '"x"', ttl: 1000 },
      { key: 'keyv:b', value: '"y"', ttl: -5 },
    ]);
    await expect(refused).rejects.toBeInstanceOf(CacheValueError);
    expect(backend.calls).toEqual([]);
  });
});

describe('values: Keyv’s serialized strings, stored and returned exactly', () => {
  it('round-trips what Keyv’s serializer produces', async () => {
    const { keyv } = recorded();
    const values = [
      Buffer.from([0, 1, 254, 255]),
      { nested: { list: [1, 'two', null, false], buff: Buffer.from('x') } },
      ':starts with a colon',
      'lone \ud800 surrogate',
      'x'.repeat(5000), // compressed by the client above 1 KiB
      -0.5,
      '',
    ];
    for (const [index, value] of values.entries()) await keyv.set(`v${index}`, value);
    for (const [index, value] of values.entries())
      expect(await keyv.get(`v${index}`)).toEqual(value);
  });

  it('stores the string Keyv handed over as a Stowage String under Keyv’s key', async () => {
    const { client, keyv } = recorded();
    await keyv.set('user:1', { name: 'Ada' });
    expect(await client.get('keyv:user:1')).toBe('{"value":{"name":"Ada"}}');
  });

  it('refuses a raw object from a Keyv without serializer, and writes nothing', async () => {
    const { backend, store } = recorded();
    const keyv = new Keyv({ store, serialize: undefined, deserialize: undefined });
    const errors: unknown[] = [];
    keyv.on('error', (error: unknown) => errors.push(error));
    expect(await keyv.set('date', new Date(0))).toBe(false);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CacheValueError);
    expect(String(errors[0])).toMatch(/serializer/);
    expect(backend.calls).toEqual([]);
  });

  it('a value Keyv did not write (not a string) is a miss, never a hit', async () => {
    const { client, keyv, store } = recorded();
    await client.set('keyv:foreign', { value: 'looks like a Keyv envelope' });
    expect(await keyv.get('foreign')).toBeUndefined();
    expect(await keyv.get(['foreign'])).toEqual([undefined]);
    expect(await store.has('keyv:foreign')).toBe(false);
  });
});

describe('has(): Keyv’s own expires counts, not only the server’s TTL', () => {
  it('an entry past its expires is absent even while the backend still holds it', async () => {
    let now = 1_000_000;
    const backend = createMemoryBackend();
    const store = new StowageKeyvStore(new CacheClient({ backend }), { now: () => now });
    await store.set('keyv:a', JSON.stringify({ value: 1, expires: now + 500 }), 60_000);
    await store.set('keyv:b', JSON.stringify({ value: 2 }), undefined);
    await store.set('keyv:custom', 'not json', undefined);
    expect(await store.hasMany(['keyv:a', 'keyv:b', 'keyv:custom', 'keyv:none'])).toEqual([
      true,
      true,
      true,
      false,
    ]);
    now += 501;
    expect(await store.has('keyv:a')).toBe(false);
    expect(await store.hasMany(['keyv:a', 'keyv:b'])).toEqual([false, true]);
  });
});

describe('namespace and clear()', () => {
  it('Keyv’s namespace is the head of the caller key, under the client’s prefix', async () => {
    const { backend, store } = recorded();
    await new Keyv({ store }).set('k', 1);
    await new Keyv({ store, namespace: 'sessions' }).set('k', 2);
    expect(backend.keys().sort()).toEqual(['app:keyv:k', 'app:sessions:k']);
  });

  it('clears the remembered keys of its own namespace only, never other code’s keys', async () => {
    const { backend, client } = recorded();
    const sessions = new Keyv({ store: new StowageKeyvStore(client), namespace: 'sessions' });
    const other = new Keyv({ store: new StowageKeyvStore(client), namespace: 'other' });
    await sessions.set('a', 1);
    await sessions.set('b', 2);
    await other.set('a', 3);
    await client.set('plain', 'not Keyv’s');
    await sessions.clear();
    expect(await sessions.get(['a', 'b'])).toEqual([undefined, undefined]);
    expect(await other.get('a')).toBe(3);
    expect(await client.get('plain')).toBe('not Keyv’s');
    expect(backend.calls.filter((c) => c.op === 'deleteMany').map((c) => c.keys)).toEqual([
      ['app:sessions:a', 'app:sessions:b'],
    ]);
  });

  it('a store shared by two namespaces clears both: it cannot tell which Keyv calls', async () => {
    const { client, store } = recorded();
    const sessions = new Keyv({ store, namespace: 'sessions' });
    const other = new Keyv({ store, namespace: 'other' }); // sets store.namespace = 'other'
    await sessions.set('a', 1);
    await other.set('a', 2);
    await client.set('plain', 'x');
    await sessions.clear();
    expect([await sessions.get('a'), await other.get('a')]).toEqual([undefined, undefined]);
    expect(await client.get('plain')).toBe('x');
  });

  it('with Keyv’s useKeyPrefix: false, clears the whole scope rather than leave keys readable', async () => {
    const { client } = recorded();
    const keyv = new Keyv({
      store: new StowageKeyvStore(client),
      namespace: 'sessions',
      useKeyPrefix: false,
    });
    await keyv.set('a', 1); // stored under 'a', not 'sessions:a'
    await client.set('plain', 'x');
    await keyv.clear();
    expect(await keyv.get('a')).toBeUndefined();
    expect(await client.get('plain')).toBeUndefined();
  });

  it('without a namespace, clears every remembered key of the client’s scope', async () => {
    const { client, store } = recorded();
    const bare = new Keyv({ store, namespace: undefined });
    await bare.set('a', 1);
    await client.set('plain', 'x');
    await bare.clear();
    expect(await bare.get('a')).toBeUndefined();
    expect(await client.get('plain')).toBeUndefined();
  });

  it('cannot clear keys this process does not remember (another process’s writes)', async () => {
    const backend = createMemoryBackend();
    const here = new Keyv({ store: new StowageKeyvStore(new CacheClient({ backend })) });
    const elsewhere = new Keyv({ store: new StowageKeyvStore(new CacheClient({ backend })) });
    await elsewhere.set('theirs', 1);
    await here.set('mine', 2);
    await here.clear();
    expect(await here.get('mine')).toBeUndefined();
    // Documented limit: another client's (process's) key stays until its TTL.
    expect(await here.get('theirs')).toBe(1);
  });

  it('with the client option localPath, clears what another process on the host stored', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stowage-keyv-'));
    try {
      const backend = createMemoryBackend(); // stands for the server both processes use
      const options = { backend, localPath: join(dir, 'recent-keys'), localFlushMs: 1 };
      const [here, elsewhere] = [new CacheClient(options), new CacheClient(options)];
      const keyvHere = new Keyv({ store: new StowageKeyvStore(here) });
      const keyvElsewhere = new Keyv({ store: new StowageKeyvStore(elsewhere) });
      await keyvElsewhere.set('theirs', 1);
      await keyvHere.set('mine', 2);
      await new Promise((resolve) => setTimeout(resolve, 100)); // both flushed to the file
      await keyvHere.clear();
      expect(await keyvHere.get('mine')).toBeUndefined();
      expect(await keyvHere.get('theirs')).toBeUndefined();
      await Promise.all([here.close(), elsewhere.close()]);
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  });

  it('keeps clear() inside the client’s scope: a root clear leaves tenants alone, and back', async () => {
    const { client } = recorded();
    const root = new Keyv({ store: new StowageKeyvStore(client) });
    const acme = new Keyv({
      store: new StowageKeyvStore(client.scoped(StorageLevel.Stack, { stack: 'acme' })),
    });
    const globex = new Keyv({
      store: new StowageKeyvStore(client.scoped(StorageLevel.Tenant, { stack: 'globex' })),
    });
    await root.set('plan', 'root');
    await acme.set('plan', 'acme');
    await globex.set('plan', 'globex');
    await root.clear();
    expect([await root.get('plan'), await acme.get('plan'), await globex.get('plan')]).toEqual([
      undefined,
      'acme',
      'globex',
    ]);
    await acme.clear();
    expect([await acme.get('plan'), await globex.get('plan')]).toEqual([undefined, 'globex']);
  });
});

describe('encryption through the client', () => {
  it('stores no plaintext, and a tenant’s entry copied under another tenant’s key is a miss', async () => {
    const backend = new RecordingBackend();
    const client = new CacheClient({ backend, prefix: 'app', encryptionKey: 'keyv passphrase' });
    const acme = new Keyv({
      store: new StowageKeyvStore(client.scoped(StorageLevel.Stack, { stack: 'acme' })),
    });
    const globex = new Keyv({
      store: new StowageKeyvStore(client.scoped(StorageLevel.Stack, { stack: 'globex' })),
    });
    await acme.set('card', { last4: '4242' });
    const stored = backend.peek('app:stack=acme:keyv:card')!;
    expect(Buffer.from(stored.value).toString('latin1')).not.toContain('4242');
    backend.put('app:stack=globex:keyv:card', stored.value, stored.flags);
    expect(await acme.get('card')).toEqual({ last4: '4242' });
    expect(await globex.get('card')).toBeUndefined();
  });
});
