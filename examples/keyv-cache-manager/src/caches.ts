// cache-manager 7 over Stowage: one Keyv per cache, each on its own StowageKeyvStore, over the
// root client or over a tenant's scoped client. This is all an application needs to write.
import { StorageLevel, type CacheClient } from '@stowage/core';
import { StowageKeyvStore } from '@stowage/keyv';
import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';

/** Options of {@link createStowageCache}. */
export interface StowageCacheOptions {
  /** Keyv namespace, the first part of every key under the client's prefix. @default 'keyv' */
  readonly namespace?: string;
  /** Default TTL of cache-manager's `set` and `wrap`, in milliseconds. @default none */
  readonly ttlMs?: number;
}

/** A cache-manager cache whose one store is `client` (any backend, scope or encryption). */
export function createStowageCache(client: CacheClient, options: StowageCacheOptions = {}): Cache {
  const keyv = new Keyv({
    store: new StowageKeyvStore(client),
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  });
  return createCache({
    stores: [keyv],
    ...(options.ttlMs === undefined ? {} : { ttl: options.ttlMs }),
  });
}

/**
 * One cache-manager cache per tenant, each over the tenant's Stack-scoped client, so a tenant's
 * `clear()` and keys never reach another tenant's entries. Caches are made on first use.
 */
export function createTenantCaches(
  client: CacheClient,
  options: StowageCacheOptions = {},
): (tenant: string) => Cache {
  const caches = new Map<string, Cache>();
  return (tenant) => {
    let cache = caches.get(tenant);
    if (cache === undefined) {
      cache = createStowageCache(client.scoped(StorageLevel.Stack, { stack: tenant }), options);
      caches.set(tenant, cache);
    }
    return cache;
  };
}
