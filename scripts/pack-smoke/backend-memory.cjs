// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
const assert = require('node:assert/strict');
const { CacheClient } = require('@stowage/core');
const { createMemoryBackend, MemoryBackend } = require('@stowage/backend-memory');

(async () => {
  const backend = createMemoryBackend({ maxEntries: 2 });
  assert.ok(backend instanceof MemoryBackend);
  const cache = new CacheClient({ backend });
  await cache.setMany({ a: 1, b: 2, c: 3 });
  assert.equal(backend.size, 2);
  assert.equal(await cache.get('c'), 3);
  console.log('backend-memory CommonJS ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
