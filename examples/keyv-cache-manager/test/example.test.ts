// Runs the example's path — cache-manager 7 → Keyv → @stowage/keyv → a Stowage client — on the
// memory backend and on a real memcached and Redis (started on 127.0.0.1 for this file and
// stopped by PID; with CI=true a missing binary fails instead of skipping), and the built
// dist/main.js once as a user would.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { createMemoryBackend } from '@stowage/backend-memory';
import { createRedisBackend } from '@stowage/backend-redis';
import { CacheClient, StorageLevel, type CacheBackend } from '@stowage/core';
import { hasBinary, startMemcached, startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStowageCache } from '../src/caches.js';
import { runDemo } from '../src/demo.js';

interface BackendKind {
  readonly name: string;
  readonly available: boolean;
  readonly start: () => Promise<ServerHandle | undefined>;
  readonly backend: (server: ServerHandle | undefined) => CacheBackend;
}

const kinds: readonly BackendKind[] = [
  {
    name: 'memory',
    available: true,
    start: () => Promise.resolve(undefined),
    backend: () => createMemoryBackend(),
  },
  {
    name: 'memcached',
    available: hasBinary('memcached'),
    start: () => startMemcached(),
    backend: (server) => createMemcachedBackend({ servers: server!.address }),
  },
  {
    name: 'redis',
    available: hasBinary('redis-server'),
    start: () => startRedis(),
    backend: (server) => createRedisBackend({ url: `redis://127.0.0.1:${server!.port}` }),
  },
];

for (const kind of kinds) {
  describe.runIf(kind.available)(`cache-manager over Stowage on ${kind.name}`, () => {
    let server: ServerHandle | undefined;
    let client: CacheClient;
    beforeAll(async () => {
      server = await kind.start();
      client = new CacheClient({ backend: kind.backend(server), prefix: 'shop' });
    });
    afterAll(async () => {
      await client?.close();
      await server?.stop();
    });

    it('runs the demo: wrap misses once then hits, tenants stay apart, clear is per tenant', async () => {
      const { lines, lookups } = await runDemo(client, { delayMs: 30, log: () => {} });
      expect(lines[0]).toMatch(/^wrap miss: 504 cents in \d+ ms \(lookups: 1\)$/);
      expect(lines[1]).toMatch(/^wrap hit: 504 cents in \d+ ms \(lookups: 1\)$/);
      expect(lines[2]).toBe('5 concurrent wraps for globex: 5 answers (lookups: 2)');
      expect(lines.slice(3)).toEqual([
        'set/get: spring sale · globex sees undefined',
        'del: undefined',
        'acme clear: acme undefined · globex 506',
      ]);
      expect(lookups).toBe(2);
      // What the Stowage client holds: the tenant's Keyv entry under its scope and namespace.
      const globex = client.scoped(StorageLevel.Stack, { stack: 'globex' });
      expect(await globex.get('prices:sku-1')).toMatch(/^\{"value":\{"tenant":"globex"/);
      expect(client.fullKey('prices:sku-1')).toBe('shop:prices:sku-1');
    });

    it('mset, mget, ttl and mdel go through the same store', async () => {
      const cache = createStowageCache(client, { namespace: 'batch' });
      await cache.mset([
        { key: 'a', value: { n: 1 }, ttl: 60_000 },
        { key: 'b', value: [2] },
      ]);
      expect(await cache.mget(['a', 'b', 'missing'])).toEqual([{ n: 1 }, [2], undefined]);
      const expires = await cache.ttl('a');
      expect(expires).toBeGreaterThan(Date.now() + 50_000);
      expect(await cache.ttl('b')).toBeUndefined();
      await cache.mdel(['a', 'b']);
      expect(await cache.mget(['a', 'b'])).toEqual([undefined, undefined]);
    });
  });
}

describe('dist/main.js', () => {
  it('prints every step on the memory backend', async () => {
    const entry = fileURLToPath(new URL('../dist/main.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [entry], {
      env: { ...process.env, CACHE_URL: 'memory://', LOOKUP_DELAY_MS: '20' },
      timeout: 15_000,
    });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('cache-manager over Stowage (memory)');
    expect(lines.at(-1)).toBe('acme clear: acme undefined · globex 506');
    expect(lines).toHaveLength(7);
  });
});
