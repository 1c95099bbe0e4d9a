// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// Needs no Redis server: port 1 on loopback refuses at once, and an L1 whose bus is not live
// serves nothing, so every read goes to the backend.
import assert from 'node:assert/strict';
import { CacheErrorCode, getCache, isCacheError } from '@stowage/core';
import { createBusFromUrl, createRedisBus } from '@stowage/bus-redis';

assert.throws(
  () => createRedisBus({}),
  (error) => isCacheError(error, CacheErrorCode.Config),
);
assert.equal(typeof createBusFromUrl({ url: 'redis://127.0.0.1:1' }).publish, 'function');
// getCache loads @stowage/bus-redis by name for `bus: { url }`, the way core itself was loaded.
const cache = await getCache({
  url: 'memory://',
  env: {},
  l1: true,
  bus: { url: 'redis://127.0.0.1:1' },
});
await cache.set('k', 'v');
assert.equal(await cache.get('k'), 'v');
assert.equal(cache.l1Stats()?.live, false, 'no bus, no copies served');
const started = Date.now();
await cache.close();
assert.ok(Date.now() - started < 5000, 'close() settles with the bus unreachable');
console.log('bus-redis ESM ok');
