// Style 2 — context from the instance: a Q2-style request handler owns its cache, its customer
// key (the tenant, Q2's `hq_credentials.customer_key`) and its session id, and hands them to its
// cached methods through `[cacheContext]`.
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageLevel, type CacheClient } from '@stowage/core';
import {
  cache,
  cacheContext,
  type CacheContext,
  type CacheContextProvider,
} from '@stowage/decorator';

export interface Account {
  readonly id: string;
  readonly owner: string;
  readonly balance: number;
}

/** Counts upstream calls across handlers, so the demo can show what the cache saved. */
export const upstream = { accounts: 0, activity: 0 };

export class AccountHandler implements CacheContextProvider {
  readonly #cache: CacheClient;
  readonly #customerKey: string | undefined;
  readonly #sessionId: string | undefined;

  constructor(cache: CacheClient, customerKey: string | undefined, sessionId?: string) {
    this.#cache = cache;
    this.#customerKey = customerKey;
    this.#sessionId = sessionId;
  }

  get [cacheContext](): CacheContext {
    return { client: this.#cache, stack: this.#customerKey, session: this.#sessionId };
  }

  /** The tenant's accounts: Stack level (the default), ten minutes. */
  @cache({ timeout: '10m' })
  async accounts(): Promise<Account[]> {
    upstream.accounts++;
    await sleep(30);
    return [
      { id: `${this.#customerKey}-1`, owner: `${this.#customerKey} ltd`, balance: 1200 },
      { id: `${this.#customerKey}-2`, owner: `${this.#customerKey} ltd`, balance: 15 },
    ];
  }

  /** One user's recent activity: Session level, two minutes. */
  @cache({ storageLevel: StorageLevel.Session, timeout: '2m' })
  async recentActivity(limit: number): Promise<string[]> {
    upstream.activity++;
    await sleep(30);
    return Array.from({ length: limit }, (_, i) => `${this.#sessionId}: login #${i + 1}`);
  }
}
