// Pure helpers of the stampede run: rounds → one row per subject, and the tables. No I/O, so
// test/stampede-summary.test.ts covers them without servers.
import { formatUs, type Table } from '../report.js';
import { median } from '../stats.js';
import {
  formatMs,
  outcomeOf,
  outcomeTable,
  summariseLatencies,
  type LatencySummary,
  type Outcome,
} from '../summary.js';
import type { Backend, Kind } from '../types.js';
import type { LeaseCounts, WorkerRound } from './protocol.js';

/** What a row says about its subject. */
export interface RowSubject {
  /** Subject id. */
  readonly subject: string;
  /** Table name. */
  readonly name: string;
  /** memcached or Redis. */
  readonly backend: Backend;
  /** Raw, Stowage or peer. */
  readonly kind: Kind;
}

/** One stampede round of one subject: every worker's report and the check after it. */
export interface StampedeRound {
  /** One report per worker process. */
  readonly workers: readonly WorkerRound[];
  /** Whether a getOrSet after the round found the value (its factory did not run). */
  readonly stored: boolean;
}

/**
 * One subject's stampede rounds, summarised: `failed` when a call rejected or resolved empty,
 * `unavailable` when it could not be set up; `calls` (processes × calls × rounds) and latencies
 * of one call.
 */
export interface StampedeRow extends RowSubject, Outcome, LatencySummary {
  /** Timed rounds run. */
  readonly rounds: number;
  /** Factory runs in each round, all processes together, in round order. */
  readonly runsPerRound: readonly number[];
  /** Median of `runsPerRound`. */
  readonly runsMedian: number;
  /** Largest of `runsPerRound`. */
  readonly runsMax: number;
  /** Rounds after which the key did not hold a value. */
  readonly unstoredRounds: number;
  /** Median over rounds of the spread of the processes' start times, in milliseconds. */
  readonly startSpreadMs: number;
  /** Stowage's lease counters summed over all rounds and processes. */
  readonly leases?: LeaseCounts;
}

const NO_LEASES: LeaseCounts = { taken: 0, waits: 0, timeouts: 0, lost: 0 };

function addLeases(a: LeaseCounts, b: LeaseCounts): LeaseCounts {
  return {
    taken: a.taken + b.taken,
    waits: a.waits + b.waits,
    timeouts: a.timeouts + b.timeouts,
    lost: a.lost + b.lost,
  };
}

/** Sums and percentiles of a subject's timed rounds. */
export function summariseStampede(
  subject: RowSubject,
  rounds: readonly StampedeRound[],
): StampedeRow {
  const runsPerRound = rounds.map((r) => r.workers.reduce((sum, w) => sum + w.runs, 0));
  let leases: LeaseCounts | undefined;
  let errors = 0;
  let empty = 0;
  let firstError: string | undefined;
  for (const worker of rounds.flatMap((r) => r.workers)) {
    if (worker.leases !== undefined) leases = addLeases(leases ?? NO_LEASES, worker.leases);
    errors += worker.errors;
    empty += worker.empty;
    firstError ??= worker.firstError;
  }
  const spreads = rounds.map((r) => {
    const late = r.workers.map((w) => w.lateMs);
    return late.length === 0 ? 0 : Math.max(...late) - Math.min(...late);
  });
  let error: string | undefined;
  if (errors > 0) error = `${errors} calls rejected (first: ${firstError ?? 'no message'})`;
  else if (empty > 0) error = `${empty} calls resolved without a value`;
  else if (rounds.length === 0) error = 'no round completed';
  return {
    ...subject,
    ...outcomeOf(error),
    rounds: rounds.length,
    runsPerRound,
    runsMedian: median(runsPerRound),
    runsMax: runsPerRound.length === 0 ? Number.NaN : Math.max(...runsPerRound),
    ...summariseLatencies(rounds.flatMap((r) => r.workers.flatMap((w) => w.latenciesMs))),
    unstoredRounds: rounds.filter((r) => !r.stored).length,
    startSpreadMs: median(spreads),
    ...(leases === undefined ? {} : { leases }),
  };
}

