import { describe, expect, it } from 'vitest';
import { CacheClient, CacheScopeError, StorageLevel, isStorageLevel } from '../src/index.js';
import { RecordingBackend } from '@stowage/testkit';
import { recordingClient } from './helpers/clients.js';

describe('CacheClient.scoped', () => {
  it.each([
    [StorageLevel.Stack, {}],
    [StorageLevel.Stack, undefined],
    [StorageLevel.Stack, { stack: undefined, session: 's1' }],
    [StorageLevel.Stack, { stack: null as unknown as string }],
    [StorageLevel.Session, { stack: 'acme' }],
    [StorageLevel.Session, { session: '' }],
    [StorageLevel.Service, {}],
  ])('throws CacheScopeError for %s without its id (%j), never a broader scope', (level, scope) => {
    const { client } = recordingClient({ prefix: 'app' });
    try {
      client.scoped(level, scope);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(CacheScopeError);
      expect((error as CacheScopeError).level).toBe(level);
    }
  });

  it('throws CacheScopeError for an unknown level', () => {
    const { client } = recordingClient();
    expect(() => client.scoped('tenant' as StorageLevel, { stack: 'a' })).toThrow(CacheScopeError);
  });

  it('uses the client option service for the Service level', () => {
    const { client } = recordingClient({ prefix: 'app', service: 'billing' });
    expect(client.scoped(StorageLevel.Service).fullKey('k')).toBe('app:service=billing:k');
    expect(client.scoped(StorageLevel.Service, { service: 'other' }).fullKey('k')).toBe(
      'app:service=other:k',
    );
  });

  it('exposes its level and key prefix', () => {
    const { client } = recordingClient({ prefix: 'app' });
    const tenant = client.scoped(StorageLevel.Stack, { stack: 'acme' });
    expect(tenant.level).toBe('stack');
    expect(tenant.keyPrefix).toBe('app:stack=acme:');
    expect(client.level).toBeUndefined();
    expect(client.keyPrefix).toBe('app:');
  });

  it('isolates two tenants and the root from one another', async () => {
    const { client } = recordingClient({ prefix: 'app' });
    const a = client.scoped(StorageLevel.Stack, { stack: 'a' });
    const b = client.scoped(StorageLevel.Stack, { stack: 'b' });
    await a.set('balance', 1);
    await b.set('balance', 2);
    await client.set('balance', 3);
    expect(await a.get('balance')).toBe(1);
    expect(await b.get('balance')).toBe(2);
    expect(await client.get('balance')).toBe(3);
    await a.delete('balance');
    expect(await b.get('balance')).toBe(2);
  });

  it('isolates sessions from their tenant', async () => {
    const { client } = recordingClient();
    const stack = client.scoped(StorageLevel.Stack, { stack: 'acme' });
    const session = client.scoped(StorageLevel.Session, { stack: 'acme', session: 's1' });
    await stack.set('cart', 'tenant');
    expect(await session.get('cart')).toBeUndefined();
  });

  it('replaces the scope when a scoped client is scoped again', () => {
    const { client } = recordingClient({ prefix: 'app' });
    const a = client.scoped(StorageLevel.Stack, { stack: 'a' });
    expect(a.scoped(StorageLevel.Stack, { stack: 'b' }).fullKey('k')).toBe('app:stack=b:k');
  });

  it('shares the backend, stats and events with the root', async () => {
    const backend = new RecordingBackend();
    const client = new CacheClient({ backend });
    let hits = 0;
    client.on('hit', () => hits++);
    const tenant = client.scoped(StorageLevel.Stack, { stack: 'a' });
    await tenant.set('k', 1);
    await tenant.get('k');
    expect(tenant.backend).toBe(backend);
    expect(client.stats().hits).toBe(1);
    expect(hits).toBe(1);
  });
});

describe('isStorageLevel', () => {
  it('accepts the three levels and nothing else', () => {
    expect(['service', 'stack', 'session'].every(isStorageLevel)).toBe(true);
    expect(isStorageLevel('Stack')).toBe(false);
    expect(isStorageLevel(undefined)).toBe(false);
  });
});

describe('StorageLevel.Tenant', () => {
  it('is Stack under the name Node services use: the same keys, the same scope checks', () => {
    expect(StorageLevel.Tenant).toBe(StorageLevel.Stack);
    const client = new CacheClient({ backend: new RecordingBackend(), prefix: 'app' });
    const tenant = client.scoped(StorageLevel.Tenant, { stack: 'acme' });
    const stack = client.scoped(StorageLevel.Stack, { stack: 'acme' });
    expect(tenant.fullKey('plan')).toBe(stack.fullKey('plan'));
    expect(() => client.scoped(StorageLevel.Tenant, {})).toThrow(CacheScopeError);
  });
});
