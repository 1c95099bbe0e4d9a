// Stowage quickstart: a small "exchange rates" service on the in-memory backend.
// It shows a cached lookup (miss, then hit), per-tenant (Stack) keys, busting the recently
// used keys, and how long each step took.
import { getCache, StorageLevel, type CacheClient } from '@stowage/core';
import { setTimeout as sleep } from 'node:timers/promises';

interface Rate {
  readonly currency: string;
  readonly rate: number;
  readonly fetchedAt: string;
}

let upstreamCalls = 0;

/** The slow dependency we want to protect: pretend it is a remote pricing API. */
async function fetchRateFromUpstream(currency: string): Promise<Rate> {
  upstreamCalls++;
  await sleep(120);
  return { currency, rate: currency === 'EUR' ? 1.08 : 1.27, fetchedAt: new Date().toISOString() };
}

/** The service method: read-through caching with single-flight, five minutes per rate. */
async function getRate(cache: CacheClient, currency: string): Promise<Rate> {
  return cache.getOrSet(`rate:${currency}`, () => fetchRateFromUpstream(currency), { ttl: '5m' });
}

async function timed<T>(label: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await run();
  console.log(`  ${label.padEnd(52)} ${(performance.now() - started).toFixed(2).padStart(8)} ms`);
  return result;
}

async function main(): Promise<void> {
  // CACHE_URL is unset, so getCache picks memory:// (the @stowage/backend-memory package).
  const cache = await getCache({
    prefix: 'quickstart',
    url: process.env['CACHE_URL'] ?? 'memory://',
  });
  let misses = 0;
  cache.on('miss', () => misses++);

  console.log(`Stowage quickstart — backend: ${cache.backend.name}\n`);
  console.log(
    '1. A cached lookup: the first call misses and runs the slow upstream, the second hits',
  );
  await timed("getRate('EUR')  (miss → upstream)", () => getRate(cache, 'EUR'));
  await timed("getRate('EUR')  (hit)", () => getRate(cache, 'EUR'));
  await timed("10 concurrent getRate('GBP') (one upstream call)", () =>
    Promise.all(Array.from({ length: 10 }, () => getRate(cache, 'GBP'))),
  );
  console.log(`  upstream calls so far: ${upstreamCalls}\n`);

  console.log('2. Stack scope: two tenants store the same key without seeing each other');
  const acme = cache.scoped(StorageLevel.Stack, { stack: 'acme' });
  const globex = cache.scoped(StorageLevel.Stack, { stack: 'globex' });
  await timed("acme.set('plan', 'gold')", () => acme.set('plan', 'gold', { ttl: '1h' }));
  await timed("globex.set('plan', 'trial')", () => globex.set('plan', 'trial', { ttl: '1h' }));
  console.log(
    `  acme sees   ${JSON.stringify(await acme.get('plan'))}  (key ${acme.fullKey('plan')})`,
  );
  console.log(
    `  globex sees ${JSON.stringify(await globex.get('plan'))} (key ${globex.fullKey('plan')})\n`,
  );

  console.log('3. Recent keys: the client remembers what it stored or found, so it can bust them');
  console.log(
    `  remembered: ${cache
      .recentKeys()
      .map((entry) => entry.fullKey)
      .join(', ')}`,
  );
  const busted = await timed("acme.bustRecent()  (only acme's keys)", () => acme.bustRecent());
  console.log(
    `  busted ${busted} key(s); acme now sees ${JSON.stringify(await acme.get('plan'))}, globex still sees ${JSON.stringify(await globex.get('plan'))}`,
  );
  await timed('cache.bustRecent()  (everything this client stored)', () => cache.bustRecent());
  await timed("getRate('EUR')  (miss again → upstream)", () => getRate(cache, 'EUR'));

  const stats = cache.stats();
  console.log(
    `\n4. Stats: ${stats.hits} hits, ${stats.misses} misses (${misses} miss events), ${stats.sets} sets, ${stats.deletes} deletes, ${upstreamCalls} upstream calls`,
  );
  await cache.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
