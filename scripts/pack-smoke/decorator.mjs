// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
import assert from 'node:assert/strict';
import { CacheClient } from '@stowage/core';
import { createMemoryBackend } from '@stowage/backend-memory';
import { cached, invalidate, runWithCacheScope } from '@stowage/decorator';

const clock = { time: 1000, now: () => clock.time };
const cache = new CacheClient({ backend: createMemoryBackend({ clock }) });
let runs = 0;
const getRate = cached(
  async function getRate(currency) {
    runs++;
    return { currency, rate: currency === 'EUR' ? 1.08 : 1.27 };
  },
  { context: { client: cache }, timeout: '5m' },
);

await runWithCacheScope({ stack: 'acme' }, async () => {
  assert.deepEqual(await getRate('EUR'), { currency: 'EUR', rate: 1.08 });
  assert.deepEqual(await getRate('EUR'), { currency: 'EUR', rate: 1.08 });
  assert.equal(runs, 1);
  assert.equal(await invalidate(getRate, 'EUR'), true);
  await getRate('EUR');
  assert.equal(runs, 2);
});
await runWithCacheScope({ stack: 'globex' }, () => getRate('EUR'));
assert.equal(runs, 3);
clock.time += 300_001;
await runWithCacheScope({ stack: 'acme' }, () => getRate('EUR'));
assert.equal(runs, 4);
console.log('decorator ESM ok');
