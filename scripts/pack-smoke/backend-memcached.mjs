// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// No memcached is needed: it checks typed errors and that a dead server fails fast.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { CacheClient, CacheErrorCode, getCache, isCacheError } from '@stowage/core';
import { createMemcachedBackend, MemcachedBackend } from '@stowage/backend-memcached';

assert.throws(
  () => createMemcachedBackend({ servers: 'host:70000' }),
  (error) => isCacheError(error, CacheErrorCode.Config),
);

// A port nobody listens on: take a free one and close it again.
const port = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = server.address();
    server.close(() => resolve(free));
  });
});

const cache = await getCache({
  url: `memcached://127.0.0.1:${port},127.0.0.1:${port + 1}`,
  timeoutMs: 500,
});
assert.ok(cache.backend instanceof MemcachedBackend);
const started = performance.now();
await assert.rejects(
  () => cache.get('key'),
  (error) => isCacheError(error, CacheErrorCode.Backend),
);
assert.ok(performance.now() - started < 500, 'a refused connection fails before the deadline');
await cache.close();

const direct = new CacheClient({
  backend: createMemcachedBackend({ servers: `127.0.0.1:${port}` }),
});
await assert.rejects(
  () => direct.set('bad key', 1),
  (error) => isCacheError(error, CacheErrorCode.Key),
);
await direct.close();
console.log('backend-memcached ESM ok');
