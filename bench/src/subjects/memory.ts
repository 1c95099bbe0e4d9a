import { createMemoryBackend } from '@stowage/backend-memory';
import { LRUCache } from 'lru-cache';
import {
  Backend,
  Kind,
  ScenarioId,
  type JsonValue,
  type Subject,
  type SubjectOps,
} from '../types.js';
import { getThenSet } from './get-then-set.js';
import { stowageHandle } from './stowage-client.js';

/** Entries every in-process subject may hold: more than the scenarios ever write. */
export const MEMORY_MAX_ENTRIES = 100_000;

/**
 * The operations of a raw lru-cache subject from its synchronous `read` and `write`: `getMany` is a
 * plain loop (no await per key), as a user of an in-process cache writes it.
 */
function lruOps(
  read: (key: string) => unknown,
  write: (key: string, value: JsonValue) => void,
): SubjectOps {
  const get = async (key: string): Promise<unknown> => read(key);
  const set = async (key: string, value: JsonValue): Promise<void> => write(key, value);
  return {
    set,
    get,
    getMany: async (keys) => {
      const result = new Map<string, unknown>();
      for (const key of keys) {
        const value = read(key);
        if (value !== undefined) result.set(key, value);
      }
      return result;
    },
    getOrSet: getThenSet(get, set),
  };
}

/**
 * The fair baseline for a memory backend that stores bytes: lru-cache holding JSON strings, so
 * every read parses and every write stringifies, as Stowage's encoding must.
 */
export const lruCacheJson: Subject = {
  id: 'memory/lru-cache-json',
  name: 'lru-cache (JSON)',
  backend: Backend.Memory,
  kind: Kind.Raw,
  baseline: true,
  description:
    'lru-cache 11 holding JSON strings (`max` only): JSON.stringify on set, JSON.parse on get',
  async setup() {
    const lru = new LRUCache<string, string>({ max: MEMORY_MAX_ENTRIES });
    const ops = lruOps(
      (key) => {
        const text = lru.get(key);
        return text === undefined ? undefined : (JSON.parse(text) as unknown);
      },
      (key, value) => lru.set(key, JSON.stringify(value)),
    );
    return { ops, teardown: async () => lru.clear() };
  },
};

/** The upper bound: lru-cache holding the caller's objects, no copy at all (callers share them). */
export const lruCacheObject: Subject = {
  id: 'memory/lru-cache-object',
  name: 'lru-cache (objects)',
  backend: Backend.Memory,
  kind: Kind.Raw,
  description:
    'lru-cache 11 holding the objects themselves (`max` only): no copy, callers share them',
  async setup() {
    const lru = new LRUCache<string, JsonValue & object>({ max: MEMORY_MAX_ENTRIES });
    const ops = lruOps(
      (key) => lru.get(key),
      (key, value) => lru.set(key, value as JsonValue & object),
    );
    return { ops, teardown: async () => lru.clear() };
  },
};

/** A Stowage client on a memory backend with room for every key the scenarios write. */
function stowageMemory(skipIntegrityCheck: boolean, frozenValues = false): Subject['setup'] {
  return async () =>
    stowageHandle(createMemoryBackend({ maxEntries: MEMORY_MAX_ENTRIES }), skipIntegrityCheck, {
      frozenValues,
    });
}

/** Stowage on the memory backend with its defaults: `set` reads back what it wrote. */
export const stowageMemoryDefault: Subject = {
  id: 'memory/stowage',
  name: 'stowage',
  backend: Backend.Memory,
  kind: Kind.Stowage,
  description:
    'CacheClient + @stowage/backend-memory, `compress: false`, default `set` (integrity check on)',
  setup: stowageMemory(false),
};

/** The same client writing with `skipIntegrityCheck: true`; only the scenarios that write differ. */
export const stowageMemorySkipIntegrity: Subject = {
  id: 'memory/stowage-skip-integrity',
  name: 'stowage (skip check)',
  backend: Backend.Memory,
  kind: Kind.Stowage,
  description: 'as `stowage`, writing with `skipIntegrityCheck: true`',
  scenarios: [ScenarioId.Set, ScenarioId.Mix],
  setup: stowageMemory(true),
};

/**
 * The same client with `frozenValues: true`: every hit on an entry returns one deep-frozen value
 * decoded once, instead of a fresh parse. Safe to share (a change throws), so not a copy.
 */
export const stowageMemoryFrozen: Subject = {
  id: 'memory/stowage-frozen',
  name: 'stowage (frozenValues)',
  backend: Backend.Memory,
  kind: Kind.Stowage,
  description:
    'as `stowage`, with `frozenValues: true`: hits share one deep-frozen value decoded once per entry',
  scenarios: [ScenarioId.GetHit, ScenarioId.GetOrSetHit, ScenarioId.Mix],
  setup: stowageMemory(false, true),
};
