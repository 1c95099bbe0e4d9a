import { CacheClosedError, type CacheBackend, type StoredEntry } from '@stowage/core';
import type { Awaitable } from '@stowage/core/backend';

function readOnly(): never {
  // Thrown, never reached by inspect: a describing tool must not write what it was shown.
  throw new CacheClosedError('the inspect replay backend is read-only');
}

/**
 * A backend that answers the entry already read from the server for `fullKey`, and refuses every
 * write. `inspect` decodes through a client on it, so the value shown is exactly what core's
 * codec makes of those bytes — with no second read that could see a newer entry. Other keys (a
 * tagged entry's tag versions) are read from `server`, as the service would read them.
 */
export function replayBackend(
  entry: StoredEntry,
  fullKey: string,
  server: CacheBackend,
): CacheBackend {
  const one = (key: string): Awaitable<StoredEntry | undefined> =>
    key === fullKey ? entry : server.get(key);
  return {
    name: server.name,
    capabilities: server.capabilities,
    limits: server.limits,
    get: one,
    getMany: (keys) => Promise.all(keys.map(async (key) => one(key))),
    set: readOnly,
    setMany: readOnly,
    add: readOnly,
    touch: readOnly,
    incr: readOnly,
    decr: readOnly,
    delete: readOnly,
    deleteMany: readOnly,
    clear: readOnly,
    flush: readOnly,
    close: () => undefined,
  };
}
