// The example's walk through cache-manager over Stowage, one printed line per step, so a test can
// run the same path on memory, memcached and Redis.
import type { CacheClient } from '@stowage/core';
import { createTenantCaches } from './caches.js';
import { createPriceSource, type Price } from './prices.js';

/** What {@link runDemo} saw, for a test to check. */
export interface DemoResult {
  readonly lines: readonly string[];
  readonly lookups: number;
}

async function timed<R>(work: () => Promise<R>): Promise<[R, number]> {
  const started = performance.now();
  const result = await work();
  return [result, Math.round(performance.now() - started)];
}

/**
 * wrap (miss, then hit), concurrent wraps sharing one lookup, set/get/del, and a per-tenant clear,
 * through cache-manager on `client`. Prints each step with `log`.
 */
export async function runDemo(
  client: CacheClient,
  options: { readonly delayMs: number; readonly log: (line: string) => void },
): Promise<DemoResult> {
  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(line);
    options.log(line);
  };
  const prices = createPriceSource(options.delayMs);
  const cacheFor = createTenantCaches(client, { namespace: 'prices', ttlMs: 60_000 });
  const acme = cacheFor('acme');
  const globex = cacheFor('globex');
  const price = (tenant: string, sku: string) => () => prices.lookup(tenant, sku);

  const [first, missMs] = await timed(() => acme.wrap<Price>('sku-1', price('acme', 'sku-1')));
  say(`wrap miss: ${first.cents} cents in ${missMs} ms (lookups: ${prices.lookups})`);
  const [again, hitMs] = await timed(() => acme.wrap<Price>('sku-1', price('acme', 'sku-1')));
  say(`wrap hit: ${again.cents} cents in ${hitMs} ms (lookups: ${prices.lookups})`);

  const burst = await Promise.all(
    Array.from({ length: 5 }, () => globex.wrap<Price>('sku-1', price('globex', 'sku-1'))),
  );
  say(`5 concurrent wraps for globex: ${burst.length} answers (lookups: ${prices.lookups})`);

  await acme.set('banner', 'spring sale', 30_000);
  say(
    `set/get: ${await acme.get<string>('banner')} · globex sees ${await globex.get<string>('banner')}`,
  );
  await acme.del('banner');
  say(`del: ${await acme.get<string>('banner')}`);

  await acme.clear();
  const acmeAfter = await acme.get<Price>('sku-1');
  const globexAfter = await globex.get<Price>('sku-1');
  say(`acme clear: acme ${acmeAfter?.cents} · globex ${globexAfter?.cents}`);
  return { lines, lookups: prices.lookups };
}
