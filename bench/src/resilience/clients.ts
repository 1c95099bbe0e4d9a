// The client each resilience scenario measures, per backend: Stowage as every bench subject is
// configured (`compress: false`, client defaults — leases on), on this run's servers.
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient, type CacheBackend } from '@stowage/core';
import { MEMORY_MAX_ENTRIES } from '../subjects/memory.js';
import { memcachedBackend, redisBackend } from '../subjects/stowage-remote.js';
import { Backend, type BenchContext, type JsonValue } from '../types.js';

/** The backend of `backend` as the main bench's Stowage subjects open it. */
async function openBackend(ctx: BenchContext, backend: Backend): Promise<CacheBackend> {
  switch (backend) {
    case Backend.Memory:
      return createMemoryBackend({ maxEntries: MEMORY_MAX_ENTRIES });
    case Backend.Memcached:
      return memcachedBackend(ctx);
    case Backend.Redis:
      return redisBackend(ctx);
  }
}

/** A client on `backend` under `prefix`; close it when done (it owns its backend). */
export async function openClient(
  ctx: BenchContext,
  backend: Backend,
  prefix: string,
): Promise<CacheClient<JsonValue>> {
  return new CacheClient<JsonValue>({
    backend: await openBackend(ctx, backend),
    prefix,
    compress: false,
  });
}

/** The first line of what was thrown. */
export const message = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

type Gc = (options?: { type: 'major' | 'minor' }) => void;
const gc = (globalThis as { gc?: Gc }).gc;

/**
 * A young-generation collection before each timed turn when GC is exposed (`node --expose-gc`,
 * as `pnpm bench` runs), so one turn's garbage is not collected on the next turn's time.
 */
export const scavenge = (): void => gc?.({ type: 'minor' });

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
