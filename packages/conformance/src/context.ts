import { randomUUID } from 'node:crypto';
import type { BackendCapabilities, CacheBackend } from '@stowage/core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { sleep } from './helpers.js';
import type { ConformanceOptions, PartialBatchFixture } from './types.js';

/** What every per-concern suite receives: the live backend, fresh keys, the clock, the options. */
export interface SuiteContext<B extends CacheBackend = CacheBackend> {
  /** The capabilities the caller expects (its literal), for `it.skipIf`. */
  readonly capabilities: BackendCapabilities;
  /** Smallest key limit the backend may declare, in UTF-8 bytes. */
  readonly minKeyBytes: number;
  /** The suite's backend, created before the first test and emptied after each one. */
  readonly backend: () => B;
  /** A key no other test of this run uses: `cf-<label>-<n>`. */
  readonly key: (label: string) => string;
  /** Another backend on the same server under a fresh namespace, closed after the suite. */
  readonly another: () => Promise<B>;
  /** Moves the injected clock by `ms`, or waits `ms` in real time when there is none. */
  readonly advance: (ms: number) => Promise<void>;
  /**
   * How long to wait, in milliseconds, for an entry of `ttlSeconds` to expire: memcached checks
   * expiry against a clock that ticks once a second, so a 1 s item may live almost 2 s there.
   */
  readonly expireWaitMs: (ttlSeconds: number) => number;
  /** The caller's unreachable-server factory, if any. */
  readonly createUnreachable: (() => Promise<B>) | undefined;
  /** The caller's partial-batch fixture factory, if any. */
  readonly createPartial: (() => Promise<PartialBatchFixture<B>>) | undefined;
}

/**
 * Builds the context and registers the hooks that create the suite's backend, empty it after
 * each test and close every backend at the end. Call it inside the suite's `describe`.
 */
export function createSuiteContext<B extends CacheBackend>(
  options: ConformanceOptions<B>,
): SuiteContext<B> {
  let backend: B | undefined;
  const others: B[] = [];
  let counter = 0;
  const seconds = options.capabilities.ttlPrecision === 'seconds';
  const { createUnreachable, createPartial } = options;

  beforeAll(async () => {
    backend = await options.create(`cf-${randomUUID()}`);
  });
  afterEach(async () => {
    await backend?.clear();
  });
  afterAll(async () => {
    for (const other of others) await other.close();
    await backend?.close();
  });

  return {
    capabilities: options.capabilities,
    minKeyBytes: options.minKeyBytes ?? 250,
    backend: () => {
      if (backend === undefined) throw new Error('the conformance backend is not created yet');
      return backend;
    },
    key: (label) => `cf-${label}-${++counter}`,
    another: async () => {
      const other = await options.create(`cf-${randomUUID()}`);
      others.push(other);
      return other;
    },
    advance: async (ms) => {
      if (options.advanceTime === undefined) await sleep(ms);
      else await options.advanceTime(ms);
    },
    expireWaitMs: (ttlSeconds) => (seconds ? ttlSeconds * 1000 + 1100 : ttlSeconds * 1000 + 5),
    createUnreachable:
      createUnreachable === undefined ? undefined : async () => createUnreachable(),
    createPartial: createPartial === undefined ? undefined : async () => createPartial(),
  };
}
