// A value over `maxValueBytes` is refused without throwing, and the key keeps no older value: the
// backend sends a delete of the key instead of the write, as memcached itself unlinks an item on
// "object too large". `add` refuses without touching anything.
import { CacheErrorCode, isCacheError } from '@stowage/core';
import { freePort, hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemcachedBackend, type MemcachedBackend } from '../src/index.js';
import { Opcode } from '../src/protocol.js';
import { entry, RecordingProxy, textOf, trackProcessErrors } from './helpers.js';

const MAX_VALUE_BYTES = 1000;
const big = (): Buffer => Buffer.alloc(MAX_VALUE_BYTES + 1, 0x61);

function errorOf(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (error: unknown) => error,
  );
}

trackProcessErrors();

describe.runIf(hasBinary('memcached'))('an oversized value', () => {
  let server: ServerHandle;
  let proxy: RecordingProxy;
  let backend: MemcachedBackend;
  beforeAll(async () => {
    server = await startMemcached();
    proxy = await RecordingProxy.start(server.port);
    backend = createMemcachedBackend({
      servers: proxy.address,
      keyPrefix: 'o:',
      maxValueBytes: MAX_VALUE_BYTES,
    });
  });
  afterEach(() => proxy.clear());
  afterAll(async () => {
    backend.close();
    await proxy.close();
    await server.stop();
  });

  /** Stores `old <key>` under each key, then forgets the frames that took. */
  async function hold(...keys: string[]): Promise<void> {
    for (const key of keys) expect(await backend.set(key, entry(`old ${key}`), 0)).toBe(true);
    proxy.clear();
  }

  it('set resolves false and sends a delete instead, so the old value is gone', async () => {
    await hold('s');
    expect(await backend.set('s', entry(big()), 0)).toBe(false);
    expect(proxy.frames).toMatchObject([{ opcode: Opcode.Delete, key: 'o:s' }]);
    expect(await backend.get('s')).toBeUndefined();
    // A value of exactly maxValueBytes is not oversized.
    expect(await backend.set('s', entry(Buffer.alloc(MAX_VALUE_BYTES)), 0)).toBe(true);
  });

  it('setAndRead resolves undefined and sends a delete instead', async () => {
    await hold('r');
    expect(await backend.setAndRead('r', entry(big()), 0)).toBeUndefined();
    expect(proxy.frames).toMatchObject([{ opcode: Opcode.Delete, key: 'o:r' }]);
    expect(await backend.get('r')).toBeUndefined();
  });

  it('setMany lists the key as not stored and deletes it in the same batch, storing the rest', async () => {
    await hold('m1', 'm2');
    const notStored = await backend.setMany(
      [
        { key: 'm1', entry: entry(big()) },
        { key: 'fits', entry: entry('fits') },
        { key: 'm2', entry: entry(big()) },
      ],
      0,
    );
    expect(notStored).toEqual(['m1', 'm2']);
    expect(proxy.frames.map((frame) => [frame.opcode, frame.key])).toEqual([
      [Opcode.DeleteQ, 'o:m1'],
      [Opcode.SetQ, 'o:fits'],
      [Opcode.DeleteQ, 'o:m2'],
      [Opcode.Noop, ''],
    ]);
    expect((await backend.getMany(['m1', 'fits', 'm2'])).map(textOf)).toEqual([
      undefined,
      'fits',
      undefined,
    ]);
  });

  it('add resolves false, sends nothing, and leaves an existing value alone', async () => {
    await hold('a');
    expect(await backend.add('a', entry(big()), 0)).toBe(false);
    expect(await backend.add('a-free', entry(big()), 0)).toBe(false);
    expect(proxy.frames).toEqual([]);
    expect(textOf(await backend.get('a'))).toBe('old a');
    expect(await backend.get('a-free')).toBeUndefined();
  });

  it('is checked after the key, the entry and the TTL: a bad one still throws, nothing sent', async () => {
    for (const call of [
      () => backend.set('bad key', entry(big()), 0),
      () => backend.set('t', entry(big()), -1),
      () => backend.setAndRead('t', entry(big()), Number.NaN),
      () => backend.add('t', entry(big(), -1), 0),
      () => backend.setMany([{ key: 't', entry: entry(big()) }], -1),
    ]) {
      const error = await errorOf(call);
      expect(
        isCacheError(error, CacheErrorCode.Key) || isCacheError(error, CacheErrorCode.Value),
      ).toBe(true);
    }
    expect(proxy.frames).toEqual([]);
  });

  it('a refusal whose delete fails rejects, named after the call, not resolved false', async () => {
    const unreachable = createMemcachedBackend({
      servers: `127.0.0.1:${await freePort()}`,
      maxValueBytes: MAX_VALUE_BYTES,
      timeoutMs: 500,
    });
    try {
      const error = await errorOf(() => unreachable.set('k', entry(big()), 0));
      expect(error).toMatchObject({
        code: CacheErrorCode.Backend,
        operation: 'set',
        key: 'k',
        indeterminate: false, // refused: the delete never left
      });
    } finally {
      unreachable.close();
    }
  });
});
