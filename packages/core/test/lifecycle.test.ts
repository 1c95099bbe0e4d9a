import { describe, expect, it } from 'vitest';
import {
  CacheClient,
  CacheError,
  CacheErrorCode,
  StorageLevel,
  isCacheError,
} from '../src/index.js';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import { recordingClient } from './helpers/clients.js';

const calls: Array<[string, (c: CacheClient) => Promise<unknown>]> = [
  ['get', (c) => c.get('k')],
  ['getMany', (c) => c.getMany(['k'])],
  ['set', (c) => c.set('k', 1)],
  ['setAndReturn', (c) => c.setAndReturn('k', 1)],
  ['setMany', (c) => c.setMany({ k: 1 })],
  ['add', (c) => c.add('k', 1)],
  ['touch', (c) => c.touch('k', 1)],
  ['incr', (c) => c.incr('k')],
  ['decr', (c) => c.decr('k')],
  ['delete', (c) => c.delete('k')],
  ['deleteMany', (c) => c.deleteMany(['k'])],
  ['flushAll', (c) => c.flushAll()],
  ['bustRecent', (c) => c.bustRecent()],
  ['getOrSet', (c) => c.getOrSet('k', () => 1)],
];

describe('CacheClient.close', () => {
  it.each(calls)('makes a later %s reject with E_CACHE_CLOSED and no I/O', async (_name, call) => {
    const { client, backend } = recordingClient();
    await client.set('warm', 1);
    await client.close();
    backend.calls.length = 0;
    const error = await call(client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheError);
    expect(isCacheError(error, CacheErrorCode.Closed)).toBe(true);
    expect(backend.calls).toEqual([]);
  });

  it('closes the backend once however often it is called', async () => {
    const { client, backend } = recordingClient();
    await Promise.all([client.close(), client.close()]);
    await client.close();
    expect(backend.closeCount).toBe(1);
  });

  it('leaves the backend open with ownsBackend: false', async () => {
    const { client, backend } = recordingClient({ ownsBackend: false });
    await client.close();
    expect(backend.closeCount).toBe(0);
  });

  it('closes scoped clients with their root', async () => {
    const { client } = recordingClient();
    const tenant = client.scoped(StorageLevel.Stack, { stack: 'a' });
    await client.close();
    await expect(tenant.get('k')).rejects.toMatchObject({ code: CacheErrorCode.Closed });
  });

  it('does nothing when called on a scoped client: the root stays open', async () => {
    const { client, backend } = recordingClient();
    const tenant = client.scoped(StorageLevel.Stack, { stack: 'a' });
    await tenant.close();
    expect(backend.closeCount).toBe(0);
    expect(await client.set('k', 1)).toBe(true);
    expect(await tenant.set('k', 1)).toBe(true);
  });

  it('rejects with a CacheError when the backend fails to close', async () => {
    const backend = new FaultBackend(new RecordingBackend());
    backend.ops = new Set(['close']);
    backend.mode = { kind: 'alwaysReject', error: new Error('socket stuck') };
    const client = new CacheClient({ backend });
    await expect(client.close()).rejects.toMatchObject({ code: CacheErrorCode.Backend });
    await expect(client.get('k')).rejects.toMatchObject({ code: CacheErrorCode.Closed });
  });
});

describe('CacheClient[Symbol.asyncDispose]', () => {
  it('closes the client at the end of an await using block', async () => {
    const backend = new RecordingBackend();
    {
      await using cache = new CacheClient({ backend });
      await cache.set('k', 1);
    }
    expect(backend.closeCount).toBe(1);
  });

  it('leaves the root open when a scoped client is disposed', async () => {
    const { client, backend } = recordingClient();
    {
      await using tenant = client.scoped(StorageLevel.Stack, { stack: 'a' });
      await tenant.set('k', 1);
    }
    expect(backend.closeCount).toBe(0);
    expect(await client.set('x', 1)).toBe(true);
  });
});
