import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient } from '@stowage/core';
import {
  cache,
  cacheContext,
  invalidate,
  type CacheContext,
  type CacheContextProvider,
} from '@stowage/decorator';
import {
  Backend,
  Kind,
  ScenarioId,
  type JsonValue,
  type Subject,
  type SubjectHandle,
} from '../types.js';
import { MEMORY_MAX_ENTRIES } from './memory.js';

/**
 * A service whose `load` is `@cache`-decorated (below) the way the decorator's README shows: the instance
 * supplies the client and the tenant through `[cacheContext]`, the method is cached at the default
 * Stack level, with no expiry (a full run lasts longer than the default five minutes). The
 * undecorated method reads a Map and refuses to run twice for a key without an invalidation in
 * between, so a "hit" that is not a hit fails the round instead of being measured.
 */
class RecordService implements CacheContextProvider {
  readonly #context: CacheContext;
  readonly #source = new Map<string, JsonValue>();
  readonly #loaded = new Set<string>();

  constructor(client: CacheClient) {
    this.#context = { client, stack: 'tenant-1' };
  }

  get [cacheContext](): CacheContext {
    return this.#context;
  }

  /** Puts `value` in the source and forgets that `key` was loaded, so the next call runs `load`. */
  put(key: string, value: JsonValue): void {
    this.#source.set(key, value);
    this.#loaded.delete(key);
  }

  async load(key: string): Promise<JsonValue | undefined> {
    const value = this.#source.get(key);
    if (value === undefined) return undefined; // not cached: a miss stays a miss
    if (this.#loaded.has(key)) throw new Error(`the decorated method ran again for '${key}'`);
    this.#loaded.add(key);
    return value;
  }
}

// `@cache({ timeout: 0 })` on `load`, applied as TypeScript's `experimentalDecorators` output does
// (the decorator's legacy form): the bench is bundled by tsdown, which leaves decorator syntax
// as it is, and Node 20 cannot parse it. The wrapper installed is the same either way.
const loadDescriptor = Object.getOwnPropertyDescriptor(
  RecordService.prototype,
  'load',
) as TypedPropertyDescriptor<RecordService['load']>;
Object.defineProperty(
  RecordService.prototype,
  'load',
  cache({ timeout: 0 })(RecordService.prototype, 'load', loadDescriptor),
);

/**
 * The same service with `@cache({ timeout: 0, generationWindow: WINDOW })` on `load`: a hit under
 * a generation token read within the window reads only its entry.
 */
class WindowedRecordService extends RecordService {}
const WINDOW = '1s';
Object.defineProperty(
  WindowedRecordService.prototype,
  'load',
  cache({ timeout: 0, generationWindow: WINDOW })(
    WindowedRecordService.prototype,
    'load',
    loadDescriptor,
  ),
);

/**
 * Sets up a decorated service on a fresh memory client. `set` (used only to prepare the keys)
 * invalidates the entry and calls the method once, which stores the value; `get` calls it.
 */
async function setupDecorated(
  make: (client: CacheClient) => RecordService,
): Promise<SubjectHandle> {
  const client = new CacheClient({
    backend: createMemoryBackend({ maxEntries: MEMORY_MAX_ENTRIES }),
    prefix: 'bench',
    compress: false,
  });
  const service = make(client);
  // One write at a time: concurrent first calls race to create the function's generation, and
  // the losers rightly do not store (their result may predate an invalidation).
  let writes: Promise<unknown> = Promise.resolve();
  return {
    ops: {
      set: (key, value) => {
        writes = writes.then(async () => {
          service.put(key, value);
          await invalidate(service, 'load', key);
          return service.load(key);
        });
        return writes;
      },
      get: (key) => service.load(key),
    },
    teardown: () => client.close(),
  };
}

/**
 * A `@cache`-decorated method on a hit, on the memory backend: its `get` calls the method, and
 * the target compares its p50 with `memory/stowage`'s direct `client.get`.
 */
export const stowageMemoryDecorated: Subject = {
  id: 'memory/stowage-decorated',
  name: 'stowage @cache',
  backend: Backend.Memory,
  kind: Kind.Stowage,
  description:
    'a `@cache`-decorated method (@stowage/decorator, context from `this[cacheContext]`, Stack level) on a hit, same client settings as `stowage`',
  scenarios: [ScenarioId.GetHit],
  setup: () => setupDecorated((client) => new RecordService(client)),
};

/**
 * As `memory/stowage-decorated`, with `generationWindow: '1s'`: a hit reads only its entry (one
 * `client.get`) while the generation token was read within the last second, and the generation
 * with it once a second.
 */
export const stowageMemoryDecoratedWindow: Subject = {
  id: 'memory/stowage-decorated-window',
  name: 'stowage @cache window',
  backend: Backend.Memory,
  kind: Kind.Stowage,
  description: `as \`stowage @cache\`, with \`generationWindow: '${WINDOW}'\`: a hit reads only its entry while the generation token read at most ${WINDOW} ago is trusted (another process's invalidateAll is seen up to ${WINDOW} late)`,
  scenarios: [ScenarioId.GetHit],
  setup: () => setupDecorated((client) => new WindowedRecordService(client)),
};
