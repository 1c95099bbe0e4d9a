// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
import assert from 'node:assert/strict';
import { CacheClient } from '@stowage/core';
import { createMemoryBackend } from '@stowage/backend-memory';

const clock = { time: 1000, now: () => clock.time };
const cache = new CacheClient({ backend: createMemoryBackend({ clock }) });
await cache.set('short', 'lived', { ttl: '1s' });
assert.equal(await cache.get('short'), 'lived');
clock.time += 1001;
assert.equal(await cache.get('short'), undefined);
console.log('backend-memory ESM ok');
