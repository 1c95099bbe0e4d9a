// What a caller waits on a stale hit (issue 13's bench line: "p99 of a stale hit with a 200 ms
// factory with SWR vs without"). Sequential getOrSet on keys past their TTL and within their
// grace, each key hit once (its hit refreshes it), with a factory that takes `factoryMs`: grace
// only (the caller waits for the refresh), `softTimeout` (waits at most that long), and
// `staleWhileRevalidate` (answers at once, refreshes behind). Variants take turns per round in an
// order that rotates, and each turn starts once the previous turn's background refreshes ended.
import type { CacheClient, GetOrSetOptions } from '@stowage/core';
import { makeJsonPayload } from '../payloads.js';
import type { Backend, BenchContext, JsonValue } from '../types.js';
import { message, openClient, scavenge, sleep } from './clients.js';
import {
  StaleVariant,
  summariseStale,
  unavailableStaleRow,
  type StaleRow,
  type StaleSamples,
} from './summary.js';

/** Shape of the stale-hit scenario. */
export interface StaleOptions {
  /** Rounds; every variant takes one turn per round. */
  readonly rounds: number;
  /** Stale keys hit per turn (one call each). */
  readonly calls: number;
  /** How long the factory (the refresh) takes, in milliseconds. */
  readonly factoryMs: number;
  /** The `softTimeout` variant's timeout, in milliseconds. */
  readonly softTimeoutMs: number;
  /** TTL the keys are written with before a turn, in milliseconds: the turn starts after it. */
  readonly ttlMs: number;
  /** Grace of every write, in seconds: long enough that nothing is gone during a turn. */
  readonly graceS: number;
}

// About 100 bytes of JSON, as the main bench's small payload; a version field tells the stale
// value from the refreshed one.
const PAYLOAD = makeJsonPayload(100) as Readonly<Record<string, JsonValue>>;
const OLD: JsonValue = { ...PAYLOAD, version: 'old' };
const NEW: JsonValue = { ...PAYLOAD, version: 'new' };

interface Variant {
  readonly variant: StaleVariant;
  readonly name: string;
  readonly options: GetOrSetOptions<JsonValue>;
}

/** The three variants, with the options they add to `{ ttl, grace }`. */
export function staleVariants(options: StaleOptions): Variant[] {
  return [
    { variant: StaleVariant.Wait, name: 'grace only', options: {} },
    {
      variant: StaleVariant.Soft,
      name: `softTimeout: '${options.softTimeoutMs}ms'`,
      options: { softTimeout: `${options.softTimeoutMs}ms` },
    },
    {
      variant: StaleVariant.Swr,
      name: 'staleWhileRevalidate: true',
      options: { staleWhileRevalidate: true },
    },
  ];
}

interface Collected {
  readonly latenciesMs: number[];
  staleAnswers: number;
  refreshes: number;
  errors: number;
  firstError: string | undefined;
}

/** A factory that takes `factoryMs`, counting its runs and how many are still running. */
function refresher(factoryMs: number): {
  readonly factory: () => Promise<JsonValue>;
  readonly running: () => number;
  readonly runs: () => number;
} {
  let running = 0;
  let runs = 0;
  return {
    factory: async () => {
      running++;
      runs++;
      try {
        await sleep(factoryMs);
        return NEW;
      } finally {
        running--;
      }
    },
    running: () => running,
    runs: () => runs,
  };
}

/** One variant's turn: write `calls` keys, let them go stale, hit each once. */
async function turn(
  cache: CacheClient<JsonValue>,
  variant: Variant,
  keyBase: string,
  options: StaleOptions,
  into: Collected,
): Promise<void> {
  const keys = Array.from({ length: options.calls }, (_, i) => `${keyBase}:${i}`);
  const write = { ttl: `${options.ttlMs}ms`, grace: options.graceS } as const;
  for (const key of keys) await cache.getOrSet(key, () => OLD, write);
  await sleep(options.ttlMs + 10);
  // The refresh stores with a long TTL; the variant's options come on top of the same grace.
  const call: GetOrSetOptions<JsonValue> = { ttl: 3600, grace: options.graceS, ...variant.options };
  const refresh = refresher(options.factoryMs);
  scavenge();
  for (const key of keys) {
    const started = performance.now();
    try {
      const value = await cache.getOrSet(key, refresh.factory, call);
      into.latenciesMs.push(performance.now() - started);
      if ((value as { version?: string } | undefined)?.version === 'old') into.staleAnswers++;
    } catch (error) {
      into.errors++;
      into.firstError ??= message(error);
    }
  }
  // Background refreshes (softTimeout, SWR) finish before the next turn: their commits are not
  // the next variant's time. A commit follows its factory by one round trip.
  while (refresh.running() > 0) await sleep(5);
  await sleep(30);
  into.refreshes += refresh.runs();
}

/** Measures the stale-hit variants on each backend, one backend after the other. */
export async function measureStaleHits(
  ctx: BenchContext,
  backends: readonly Backend[],
  options: StaleOptions,
  log: (text: string) => void = () => undefined,
): Promise<StaleRow[]> {
  const variants = staleVariants(options);
  const rows: StaleRow[] = [];
  for (const backend of backends) {
    let cache: CacheClient<JsonValue>;
    try {
      cache = await openClient(ctx, backend, `bench-stale-${Date.now()}`);
    } catch (error) {
      for (const v of variants) rows.push(unavailableStaleRow({ backend, ...v }, message(error)));
      continue;
    }
    const collected = variants.map((): Collected => ({
      latenciesMs: [],
      staleAnswers: 0,
      refreshes: 0,
      errors: 0,
      firstError: undefined,
    }));
    try {
      log(`stale hits on ${backend}…`);
      // One untimed turn of each variant warms the connection and the code paths.
      for (const variant of variants) {
        await turn(
          cache,
          variant,
          `warm:${variant.variant}`,
          { ...options, calls: 3 },
          {
            latenciesMs: [],
            staleAnswers: 0,
            refreshes: 0,
            errors: 0,
            firstError: undefined,
          },
        );
      }
      for (let round = 0; round < options.rounds; round++) {
        for (let k = 0; k < variants.length; k++) {
          const i = (k + round) % variants.length;
          const variant = variants[i] as Variant;
          await turn(cache, variant, `${variant.variant}:${round}`, options, collected[i]!);
        }
      }
    } finally {
      await cache.close();
    }
    variants.forEach((variant, i) => {
      const samples: StaleSamples = collected[i]!;
      rows.push(summariseStale({ backend, variant: variant.variant, name: variant.name }, samples));
    });
  }
  return rows;
}
