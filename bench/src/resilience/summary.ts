// Pure helpers of the resilience run: samples → one row per backend and variant, and the tables.
// No I/O, so test/resilience-summary.test.ts covers them without servers.
import { formatUs, formatUsDelta, type Table } from '../report.js';
import { median } from '../stats.js';
import {
  formatMs,
  outcomeOf,
  outcomeTable,
  pairedRatio,
  summariseLatencies,
  type LatencySummary,
  type Outcome,
} from '../summary.js';
import type { Backend } from '../types.js';

/** How a stale hit is answered: what each variant adds to `{ ttl, grace }`. */
export const StaleVariant = {
  /** Grace only: the caller waits for the refresh (the factory) and gets the new value. */
  Wait: 'wait',
  /** `softTimeout`: the caller waits at most that long, then gets the stale value. */
  Soft: 'soft',
  /** `staleWhileRevalidate: true`: the stale value at once, the refresh in the background. */
  Swr: 'swr',
} as const;
/** One of {@link StaleVariant}. */
export type StaleVariant = (typeof StaleVariant)[keyof typeof StaleVariant];

/** What one backend and variant measured, before it is summarised. */
export interface StaleSamples {
  /** Latency of each call, in milliseconds. */
  readonly latenciesMs: readonly number[];
  /** Calls that answered the stale value (the rest answered the refreshed one). */
  readonly staleAnswers: number;
  /** Factory runs (one refresh per stale key is expected). */
  readonly refreshes: number;
  /** Calls that rejected. */
  readonly errors: number;
  /** The first rejection's message. */
  readonly firstError?: string | undefined;
}

/** One row of the stale-hit table: `failed` when a call rejected or a key was refreshed other than once. */
export interface StaleRow extends Outcome, LatencySummary {
  readonly backend: Backend;
  readonly variant: StaleVariant;
  /** The options the variant adds, as a user writes them. */
  readonly name: string;
  /** Calls that answered the stale value. */
  readonly staleAnswers: number;
  /** Factory runs. */
  readonly refreshes: number;
}

/** Summarises one backend and variant: percentiles over every call, failed unless each key refreshed once. */
export function summariseStale(
  at: { readonly backend: Backend; readonly variant: StaleVariant; readonly name: string },
  samples: StaleSamples,
): StaleRow {
  const latencies = summariseLatencies(samples.latenciesMs);
  const { calls } = latencies;
  let error: string | undefined;
  if (samples.errors > 0) {
    error = `${samples.errors} calls rejected (first: ${samples.firstError ?? 'no message'})`;
  } else if (calls === 0) {
    error = 'no call completed';
  } else if (samples.refreshes !== calls) {
    error = `${samples.refreshes} refreshes for ${calls} stale keys (one each expected)`;
  }
  return {
    ...at,
    ...outcomeOf(error),
    ...latencies,
    staleAnswers: samples.staleAnswers,
    refreshes: samples.refreshes,
  };
}

/** A row for a backend that could not be set up. */
export function unavailableStaleRow(
  at: { readonly backend: Backend; readonly variant: StaleVariant; readonly name: string },
  error: string,
): StaleRow {
  return {
    ...at,
    status: 'unavailable',
    error,
    calls: 0,
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    maxMs: Number.NaN,
    staleAnswers: 0,
    refreshes: 0,
  };
}

/** The stale-hit table: one line per backend and variant. */
export function staleTable(rows: readonly StaleRow[]): Table {
  return outcomeTable(
    ['backend', 'getOrSet options', 'calls', 'p50 ms', 'p99 ms', 'max ms', 'answered stale'],
    rows,
    {
      lead: (row) => [row.backend, row.name],
      measured: (row) => [
        String(row.calls),
        formatMs(row.p50Ms),
        formatMs(row.p99Ms),
        formatMs(row.maxMs),
        `${row.staleAnswers}/${row.calls}`,
      ],
      right: [2, 3, 4, 5, 6],
    },
  );
}

/** One backend's fresh hits on a plain entry and on a graced one, interleaved by round. */
export interface HitCostSamples {
  /** Mean µs per hit of each round, plain entry, in round order. */
  readonly plainRoundsUs: readonly number[];
  /** The same for the graced entry. */
  readonly gracedRoundsUs: readonly number[];
  /** Latencies of single hits (ms), plain entry. */
  readonly plainLatenciesMs: ArrayLike<number>;
  /** The same for the graced entry. */
  readonly gracedLatenciesMs: ArrayLike<number>;
  /** Why it failed (a hit ran the factory, a call rejected). */
  readonly error?: string | undefined;
}

/** One row of the hit-cost table. */
export interface HitCostRow extends Outcome {
  readonly backend: Backend;
  /** Rounds with both measured. */
  readonly rounds: number;
  /** Median over rounds of µs per hit, plain entry. */
  readonly plainUs: number;
  /** The same, graced entry. */
  readonly gracedUs: number;
  /** Median over rounds of graced ÷ plain in the same round. */
  readonly ratio: number;
  /** `gracedUs − plainUs`. */
  readonly deltaUs: number;
  readonly plainP99Us: number;
  readonly gracedP99Us: number;
}

/** Summarises one backend's hit-cost rounds. */
export function summariseHitCost(backend: Backend, samples: HitCostSamples): HitCostRow {
  const rounds = Math.min(samples.plainRoundsUs.length, samples.gracedRoundsUs.length);
  const ratio = pairedRatio(samples.gracedRoundsUs, samples.plainRoundsUs);
  const plainUs = median(samples.plainRoundsUs);
  const gracedUs = median(samples.gracedRoundsUs);
  const error =
    samples.error ?? (rounds === 0 || ratio === undefined ? 'no round completed' : undefined);
  return {
    backend,
    ...outcomeOf(error),
    rounds,
    plainUs,
    gracedUs,
    ratio: ratio ?? Number.NaN,
    deltaUs: gracedUs - plainUs,
    plainP99Us: summariseLatencies(samples.plainLatenciesMs).p99Ms * 1000,
    gracedP99Us: summariseLatencies(samples.gracedLatenciesMs).p99Ms * 1000,
  };
}

/** The hit-cost table: µs per fresh getOrSet hit, plain and graced, and their ratio. */
export function hitCostTable(rows: readonly HitCostRow[]): Table {
  return outcomeTable(
    [
      'backend',
      'plain µs / hit',
      'graced µs / hit',
      'graced ÷ plain',
      'difference µs',
      'plain p99 µs',
      'graced p99 µs',
    ],
    rows,
    {
      lead: (row) => [row.backend],
      measured: (row) => [
        formatUs(row.plainUs),
        formatUs(row.gracedUs),
        `${row.ratio.toFixed(2)}×`,
        formatUsDelta(row.deltaUs),
        formatUs(row.plainP99Us),
        formatUs(row.gracedP99Us),
      ],
      right: [1, 2, 3, 4, 5, 6],
    },
  );
}
