// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// Needs no Redis server: construction is lazy and port 1 on loopback refuses at once.
import assert from 'node:assert/strict';
import { CacheErrorCode, getCache, isCacheError } from '@stowage/core';
import { createRedisBackend, keySlot, RedisBackend } from '@stowage/backend-redis';

const backend = createRedisBackend({
  url: 'redis://127.0.0.1:1/2?keyPrefix=smoke:',
  timeoutMs: 300,
});
assert.ok(backend instanceof RedisBackend);
assert.equal(backend.client.status, 'wait'); // no connection opened by the constructor
assert.equal(backend.keyPrefix, 'smoke:');
assert.throws(
  () => createRedisBackend({ redisOptions: { keyPrefix: 'ioredis-own:' } }),
  (error) => isCacheError(error, CacheErrorCode.Config) && /keyPrefix/.test(error.message),
);
assert.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));

// getCache finds this package through @stowage/core's optional peer dependency.
const cache = await getCache({ url: 'redis://127.0.0.1:1', env: {}, timeoutMs: 300 });
assert.equal(cache.backend.name, 'redis');
const refused = await cache.get('k').catch((error) => error);
assert.ok(isCacheError(refused, CacheErrorCode.Backend), String(refused));
await cache.close();
await backend.close();
console.log('backend-redis ESM ok');
