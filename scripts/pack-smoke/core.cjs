// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
const assert = require('node:assert/strict');
const { CacheClient, CacheKeyError, getCache } = require('@stowage/core');
const { createMemoryBackend } = require('@stowage/backend-memory');

(async () => {
  const cache = new CacheClient({ backend: createMemoryBackend(), prefix: 'cjs' });
  assert.equal(await cache.set('k', 'v', { ttl: '5m' }), true);
  assert.equal(await cache.get('k'), 'v');
  await assert.rejects(cache.get('has space'), CacheKeyError);
  await cache.close();
  const viaUrl = await getCache({ url: 'memory://?maxEntries=10', env: {} });
  await viaUrl.set('x', 1);
  assert.equal(await viaUrl.get('x'), 1);
  await viaUrl.close();
  // The backend kit, a second entry point: the same error classes as the main entry.
  const { checkWireKey } = require('@stowage/core/backend');
  assert.equal(checkWireKey('fine', 250), 4);
  assert.throws(() => checkWireKey('a b', 250), CacheKeyError);
  console.log('core CommonJS ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
