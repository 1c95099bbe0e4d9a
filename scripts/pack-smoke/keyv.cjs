// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// The CommonJS builds of @stowage/keyv, @stowage/core and keyv together.
const assert = require('node:assert/strict');
const { CacheClient } = require('@stowage/core');
const { createMemoryBackend } = require('@stowage/backend-memory');
const { StowageKeyvStore } = require('@stowage/keyv');
const { Keyv } = require('keyv');

(async () => {
  const client = new CacheClient({ backend: createMemoryBackend() });
  const keyv = new Keyv({
    store: new StowageKeyvStore(client, { ownsClient: true }),
    namespace: 'ns',
  });
  assert.equal(await keyv.set('a', [1, 'two'], 1000), true);
  assert.deepEqual(await keyv.get(['a', 'b']), [[1, 'two'], undefined]);
  assert.equal(
    await client.get('ns:a'),
    '{"value":[1,"two"],"expires":' + JSON.parse(await client.get('ns:a')).expires + '}',
  );
  const raw = new Keyv({ store: new StowageKeyvStore(client), serialize: undefined });
  const errors = [];
  raw.on('error', (error) => errors.push(error));
  assert.equal(await raw.set('date', new Date(0)), false);
  assert.equal(errors[0].code, 'E_CACHE_VALUE');
  await keyv.disconnect();
  await assert.rejects(client.get('ns:a'), { code: 'E_CACHE_CLOSED' });
  console.log('keyv CommonJS ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
