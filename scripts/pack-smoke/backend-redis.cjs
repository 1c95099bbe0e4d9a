// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// Needs no Redis server: construction is lazy and port 1 on loopback refuses at once.
const assert = require('node:assert/strict');
const { CacheClient, CacheErrorCode, isCacheError } = require('@stowage/core');
const { createRedisBackend, parseRedisUrl } = require('@stowage/backend-redis');

(async () => {
  assert.deepEqual(parseRedisUrl('rediss://cache.example.com:6380/1').redisOptions, {
    host: 'cache.example.com',
    port: 6380,
    db: 1,
    tls: {},
  });
  assert.throws(
    () => createRedisBackend({ timeoutMs: 0 }),
    (error) => isCacheError(error, CacheErrorCode.Config),
  );
  const cache = new CacheClient({
    backend: createRedisBackend({ url: 'redis://127.0.0.1:1', timeoutMs: 300 }),
  });
  const started = Date.now();
  const refused = await cache.set('k', 'v').catch((error) => error);
  assert.ok(isCacheError(refused), String(refused));
  assert.ok(Date.now() - started < 2000);
  await cache.close();
  console.log('backend-redis CommonJS ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
