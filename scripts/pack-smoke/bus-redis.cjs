// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// Needs no Redis server: port 1 on loopback refuses at once, and an L1 whose bus is not live
// serves nothing, so every read goes to the backend.
const assert = require('node:assert/strict');
const { CacheClient, CacheErrorCode, isCacheError } = require('@stowage/core');
const { createMemoryBackend } = require('@stowage/backend-memory');
const { createRedisBus } = require('@stowage/bus-redis');

(async () => {
  assert.throws(
    () => createRedisBus({ channel: '' }),
    (error) => isCacheError(error, CacheErrorCode.Config),
  );
  const cache = new CacheClient({
    backend: createMemoryBackend(),
    l1: { ttl: '5s' },
    bus: createRedisBus({ url: 'redis://127.0.0.1:1' }),
  });
  await cache.set('k', 'v');
  assert.equal(await cache.get('k'), 'v');
  assert.equal(cache.l1Stats().live, false);
  await cache.close();
  console.log('bus-redis CommonJS ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
