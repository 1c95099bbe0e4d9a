// @stowage/decorator demo: the options style and the instance style on the in-memory backend.
// The request-scope style is the HTTP service in http-server.ts (`pnpm start:http`).
import { CacheClient } from '@stowage/core';
import { createMemoryBackend } from '@stowage/backend-memory';
import { invalidate } from '@stowage/decorator';
import { AccountHandler, upstream } from './account-handler.js';
import { createRateLookup } from './rates.js';

async function main(): Promise<void> {
  const client = new CacheClient({
    backend: createMemoryBackend(),
    prefix: 'demo',
    service: 'billing',
  });
  let warnings = 0;
  process.on('warning', (warning) => {
    warnings++;
    console.log(`  (reported: ${warning.name}: ${warning.message.split(';')[0]})`);
  });

  console.log('1. Context from the options: cached(fn, { context: { client } })');
  const rates = createRateLookup(client);
  await rates.lookup('EUR');
  await rates.lookup('EUR');
  await Promise.all(Array.from({ length: 10 }, () => rates.lookup('GBP')));
  console.log(`  3 + 10 lookups, upstream calls: ${rates.upstreamCalls()}`);

  console.log('2. Context from the instance: a handler with [cacheContext]');
  const acme = new AccountHandler(client, 'acme', 'session-1');
  const globex = new AccountHandler(client, 'globex', 'session-2');
  const [acmeAccounts, globexAccounts] = await Promise.all([acme.accounts(), globex.accounts()]);
  await acme.accounts();
  console.log(`  acme sees ${acmeAccounts.map((a) => a.id).join(', ')}`);
  console.log(`  globex sees ${globexAccounts.map((a) => a.id).join(', ')}`);
  console.log(`  upstream account calls: ${upstream.accounts}`);
  await acme.recentActivity(2);
  await acme.recentActivity(2);
  console.log(`  upstream activity calls: ${upstream.activity}`);
  await invalidate(acme, 'accounts');
  await acme.accounts();
  console.log(`  after invalidate(acme, 'accounts'): upstream account calls: ${upstream.accounts}`);

  console.log('3. A handler without a session asks for Session data: runs uncached, reported');
  const anonymous = new AccountHandler(client, 'acme');
  await anonymous.recentActivity(1);
  await new Promise((resolve) => setImmediate(resolve));
  console.log(`  upstream activity calls: ${upstream.activity}, warnings: ${warnings}`);

  console.log(`\nkeys written: ${client.recentKeys().length}`);
  for (const entry of client.recentKeys()) console.log(`  ${entry.fullKey}`);
  await client.close();
}

await main();
