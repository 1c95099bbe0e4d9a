// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
const assert = require('node:assert/strict');
const { CacheClient } = require('@stowage/core');
const { createMemoryBackend } = require('@stowage/backend-memory');
const { cached, cacheContext } = require('@stowage/decorator');

(async () => {
  const cache = new CacheClient({ backend: createMemoryBackend() });
  let runs = 0;
  const plan = cached(
    async function plan(customer) {
      runs++;
      return `plan of ${customer}`;
    },
    { context: { client: cache } },
  );
  // A framework that loads the ESM build sets the request scope; the CommonJS build sees it.
  const esm = await import('@stowage/decorator');
  assert.equal(esm.cacheContext, cacheContext);
  await esm.runWithCacheScope({ stack: 'acme' }, async () => {
    assert.equal(await plan('acme'), 'plan of acme');
    assert.equal(await plan('acme'), 'plan of acme');
  });
  assert.equal(runs, 1);
  // The ESM build busts a function wrapped by the CommonJS build, inside the tenant's scope…
  await esm.runWithCacheScope({ stack: 'acme' }, () => esm.invalidateAll(plan));
  await esm.runWithCacheScope({ stack: 'acme' }, () => plan('acme'));
  assert.equal(runs, 2);
  // …and outside any scope there is no tenant: busting refuses rather than guessing.
  await assert.rejects(esm.invalidateAll(plan), { code: 'E_CACHE_SCOPE' });
  console.log('decorator CommonJS ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
