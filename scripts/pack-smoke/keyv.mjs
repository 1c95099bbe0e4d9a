// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs);
// npm installs the peer dependency keyv 5 alongside.
import assert from 'node:assert/strict';
import { CacheClient, StorageLevel } from '@stowage/core';
import { createMemoryBackend } from '@stowage/backend-memory';
import { StowageKeyvStore, keyvTtlSeconds } from '@stowage/keyv';
import Keyv from 'keyv';

const client = new CacheClient({ backend: createMemoryBackend(), prefix: 'app' });
const acme = new Keyv({
  store: new StowageKeyvStore(client.scoped(StorageLevel.Stack, { stack: 'acme' })),
});
const root = new Keyv({ store: new StowageKeyvStore(client) });
assert.equal(await acme.set('plan', { tier: 'gold', logo: Buffer.from('png') }, 60_000), true);
assert.deepEqual(await acme.get('plan'), { tier: 'gold', logo: Buffer.from('png') });
assert.equal(
  (await client.scoped(StorageLevel.Stack, { stack: 'acme' }).get('keyv:plan')) !== undefined,
  true,
);
assert.equal(await root.get('plan'), undefined, 'the root never sees a tenant entry');
assert.equal(keyvTtlSeconds(1500, 'k'), 1.5);
await acme.clear();
assert.equal(await acme.get('plan'), undefined);
const errors = [];
root.on('error', (error) => errors.push(error));
assert.equal(await root.set('has space', 1), false);
assert.equal(errors[0]?.code, 'E_CACHE_KEY');
await client.close();
console.log('keyv ESM ok');
