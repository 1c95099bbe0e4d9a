// The slow lookup the cache protects: a price list per tenant, answered after `delayMs`.

/** A tenant's price of one product. */
export interface Price {
  readonly tenant: string;
  readonly sku: string;
  readonly cents: number;
}

/** A slow price source that counts its lookups, so a caller can see what the cache saved. */
export interface PriceSource {
  lookup(tenant: string, sku: string): Promise<Price>;
  readonly lookups: number;
}

/** A price source that answers after `delayMs` milliseconds. */
export function createPriceSource(delayMs: number): PriceSource {
  let lookups = 0;
  return {
    get lookups() {
      return lookups;
    },
    async lookup(tenant, sku) {
      lookups += 1;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return { tenant, sku, cents: 100 * sku.length + tenant.length };
    },
  };
}
