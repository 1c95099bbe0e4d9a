// Style 1 — context from the options: the client is known where the function is wrapped.
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageLevel, type CacheClient } from '@stowage/core';
import { cached } from '@stowage/decorator';

export interface Rate {
  readonly currency: string;
  readonly rate: number;
  readonly fetchedAt: string;
}

/** A cached exchange-rate lookup shared by every tenant (Service level), five minutes per rate. */
export function createRateLookup(client: CacheClient): {
  lookup: (currency: string) => Promise<Rate>;
  upstreamCalls: () => number;
} {
  let upstreamCalls = 0;
  // The slow dependency we protect: pretend it is a remote pricing API.
  async function rate(currency: string): Promise<Rate> {
    upstreamCalls++;
    await sleep(50);
    return {
      currency,
      rate: currency === 'EUR' ? 1.08 : 1.27,
      fetchedAt: new Date().toISOString(),
    };
  }
  const lookup = cached(rate, {
    context: { client },
    storageLevel: StorageLevel.Service,
    timeout: '5m',
  });
  return { lookup, upstreamCalls: () => upstreamCalls };
}
