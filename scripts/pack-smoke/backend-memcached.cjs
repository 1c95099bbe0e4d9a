// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// No memcached is needed: it checks typed errors and that a dead server fails fast.
const assert = require('node:assert/strict');
const { CacheErrorCode, isCacheError } = require('@stowage/core');
const { createBackendFromUrl, MemcachedBackend } = require('@stowage/backend-memcached');

(async () => {
  const backend = createBackendFromUrl('memcached://127.0.0.1:1?keyPrefix=app:', {
    timeoutMs: 300,
  });
  assert.ok(backend instanceof MemcachedBackend);
  assert.equal(backend.limits.maxKeyBytes, 246);
  // Checked before any I/O: flags must be an unsigned 32-bit integer.
  await assert.rejects(
    () => backend.set('k', { value: Buffer.from('v'), flags: 2 ** 32 }, 0),
    (error) => isCacheError(error, CacheErrorCode.Value),
  );
  await assert.rejects(
    () => backend.get('k'),
    (error) =>
      isCacheError(error, CacheErrorCode.Backend) || isCacheError(error, CacheErrorCode.Timeout),
  );
  backend.close();
  console.log('backend-memcached CommonJS ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
