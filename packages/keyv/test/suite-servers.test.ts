// @keyv/test-suite and the mapping's end-to-end checks on real servers: a memcached and a
// redis-server started on 127.0.0.1 for this file and stopped by PID. With CI=true a missing
// binary fails the run instead of skipping.
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { createRedisBackend } from '@stowage/backend-redis';
import { CacheClient, StorageLevel, type CacheBackend } from '@stowage/core';
import { hasBinary, startMemcached, startRedis, type ServerHandle } from '@stowage/testkit';
import Keyv from 'keyv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageKeyvStore } from '../src/index.js';
import { runKeyvTestSuite } from './keyv-suite.js';

/** How one kind of server is started and reached. */
interface ServerKind {
  readonly name: 'memcached' | 'redis';
  readonly available: boolean;
  readonly start: () => Promise<ServerHandle>;
  readonly backend: (server: ServerHandle) => CacheBackend;
}

const kinds: readonly ServerKind[] = [
  {
    name: 'memcached',
    available: hasBinary('memcached'),
    start: () => startMemcached(),
    backend: (server) => createMemcachedBackend({ servers: server.address }),
  },
  {
    name: 'redis',
    available: hasBinary('redis-server'),
    start: () => startRedis(),
    backend: (server) => createRedisBackend({ url: `redis://127.0.0.1:${server.port}` }),
  },
];

for (const kind of kinds) {
  describe.runIf(kind.available)(`on a real ${kind.name}`, () => {
    let server: ServerHandle;
    let client: CacheClient;
    beforeAll(async () => {
      server = await kind.start();
      client = new CacheClient({
        backend: kind.backend(server),
        prefix: 'app',
        encryptionKey: 'keyv servers passphrase',
      });
    });
    afterAll(async () => {
      await client?.close();
      await server?.stop();
    });

    describe('@keyv/test-suite, encrypted client', () => {
      runKeyvTestSuite(() => client);
    });

    describe('@keyv/test-suite, a tenant scoped client', () => {
      runKeyvTestSuite(() => client.scoped(StorageLevel.Stack, { stack: 'acme' }));
    });

    it('the server drops an entry after Keyv’s TTL (ms → seconds, rounded up)', async () => {
      const keyv = new Keyv({ store: new StowageKeyvStore(client), namespace: 'ttl' });
      expect(await keyv.set('short', 'lived', 1000)).toBe(true);
      expect(await client.get('ttl:short')).toBeTypeOf('string');
      // memcached counts whole seconds and may keep an item into its next second.
      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect(await client.get('ttl:short')).toBeUndefined();
    });

    it('two tenants’ Keyvs share a namespace and keys but never entries; clear is per tenant', async () => {
      const acme = new Keyv({
        store: new StowageKeyvStore(client.scoped(StorageLevel.Stack, { stack: 'acme' })),
      });
      const globex = new Keyv({
        store: new StowageKeyvStore(client.scoped(StorageLevel.Stack, { stack: 'globex' })),
      });
      await acme.set('plan', { tier: 'gold' });
      await globex.set('plan', { tier: 'free' });
      expect(await acme.get('plan')).toEqual({ tier: 'gold' });
      expect(await globex.get('plan')).toEqual({ tier: 'free' });
      await acme.clear();
      expect(await acme.get('plan')).toBeUndefined();
      expect(await globex.get('plan')).toEqual({ tier: 'free' });
    });
  });
}
