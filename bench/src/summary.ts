// What the scenario summaries (src/stampede/summary.ts, src/resilience/summary.ts) share: a row's
// outcome, latencies summarised into percentiles, paired ratios, milliseconds as the tables print
// them, and tables whose rows either measured or say why not. No I/O (test/summary.test.ts).
import type { Table } from './report.js';
import { median, percentile } from './stats.js';

/** Whether a row measured: `failed` when its run went wrong, `unavailable` when it could not be set up. */
export type RowStatus = 'ok' | 'failed' | 'unavailable';

/** A row's status and, unless it is `ok`, why. */
export interface Outcome {
  readonly status: RowStatus;
  readonly error?: string;
}

/** `ok` without an error; `failed` with it. */
export function outcomeOf(error: string | undefined): Outcome {
  return error === undefined ? { status: 'ok' } : { status: 'failed', error };
}

/** The latency columns of a row, in milliseconds. */
export interface LatencySummary {
  /** Calls timed. */
  readonly calls: number;
  /** Nearest-rank median; `NaN` without calls. */
  readonly p50Ms: number;
  /** Nearest-rank 99th percentile; `NaN` without calls. */
  readonly p99Ms: number;
  /** The slowest call; `NaN` without calls. */
  readonly maxMs: number;
}

/** Count, p50, p99 and max of latencies in milliseconds, in any order. */
export function summariseLatencies(latenciesMs: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(latenciesMs).sort();
  const calls = sorted.length;
  return {
    calls,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: calls === 0 ? Number.NaN : (sorted[calls - 1] as number),
  };
}

/**
 * Median over rounds of `a[i] / b[i]`: each ratio is taken between measurements adjacent in time,
 * so load that comes and goes on a shared machine cancels out. `undefined` when no round has both.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number | undefined {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (Number.isFinite(x) && Number.isFinite(y) && y > 0) ratios.push(x / y);
  }
  return ratios.length === 0 ? undefined : median(ratios);
}

/** Milliseconds with one decimal (two below 10). */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

/** How {@link outcomeTable} turns one row into cells. */
export interface OutcomeColumns<R extends Outcome> {
  /** The cells that name the row (backend, subject), shown whatever its status. */
  readonly lead: (row: R) => readonly string[];
  /** The cells after `lead` of a row that measured. */
  readonly measured: (row: R) => readonly string[];
  /**
   * The cells between the status and the error of a row that did not measure.
   * @default blanks
   */
  readonly unmeasured?: (row: R) => readonly string[];
  /** Indexes of right-aligned (numeric) columns. */
  readonly right: readonly number[];
}

/**
 * A table of rows that measured or did not: a row that did not shows its `lead` cells, its status
 * in the next column and its error in the last, so a reader sees why it has no numbers.
 */
export function outcomeTable<R extends Outcome>(
  header: readonly string[],
  rows: readonly R[],
  columns: OutcomeColumns<R>,
): Table {
  const table: Array<readonly string[]> = [header];
  for (const row of rows) {
    const lead = columns.lead(row);
    if (row.status === 'ok') {
      table.push([...lead, ...columns.measured(row)]);
      continue;
    }
    const between =
      columns.unmeasured?.(row) ??
      Array.from({ length: header.length - lead.length - 2 }, () => '');
    table.push([...lead, row.status, ...between, row.error ?? '']);
  }
  return { rows: table, right: columns.right };
}
