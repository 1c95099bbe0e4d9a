// Style 3 — context from the request scope: this service knows nothing about caching wiring.
// The HTTP server calls `runWithCacheScope({ client, stack, session }, …)` once per request, and
// every cached method called while handling that request uses that tenant and session.
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageLevel } from '@stowage/core';
import { cache, getCacheScope } from '@stowage/decorator';

export interface Profile {
  readonly tenant: string | undefined;
  readonly session: string | undefined;
  readonly greeting: string;
  readonly version: number;
}

export interface Plan {
  readonly tenant: string | undefined;
  readonly plan: string;
  readonly version: number;
}

export class ProfileService {
  /** Upstream calls made, by method. */
  readonly calls = { profile: 0, plan: 0 };

  /** The signed-in user's profile: Session level. */
  @cache({ storageLevel: StorageLevel.Session, timeout: '10m' })
  async profile(): Promise<Profile> {
    const version = ++this.calls.profile;
    const { stack, session } = getCacheScope() ?? {};
    // Vary the latency so concurrent requests of different users finish out of order.
    await sleep(stack === 'acme' ? 25 : 5);
    return { tenant: stack, session, greeting: `hello ${session ?? 'guest'}`, version };
  }

  /** The tenant's plan: Stack level (the default). */
  @cache({ timeout: '1h' })
  async plan(): Promise<Plan> {
    const version = ++this.calls.plan;
    const { stack } = getCacheScope() ?? {};
    await sleep(stack === 'acme' ? 5 : 25);
    return { tenant: stack, plan: stack === 'acme' ? 'gold' : 'trial', version };
  }
}
