// The README's NestJS snippets, run: @nestjs/cache-manager's CacheModule with a Keyv on a
// StowageKeyvStore (register), and with the bare store plus ownsClient (registerAsync), through
// Nest's CACHE_MANAGER; the module's shutdown disconnects the store, which closes only a client
// the store owns.
import 'reflect-metadata';
import { CACHE_MANAGER, CacheModule } from '@nestjs/cache-manager';
import { Test } from '@nestjs/testing';
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient, CacheClosedError } from '@stowage/core';
import { StowageKeyvStore } from '@stowage/keyv';
import type { Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';

describe('@nestjs/cache-manager over Stowage', () => {
  it('CacheModule.register({ stores: [new Keyv({ store })] })', async () => {
    const client = new CacheClient({ backend: createMemoryBackend(), prefix: 'api' });
    const moduleRef = await Test.createTestingModule({
      imports: [
        CacheModule.register({
          // `as never`: this test is ESM, @nestjs/cache-manager's types are CommonJS, and Keyv's
          // class has private fields, so TypeScript sees two distinct Keyv classes. A CommonJS
          // Nest app (the usual kind) needs no cast.
          stores: [new Keyv({ store: new StowageKeyvStore(client) }) as never],
          ttl: 30_000,
        }),
      ],
    }).compile();
    const cache = moduleRef.get<Cache>(CACHE_MANAGER);
    let runs = 0;
    const load = async () => ({ plan: 'gold', run: ++runs });
    expect(await cache.wrap('plan:acme', load)).toEqual({ plan: 'gold', run: 1 });
    expect(await cache.wrap('plan:acme', load)).toEqual({ plan: 'gold', run: 1 });
    expect(await client.get('keyv:plan:acme')).toMatch(/^\{"value":\{"plan":"gold","run":1\}/);
    expect((await cache.ttl('plan:acme'))! - Date.now()).toBeGreaterThan(25_000);
    await moduleRef.close();
    // The store does not own the client: Nest's shutdown leaves it open.
    await expect(client.get('keyv:plan:acme')).resolves.toBeTypeOf('string');
    await client.close();
  });

  it('CacheModule.registerAsync with the bare store and ownsClient: Nest’s shutdown closes it', async () => {
    const client = new CacheClient({ backend: createMemoryBackend(), prefix: 'api' });
    const moduleRef = await Test.createTestingModule({
      imports: [
        CacheModule.registerAsync({
          useFactory: () => ({
            stores: [new StowageKeyvStore(client, { ownsClient: true })],
            namespace: 'nest',
          }),
        }),
      ],
    }).compile();
    const cache = moduleRef.get<Cache>(CACHE_MANAGER);
    await cache.set('greeting', 'hello');
    expect(await cache.get('greeting')).toBe('hello');
    expect(await client.get('nest:greeting')).toBeTypeOf('string');
    await cache.del('greeting');
    expect(await cache.get('greeting')).toBeUndefined();
    await moduleRef.close();
    await expect(client.get('nest:greeting')).rejects.toBeInstanceOf(CacheClosedError);
  });
});
