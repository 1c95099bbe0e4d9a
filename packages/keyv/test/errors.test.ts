// How failures reach a Keyv user: each error exactly once on Keyv's `error` event, still core's
// typed error (instanceof CacheError), a read failure a miss unless Keyv's throwOnErrors, a bad
// key refused before any I/O, and disconnect() closing only a client the store owns.
import { createMemoryBackend } from '@stowage/backend-memory';
import {
  CacheBackendError,
  CacheClient,
  CacheClosedError,
  CacheError,
  CacheKeyError,
} from '@stowage/core';
import { FaultBackend, RecordingBackend, refusedError } from '@stowage/testkit';
import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { StowageKeyvStore } from '../src/index.js';

function failing(options: { throwOnErrors?: boolean } = {}) {
  const inner = new RecordingBackend({ async: true });
  const backend = new FaultBackend(inner);
  const client = new CacheClient({ backend, prefix: 'app' });
  const keyv = new Keyv({ store: new StowageKeyvStore(client), ...options });
  const errors: unknown[] = [];
  keyv.on('error', (error: unknown) => errors.push(error));
  backend.mode = { kind: 'alwaysReject', error: refusedError() };
  return { inner, backend, keyv, errors };
}

describe('a backend that refuses connections', () => {
  it('get: a miss, and the error once on Keyv’s error event (Keyv 5 itself drops it)', async () => {
    const { keyv, errors } = failing();
    expect(await keyv.get('a')).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CacheBackendError);
    expect(errors[0]).toBeInstanceOf(CacheError);
    expect((errors[0] as CacheBackendError).operation).toBe('get');
  });

  it('get with throwOnErrors: rejects with the typed error', async () => {
    const { keyv, errors } = failing({ throwOnErrors: true });
    await expect(keyv.get('a')).rejects.toBeInstanceOf(CacheBackendError);
    expect(errors).toHaveLength(1);
  });

  it('getMany and has: reject (as Keyv 5 lets them) and emit once', async () => {
    const { keyv, errors } = failing();
    await expect(keyv.get(['a', 'b'])).rejects.toBeInstanceOf(CacheError);
    await expect(keyv.has('a')).rejects.toBeInstanceOf(CacheError);
    await expect(keyv.has(['a', 'b'])).rejects.toBeInstanceOf(CacheError);
    expect(errors).toHaveLength(3);
  });

  it('set, setMany, delete, deleteMany, clear: false or nothing, each error emitted once by Keyv', async () => {
    const { backend, keyv, errors } = failing();
    backend.mode = { kind: 'pass' };
    await keyv.set('remembered', 0); // so clear() has a key to delete
    backend.mode = { kind: 'alwaysReject', error: refusedError() };
    expect(await keyv.clear()).toBeUndefined();
    expect(await keyv.set('a', 1)).toBe(false);
    expect(await keyv.setMany([{ key: 'b', value: 2 }])).toEqual([false]);
    expect(await keyv.delete('a')).toBe(false);
    expect(await keyv.delete(['a', 'b'])).toBe(false);
    expect(errors).toHaveLength(5);
    expect(errors.every((error) => error instanceof CacheBackendError)).toBe(true);
  });
});

describe('bad keys', () => {
  it('a key memcached would refuse is a CacheKeyError before any I/O', async () => {
    const backend = new RecordingBackend();
    const keyv = new Keyv({ store: new StowageKeyvStore(new CacheClient({ backend })) });
    const errors: unknown[] = [];
    keyv.on('error', (error: unknown) => errors.push(error));
    expect(await keyv.set('has space', 1)).toBe(false);
    expect(await keyv.delete(['ok', 'has space'])).toBe(false);
    expect(errors.map((error) => (error as Error).constructor)).toEqual([
      CacheKeyError,
      CacheKeyError,
    ]);
    expect(backend.calls).toEqual([]);
  });
});

describe('deleteMany', () => {
  it('is true only when every key existed', async () => {
    const keyv = new Keyv({
      store: new StowageKeyvStore(new CacheClient({ backend: createMemoryBackend() })),
    });
    await keyv.set('a', 1);
    await keyv.set('b', 2);
    expect(await keyv.delete(['a', 'missing'])).toBe(false);
    expect(await keyv.get('a')).toBeUndefined();
    expect(await keyv.delete(['b'])).toBe(true);
    await keyv.set('c', 3);
    expect(await keyv.delete(['c', 'c'])).toBe(true); // listed twice, deleted once
  });
});

describe('disconnect', () => {
  it('leaves a client it does not own open', async () => {
    const client = new CacheClient({ backend: createMemoryBackend() });
    await new Keyv({ store: new StowageKeyvStore(client) }).disconnect();
    await expect(client.set('still', 'open')).resolves.toBe(true);
    await client.close();
  });

  it('closes a client it owns (ownsClient)', async () => {
    const client = new CacheClient({ backend: createMemoryBackend() });
    const store = new StowageKeyvStore(client, { ownsClient: true });
    await new Keyv({ store }).disconnect();
    await expect(client.get('closed')).rejects.toBeInstanceOf(CacheClosedError);
  });
});
