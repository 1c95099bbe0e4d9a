import type { CacheBackend } from '@stowage/core';
import { describe } from 'vitest';
import { createSuiteContext, type SuiteContext } from './context.js';
import { describeBatches } from './suites/batches.js';
import { describeClientPass } from './suites/client-pass.js';
import { describeClose } from './suites/close.js';
import { describeContract } from './suites/contract.js';
import { describeCounters } from './suites/counters.js';
import { describeFailures } from './suites/failures.js';
import { describeFlags } from './suites/flags.js';
import { describeFlush } from './suites/flush.js';
import { describeKeys } from './suites/keys.js';
import { describeLeases } from './suites/leases.js';
import { describeNamespaces } from './suites/namespaces.js';
import { describePayloads } from './suites/payloads.js';
import { describeReadWrite } from './suites/read-write.js';
import { describeTags } from './suites/tags.js';
import { describeTtl } from './suites/ttl.js';
import type { ConformanceOptions } from './types.js';

export type { ConformanceOptions, PartialBatchFixture } from './types.js';
export { describeBusConformance } from './bus.js';
export type { BusConformanceOptions } from './bus.js';

/** The per-concern suites, in the order they run. */
const SUITES: ReadonlyArray<(ctx: SuiteContext) => void> = [
  describeContract,
  describeReadWrite,
  describePayloads,
  describeBatches,
  describeFlags,
  describeKeys,
  describeTtl,
  describeCounters,
  describeNamespaces,
  describeFlush,
  describeClose,
  describeFailures,
  describeClientPass,
  describeTags,
];

/**
 * Registers the shared backend conformance suite in the current vitest file: one `describe` per
 * concern (contract, read-write, payloads, batches, flags, keys, ttl, counters, namespaces,
 * flush, close, failures, client pass, tags, leases). Every Stowage backend runs it; run it against your own
 * backend to check it keeps the `CacheBackend` contract.
 *
 * @param name - label of the outer `describe` (`'<name> backend conformance'`).
 * @param options - how to create the backend and what it is expected to declare; see
 *   {@link ConformanceOptions}.
 *
 * @example
 * const clock = { time: 1_000_000, now: () => clock.time };
 * describeBackendConformance('memory', {
 *   capabilities: {
 *     ttlPrecision: 'milliseconds',
 *     scopedClear: true,
 *     counters: 'unsigned64',
 *     delayedFlush: true,
 *   },
 *   create: () => createMemoryBackend({ clock }),
 *   advanceTime: (ms) => {
 *     clock.time += ms;
 *   },
 * });
 */
export function describeBackendConformance<B extends CacheBackend>(
  name: string,
  options: ConformanceOptions<B>,
): void {
  describe(`${name} backend conformance`, () => {
    const ctx = createSuiteContext(options);
    for (const suite of SUITES) suite(ctx);
    describeLeases(ctx, options.leases ?? true);
    options.extra?.(() => ctx.backend());
  });
}
