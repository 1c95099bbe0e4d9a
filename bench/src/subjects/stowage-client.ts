import { CacheClient, type CacheBackend, type CacheClientOptions } from '@stowage/core';
import type { JsonValue, SubjectHandle } from '../types.js';

/**
 * A Stowage client on `backend`, configured as every Stowage subject is: `compress: false` (what
 * zlib and AES-256-GCM add per value is measured on its own), the client's default deadline and
 * recent keys. `skipIntegrityCheck` applies to the scenarios that write; `extra` adds client options
 * a subject is about (`frozenValues`).
 */
export function stowageHandle(
  backend: CacheBackend,
  skipIntegrityCheck: boolean,
  extra: Pick<CacheClientOptions<JsonValue>, 'frozenValues'> = {},
): SubjectHandle {
  const cache = new CacheClient<JsonValue>({ backend, prefix: 'bench', compress: false, ...extra });
  const setOptions = { skipIntegrityCheck };
  return {
    ops: {
      set: (key, value) => cache.set(key, value, setOptions),
      get: (key) => cache.get(key),
      getMany: (keys) => cache.getMany(keys),
      getOrSet: (key, factory) => cache.getOrSet(key, factory, setOptions),
    },
    teardown: () => cache.close(),
  };
}
