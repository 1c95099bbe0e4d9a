import { describe, expect, it } from 'vitest';
import {
  CacheBackendError,
  CacheClient,
  CacheConfigError,
  CacheErrorCode,
  CacheKeyError,
  CacheReturnCode,
  CacheValueError,
  CacheWriteError,
  isCacheError,
} from '../src/index.js';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import { recordingClient } from './helpers/clients.js';

describe('new CacheClient', () => {
  it.each<[string, unknown]>([
    ['no options', undefined],
    ['no backend', {}],
    ['a backend without methods', { backend: { name: 'x' } }],
    ['timeoutMs 0', { backend: new RecordingBackend(), timeoutMs: 0 }],
    ['timeoutMs 1.5', { backend: new RecordingBackend(), timeoutMs: 1.5 }],
    ['negative quarantineMs', { backend: new RecordingBackend(), quarantineMs: -1 }],
    ['recentKeys -1', { backend: new RecordingBackend(), recentKeys: -1 }],
    ['maxDecompressedBytes 0', { backend: new RecordingBackend(), maxDecompressedBytes: 0 }],
    ['a service with a space', { backend: new RecordingBackend(), service: 'my service' }],
    // Node fires a timer over 2^31 − 1 ms after 1 ms: every call would time out at once.
    ['timeoutMs 2^31', { backend: new RecordingBackend(), timeoutMs: 2 ** 31 }],
    ['quarantineMs 2^31', { backend: new RecordingBackend(), quarantineMs: 2 ** 31 }],
    // inflate refuses a limit over buffer.constants.MAX_LENGTH: every read would fail.
    ['maxDecompressedBytes 5e9', { backend: new RecordingBackend(), maxDecompressedBytes: 5e9 }],
  ])('refuses %s with CacheConfigError', (_name, options) => {
    expect(() => new CacheClient(options as never)).toThrow(CacheConfigError);
  });
});

describe('CacheClient.get', () => {
  it('resolves undefined on a miss', async () => {
    const { client } = recordingClient();
    expect(await client.get('absent')).toBeUndefined();
  });

  it('resolves the default on a miss', async () => {
    const { client } = recordingClient();
    expect(await client.get('absent', 42)).toBe(42);
  });

  it.each([[null], [false], [0], ['']])(
    'returns a stored %j rather than the default',
    async (value) => {
      const { client } = recordingClient();
      await client.set('k', value);
      expect(await client.get('k', 'default')).toBe(value);
    },
  );

  it('reads the prefixed full key', async () => {
    const { client, backend } = recordingClient({ prefix: 'app' });
    await client.get('k');
    expect(backend.calls).toEqual([{ op: 'get', keys: ['app:k'] }]);
  });

  it('throws a backend failure as CacheBackendError with the cause, not indeterminate', async () => {
    const cause = new Error('ECONNRESET');
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'alwaysReject', error: cause };
    const client = new CacheClient({ backend, prefix: 'app' });
    const error = (await client.get('k').catch((e: unknown) => e)) as CacheBackendError;
    expect(error).toBeInstanceOf(CacheBackendError);
    expect(error).toMatchObject({
      code: CacheErrorCode.Backend,
      operation: 'get',
      key: 'app:k',
      indeterminate: false,
      cause,
    });
    expect(error.message).toMatch(/ECONNRESET/);
  });

  it('wraps a synchronous throw from the backend the same way', async () => {
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'alwaysThrow', error: 'a string, not an Error' };
    const client = new CacheClient({ backend });
    await expect(client.get('k')).rejects.toBeInstanceOf(CacheBackendError);
  });
});

