// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
import assert from 'node:assert/strict';
import { CacheErrorCode, getCache, isCacheError, StorageLevel } from '@stowage/core';

const cache = await getCache({ url: 'memory://', prefix: 'pack', env: {} });
assert.equal(await cache.get('missing'), undefined);
assert.equal(await cache.set('greeting', { hello: 'world' }), true);
assert.deepEqual(await cache.get('greeting'), { hello: 'world' });
const tenant = cache.scoped(StorageLevel.Stack, { stack: 'acme' });
await tenant.set('n', 42);
assert.equal(await tenant.get('n'), 42);
assert.equal(await cache.scoped(StorageLevel.Stack, { stack: 'other' }).get('n'), undefined);
await cache.close();

// A backend package that is not installed is named in the error. The pack check installs every
// backend, so the loader stands in for a project that lacks one.
const error = await getCache({
  url: 'redis://127.0.0.1:6379',
  env: {},
  loadBackendModule: async (name) => {
    throw Object.assign(new Error(`Cannot find package '${name}' imported from /app/main.mjs`), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
  },
}).catch((e) => e);
assert.ok(isCacheError(error, CacheErrorCode.Config), String(error));
assert.match(error.message, /@stowage\/backend-redis/);

// The backend kit, a second entry point: the same error classes as the main entry.
const { checkWireKey } = await import('@stowage/core/backend');
const { CacheKeyError } = await import('@stowage/core');
assert.equal(checkWireKey('fine', 250), 4);
assert.throws(() => checkWireKey('a b', 250), CacheKeyError);
console.log('core ESM ok');
