import { Injectable } from '@nestjs/common';
import { cache, getCacheScope } from '@stowage/decorator';

/** What a tenant's plan lookup returns; `computedAt` shows whether an answer was cached. */
export interface Plan {
  readonly id: string;
  readonly tenant: string;
  readonly seats: number;
  readonly computedAt: string;
}

/** The slow per-tenant lookup the cache protects (a database or a remote API in a real app). */
@Injectable()
export class PlansService {
  readonly delayMs = Number(process.env['LOOKUP_DELAY_MS'] ?? 200);

  // Stack level (the default): one entry per tenant and plan id. The client and the tenant come
  // from the request scope StowageModule sets, so the service needs no [cacheContext].
  @cache({ ttl: '5m' })
  async plan(id: string): Promise<Plan> {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const tenant = getCacheScope()?.stack ?? 'unknown';
    return { id, tenant, seats: id.length * 10, computedAt: new Date().toISOString() };
  }
}
