// The slow dependency the cache protects: a product catalog that takes a while to answer (a
// remote API or a heavy query in a real service).
import { setTimeout as sleep } from 'node:timers/promises';

/** A product as the catalog returns it. */
export interface Product {
  readonly id: string;
  readonly name: string;
  readonly priceCents: number;
  /** When the catalog produced this copy: a cached copy keeps its original time. */
  readonly fetchedAt: string;
}

/** A catalog with a fixed latency, counting how often it was really asked. */
export interface Catalog {
  lookup(id: string, signal?: AbortSignal): Promise<Product>;
  /** Lookups so far (cache misses that reached the catalog). */
  calls(): number;
}

/** A catalog answering after `delayMs`. */
export function createCatalog(delayMs: number): Catalog {
  let calls = 0;
  return {
    async lookup(id, signal) {
      calls++;
      await sleep(delayMs, undefined, { signal });
      const n = Number.parseInt(id, 10) || id.length;
      return {
        id,
        name: `product ${id}`,
        priceCents: 100 + ((n * 7919) % 9900),
        fetchedAt: new Date().toISOString(),
      };
    },
    calls: () => calls,
  };
}