/** A row for a subject that could not be set up. */
export function unavailableRow(subject: RowSubject, error: string): StampedeRow {
  return {
    ...subject,
    status: 'unavailable',
    error,
    rounds: 0,
    runsPerRound: [],
    runsMedian: Number.NaN,
    runsMax: Number.NaN,
    calls: 0,
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    maxMs: Number.NaN,
    unstoredRounds: 0,
    startSpreadMs: Number.NaN,
  };
}

const formatCount = (n: number): string =>
  Number.isFinite(n) ? (Number.isInteger(n) ? String(n) : n.toFixed(1)) : '–';

/** Per round, what the lease counters say: `1 taken, 3 waited` (Stowage only). */
function leaseCell(row: StampedeRow): string {
  if (row.leases === undefined || row.rounds === 0) return '';
  const per = (n: number): string => formatCount(Math.round((n / row.rounds) * 10) / 10);
  const parts = [`${per(row.leases.taken)} taken`, `${per(row.leases.waits)} waited`];
  if (row.leases.timeouts > 0) parts.push(`${per(row.leases.timeouts)} timed out`);
  if (row.leases.lost > 0) parts.push(`${per(row.leases.lost)} lost`);
  return parts.join(', ');
}

/** The stampede table: one line per subject. */
export function stampedeTable(rows: readonly StampedeRow[]): Table {
  return outcomeTable(
    [
      'backend',
      'subject',
      'factory runs / round (median)',
      'max',
      'p50 ms',
      'p99 ms',
      'max ms',
      'rounds',
      'leases / round',
      'not stored',
    ],
    rows,
    {
      lead: (row) => [row.backend, row.name],
      measured: (row) => [
        formatCount(row.runsMedian),
        formatCount(row.runsMax),
        formatMs(row.p50Ms),
        formatMs(row.p99Ms),
        formatMs(row.maxMs),
        String(row.rounds),
        leaseCell(row),
        String(row.unstoredRounds),
      ],
      // How many rounds ran before it failed.
      unmeasured: (row) => ['', '', '', '', String(row.rounds), ''],
      right: [2, 3, 4, 5, 6, 7, 9],
    },
  );
}

/**
 * One subject's sequential misses: mean µs per miss of each round; `failed` when a miss rejected
 * or a fresh key did not run the factory.
 */
export interface MissRow extends RowSubject, Outcome {
  /** Mean µs per miss of each round, in round order. */
  readonly roundsUs: readonly number[];
  /** Median of `roundsUs`. */
  readonly usPerMiss: number;
  /** Median latency of one miss, µs. */
  readonly p50Us: number;
  /** 99th percentile latency of one miss, µs. */
  readonly p99Us: number;
  /** Median over rounds of this subject's µs per miss ÷ the raw client's in the same round. */
  readonly vsRaw?: number;
  /** For Stowage with leases: the same ratio to Stowage with `lease: false`. */
  readonly vsNoLease?: number;
}

/** The miss-latency table: µs per miss, percentiles and ratios. */
export function missTable(rows: readonly MissRow[]): Table {
  const ratio = (r: number | undefined): string => (r === undefined ? '' : `${r.toFixed(2)}×`);
  return outcomeTable(
    ['backend', 'subject', 'µs / miss', 'p50 µs', 'p99 µs', 'vs raw', 'vs lease: false'],
    rows,
    {
      lead: (row) => [row.backend, row.name],
      measured: (row) => [
        formatUs(row.usPerMiss),
        formatUs(row.p50Us),
        formatUs(row.p99Us),
        ratio(row.vsRaw),
        ratio(row.vsNoLease),
      ],
      right: [2, 3, 4, 5, 6],
    },
  );
}