describe('CacheClient.getMany', () => {
  it("returns a Map keyed by the caller's unprefixed keys, misses left out", async () => {
    const { client, backend } = recordingClient({ prefix: 'app' });
    await client.setMany({ a: 1, c: 3 });
    const result = await client.getMany(['a', 'b', 'c']);
    expect(result).toBeInstanceOf(Map);
    expect([...result]).toEqual([
      ['a', 1],
      ['c', 3],
    ]);
    expect(backend.calls.at(-1)).toEqual({ op: 'getMany', keys: ['app:a', 'app:b', 'app:c'] });
  });

  it('keeps the order the caller gave', async () => {
    const { client } = recordingClient();
    await client.setMany({ a: 1, b: 2, c: 3 });
    expect([...(await client.getMany(['c', 'a', 'b'])).keys()]).toEqual(['c', 'a', 'b']);
  });

  it('sends a duplicate key once and returns it once', async () => {
    const { client, backend } = recordingClient();
    await client.set('a', 1);
    const result = await client.getMany(['a', 'a', 'b', 'a']);
    expect([...result]).toEqual([['a', 1]]);
    expect(backend.calls.at(-1)?.keys).toEqual(['a', 'b']);
  });

  it('sends each of many keys once, in first-seen order', async () => {
    const { client, backend } = recordingClient();
    await client.setMany({ k3: 3, k7: 7 });
    const keys = Array.from({ length: 30 }, (_, i) => `k${i % 10}`);
    const result = await client.getMany(keys);
    expect([...result]).toEqual([
      ['k3', 3],
      ['k7', 7],
    ]);
    expect(backend.calls.at(-1)?.keys).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`));
  });

  it('resolves an empty Map for no keys without calling the backend', async () => {
    const { client, backend } = recordingClient();
    expect(await client.getMany([])).toEqual(new Map());
    expect(backend.calls).toEqual([]);
  });

  it('accepts any iterable of keys', async () => {
    const { client } = recordingClient();
    await client.setMany({ a: 1, b: 2 });
    function* keys(): Generator<string> {
      yield 'a';
      yield 'b';
    }
    expect((await client.getMany(new Set(['a']))).get('a')).toBe(1);
    expect((await client.getMany(keys())).size).toBe(2);
  });

  it('returns a key named __proto__ as an ordinary entry', async () => {
    const { client } = recordingClient();
    await client.set('__proto__', 'safe');
    const result = await client.getMany(['__proto__']);
    expect(result.get('__proto__')).toBe('safe');
  });

  it('keeps a stored null as a hit', async () => {
    const { client } = recordingClient();
    await client.set('n', null);
    expect((await client.getMany(['n'])).has('n')).toBe(true);
  });
});

describe('CacheClient.set', () => {
  it('resolves true and stores under the full key', async () => {
    const { client, backend } = recordingClient({ prefix: 'app' });
    expect(await client.set('k', 'v')).toBe(true);
    expect(backend.keys()).toEqual(['app:k']);
  });

  it('resolves false when the backend refuses the write', async () => {
    const { client, backend } = recordingClient();
    backend.refuse = () => true;
    expect(await client.set('k', 'v')).toBe(false);
    expect(client.stats().setFailures).toBe(1);
  });

  it('refuses a value over the backend limit after encoding, before any I/O', async () => {
    const { client, backend } = recordingClient({ compress: false }, { maxValueBytes: 100 });
    await expect(client.set('k', 'x'.repeat(101))).rejects.toThrow(/too large: 101 bytes/);
    expect(backend.calls).toEqual([]);
  });

  it('accepts a value that only fits once compressed', async () => {
    const { client } = recordingClient({ compress: 64 }, { maxValueBytes: 100 });
    expect(await client.set('k', 'x'.repeat(5000))).toBe(true);
    expect(await client.get('k')).toBe('x'.repeat(5000));
  });

  it('throws a backend failure as an indeterminate CacheBackendError', async () => {
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'alwaysReject' };
    const client = new CacheClient({ backend });
    await expect(client.set('k', 1)).rejects.toMatchObject({
      code: CacheErrorCode.Backend,
      operation: 'set',
      indeterminate: true,
    });
  });
});

describe('CacheClient.setAndReturn', () => {
  it('resolves the very value it was given', async () => {
    const { client } = recordingClient();
    const value = { a: 1 };
    expect(await client.setAndReturn('k', value)).toBe(value);
    expect(await client.get('k')).toEqual({ a: 1 });
  });

  it('throws CacheWriteError naming the key when the write is refused', async () => {
    const { client, backend } = recordingClient();
    backend.refuse = () => true;
    await expect(client.setAndReturn('k', 1)).rejects.toThrow(CacheWriteError);
    await expect(client.setAndReturn('k', 1)).rejects.toMatchObject({
      code: CacheErrorCode.Write,
      key: 'k',
    });
  });
});

describe('CacheClient.setMany', () => {
  it('stores an object, a Map and an iterable of pairs', async () => {
    const { client } = recordingClient();
    expect(await client.setMany({ a: 1 })).toEqual([]);
    expect(await client.setMany(new Map([['b', 2]]))).toEqual([]);
    expect(await client.setMany([['c', 3]])).toEqual([]);
    expect([...(await client.getMany(['a', 'b', 'c'])).values()]).toEqual([1, 2, 3]);
  });

  it("resolves the caller's keys that were not stored", async () => {
    const { client, backend } = recordingClient({ prefix: 'app' });
    backend.refuse = (key) => key === 'app:b';
    expect(await client.setMany({ a: 1, b: 2, c: 3 })).toEqual(['b']);
    expect(backend.keys()).toEqual(['app:a', 'app:c']);
  });

  it('sends all entries in one call and never reads them back', async () => {
    const { client, backend } = recordingClient();
    await client.setMany({ a: 1, b: 2 });
    expect(backend.ops).toEqual(['setMany']);
  });

  it('lets the last write of a duplicate key win', async () => {
    const { client, backend } = recordingClient();
    await client.setMany([
      ['a', 1],
      ['b', 2],
      ['a', 3],
    ]);
    expect(backend.calls[0]?.keys).toEqual(['b', 'a']);
    expect(await client.get('a')).toBe(3);
  });

  it('resolves [] for no entries without calling the backend', async () => {
    const { client, backend } = recordingClient();
    expect(await client.setMany({})).toEqual([]);
    expect(await client.setMany([])).toEqual([]);
    expect(backend.calls).toEqual([]);
  });

  it('refuses entries that are not an object, Map or iterable', async () => {
    const { client } = recordingClient();
    await expect(client.setMany(42 as never)).rejects.toThrow(CacheValueError);
    await expect(client.setMany(null as never)).rejects.toThrow(CacheValueError);
  });
});

describe('CacheClient.delete', () => {
  it('resolves true when the key existed and false otherwise', async () => {
    const { client } = recordingClient();
    await client.set('k', 1);
    expect(await client.delete('k')).toBe(true);
    expect(await client.delete('k')).toBe(false);
    expect(await client.get('k')).toBeUndefined();
  });
});

describe('CacheClient.deleteMany', () => {
  it('deletes every key in one call and resolves true', async () => {
    const { client, backend } = recordingClient({ prefix: 'p' });
    await client.setMany({ a: 1, b: 2, c: 3 });
    expect(await client.deleteMany(['a', 'b', 'a'])).toBe(true);
    expect(backend.calls.at(-1)).toEqual({ op: 'deleteMany', keys: ['p:a', 'p:b'] });
    expect(backend.keys()).toEqual(['p:c']);
  });

  it('resolves true for no keys without calling the backend', async () => {
    const { client, backend } = recordingClient();
    expect(await client.deleteMany([])).toBe(true);
    expect(backend.calls).toEqual([]);
  });
});

describe('a bare string where a list of keys belongs (issue 10 §3)', () => {
  it.each([['deleteMany'], ['getMany']] as const)(
    '%s refuses a string with CacheKeyError before any I/O, instead of iterating its characters',
    async (method) => {
      const { client, backend } = recordingClient();
      await client.setMany({ a: 1, b: 2, c: 3 });
      backend.calls.length = 0;
      const call = (client[method] as (keys: unknown) => Promise<unknown>).bind(client);
      await expect(call('abc')).rejects.toBeInstanceOf(CacheKeyError);
      await expect(call('abc')).rejects.toThrow(/not a string/);
      await expect(call(42)).rejects.toBeInstanceOf(CacheKeyError);
      expect(backend.calls).toEqual([]);
      expect(backend.keys().sort()).toEqual(['a', 'b', 'c']);
    },
  );

  it('setMany refuses a string with CacheValueError before any I/O', async () => {
    const { client, backend } = recordingClient();
    await expect(client.setMany('ab' as never)).rejects.toBeInstanceOf(CacheValueError);
    expect(backend.calls).toEqual([]);
  });
});

describe('CacheClient.flushAll', () => {
  it('flushes the server and resolves true', async () => {
    const { client, backend } = recordingClient();
    await client.setMany({ a: 1, b: 2 });
    expect(await client.flushAll()).toBe(true);
    expect(backend.calls.at(-1)).toEqual({ op: 'flush', keys: [], delay: 0 });
    expect(backend.keys()).toEqual([]);
  });

  it('passes a delay to a backend that supports delayed flushes', async () => {
    const { client, backend } = recordingClient();
    await client.flushAll({ delaySeconds: 30 });
    expect(backend.calls).toEqual([{ op: 'flush', keys: [], delay: 30 }]);
  });

  it('refuses a delay the backend cannot honour, before any I/O', async () => {
    const { client, backend } = recordingClient({}, { delayedFlush: false });
    await expect(client.flushAll({ delaySeconds: 5 })).rejects.toThrow(/cannot delay a flush/);
    expect(backend.calls).toEqual([]);
  });

  it.each([[-1], [1.5], [Number.NaN], ['5']])('refuses delaySeconds %j', async (delaySeconds) => {
    const { client, backend } = recordingClient();
    await expect(client.flushAll({ delaySeconds: delaySeconds as number })).rejects.toThrow(
      CacheValueError,
    );
    expect(backend.calls).toEqual([]);
  });
});

describe('CacheClient.add', () => {
  it('stores a value only when the key holds nothing', async () => {
    const { client } = recordingClient();
    expect(await client.add('k', 'first')).toBe(true);
    expect(await client.add('k', 'second')).toBe(false);
    expect(await client.get('k')).toBe('first');
  });

  it('passes its TTL', async () => {
    const { client, backend } = recordingClient();
    await client.add('k', 1, { ttl: '2m' });
    expect(backend.calls[0]).toMatchObject({ op: 'add', ttl: 120 });
  });
});

describe('CacheClient.touch', () => {
  it('gives an existing entry a new TTL and resolves true', async () => {
    const { client, backend } = recordingClient();
    await client.set('k', 1);
    expect(await client.touch('k', '10s')).toBe(true);
    expect(backend.calls.at(-1)).toMatchObject({ op: 'touch', ttl: 10 });
  });

  it('resolves false on a miss', async () => {
    const { client } = recordingClient();
    expect(await client.touch('absent', 10)).toBe(false);
  });
});

describe('CacheClient.incr', () => {
  it('adds 1 by default and resolves a number', async () => {
    const { client } = recordingClient();
    await client.set('n', 41);
    expect(await client.incr('n')).toBe(42);
    expect(await client.get('n')).toBe(42);
  });

  it('adds a number delta', async () => {
    const { client } = recordingClient();
    await client.set('n', 1);
    expect(await client.incr('n', 10)).toBe(11);
  });

  it('resolves a bigint for a bigint delta', async () => {
    const { client } = recordingClient();
    await client.set('n', 1);
    expect(await client.incr('n', 2n)).toBe(3n);
  });

  it('resolves undefined on a miss', async () => {
    const { client } = recordingClient();
    expect(await client.incr('absent')).toBeUndefined();
  });

  it('throws CacheValueError past MAX_SAFE_INTEGER with a number delta', async () => {
    const { client } = recordingClient();
    await client.set('n', Number.MAX_SAFE_INTEGER);
    await expect(client.incr('n')).rejects.toThrow(/MAX_SAFE_INTEGER/);
  });

  it('reads the same counter exactly with a bigint delta past MAX_SAFE_INTEGER', async () => {
    const { client } = recordingClient();
    await client.set('n', Number.MAX_SAFE_INTEGER);
    expect(await client.incr('n', 1n)).toBe(2n ** 53n);
    expect(await client.get('n')).toBe(2n ** 53n);
  });

  it.each<[string, number | bigint]>([
    ['a negative number', -1],
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['an unsafe number', 2 ** 53],
    ['a negative bigint', -1n],
    ['a bigint over 2^64 - 1', 2n ** 64n],
  ])('refuses %s as delta before any I/O', async (_name, delta) => {
    const { client, backend } = recordingClient();
    await expect(client.incr('n', delta as number)).rejects.toThrow(CacheValueError);
    expect(backend.calls).toEqual([]);
  });

  it('refuses counters on an encrypting client before any I/O', async () => {
    const { client, backend } = recordingClient({ encryptionKey: Buffer.alloc(32) });
    await expect(client.incr('n')).rejects.toThrow(/unencrypted/);
    await expect(client.decr('n')).rejects.toThrow(CacheValueError);
    expect(backend.calls).toEqual([]);
  });

  it('fails on a value that is not an integer', async () => {
    const { client } = recordingClient();
    await client.set('s', 'text');
    // The backend's error passes through as it was thrown; Stowage errors are recognised by
    // name and code (isCacheError), as those of a second copy of the package are.
    const error = await client.incr('s').catch((caught: unknown) => caught);
    expect(isCacheError(error, CacheErrorCode.Value)).toBe(true);
    expect((error as Error).name).toBe('CacheValueError');
  });

  it('keeps the integer flag so the value reads back as a number', async () => {
    const { client, backend } = recordingClient();
    await client.set('n', 9);
    await client.incr('n');
    expect(backend.peek('n')).toMatchObject({ flags: CacheReturnCode.Integer });
  });
});

describe('CacheClient.decr', () => {
  it('subtracts 1 by default', async () => {
    const { client } = recordingClient();
    await client.set('n', 10);
    expect(await client.decr('n')).toBe(9);
  });

  it('subtracts a bigint delta and resolves a bigint', async () => {
    const { client } = recordingClient();
    await client.set('n', 10);
    expect(await client.decr('n', 3n)).toBe(7n);
  });

  it('stops at 0 on an unsigned backend', async () => {
    const { client } = recordingClient();
    await client.set('n', 2);
    expect(await client.decr('n', 5)).toBe(0);
  });

  it('resolves undefined on a miss', async () => {
    const { client } = recordingClient();
    expect(await client.decr('absent')).toBeUndefined();
  });
});

describe('CacheClient errors are typed', () => {
  it('throws CacheKeyError synchronously from fullKey and asynchronously from methods', async () => {
    const { client } = recordingClient();
    expect(() => client.fullKey('')).toThrow(CacheKeyError);
    const pending = client.get('');
    await expect(pending).rejects.toThrow(CacheKeyError);
  });
});

describe('a blank encryption key (issue 10 §3)', () => {
  it.each([[''], ['   '], ['\t']])('refuses encryptionKey %j with CacheConfigError', (key) => {
    expect(() => new CacheClient({ backend: new RecordingBackend(), encryptionKey: key })).toThrow(
      CacheConfigError,
    );
  });

  it('refuses an empty byte key', () => {
    expect(
      () => new CacheClient({ backend: new RecordingBackend(), encryptionKey: new Uint8Array(0) }),
    ).toThrow(CacheConfigError);
  });
});
