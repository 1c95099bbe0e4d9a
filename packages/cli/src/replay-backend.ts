import { CacheClosedError, type CacheBackend, type StoredEntry } from '@stowage/core';

function readOnly(): never {
  // Thrown, never reached by inspect: a describing tool must not write what it was shown.
  throw new CacheClosedError('the inspect replay backend is read-only');
}

/**
 * A backend that answers one entry already read from the server, for every key, and refuses
 * every write. `inspect` decodes through a client on it, so the value shown is exactly what
 * core's codec makes of those bytes — with no second read that could see a newer entry.
 */
export function replayBackend(entry: StoredEntry, like: CacheBackend): CacheBackend {
  return {
    name: like.name,
    capabilities: like.capabilities,
    limits: like.limits,
    get: () => entry,
    getMany: (keys) => keys.map(() => entry),
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
