// A backend from a {@link BackendSpec}: how a worker connects and how the parent makes backends
// of its own over the same servers, so both build them one way.
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { createRedisBackend } from '@stowage/backend-redis';
import type { CacheBackend } from '@stowage/core';
import type { BackendSpec } from './protocol.js';

/** A new backend over `spec`'s servers; `timeoutMs` unset keeps the backend's default. */
export function createBackend(spec: BackendSpec, timeoutMs?: number): CacheBackend {
  switch (spec.kind) {
    case 'memcached':
      return createMemcachedBackend({ servers: [...spec.servers], timeoutMs });
    case 'redis':
      return createRedisBackend({ url: spec.url, timeoutMs });
    case 'cluster':
      return createRedisBackend({
        clusterNodes: spec.nodes.map((node) => ({ ...node })),
        timeoutMs,
      });
  }
}
