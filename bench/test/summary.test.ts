// The helpers every scenario summary shares (src/summary.ts): percentiles of latencies, a row's
// outcome, paired ratios, milliseconds as printed, and tables of rows that measured or did not.
import { describe, expect, it } from 'vitest';
import {
  formatMs,
  outcomeOf,
  outcomeTable,
  pairedRatio,
  summariseLatencies,
  type Outcome,
} from '../src/summary.js';

describe('summariseLatencies', () => {
  it('takes nearest-rank percentiles and the max over latencies in any order', () => {
    const latencies = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1 ms
    expect(summariseLatencies(latencies)).toEqual({ calls: 100, p50Ms: 50, p99Ms: 99, maxMs: 100 });
    expect(summariseLatencies(Float64Array.of(3, 1, 2))).toEqual({
      calls: 3,
      p50Ms: 2,
      p99Ms: 3,
      maxMs: 3,
    });
  });

  it('has no percentiles without calls', () => {
    expect(summariseLatencies([])).toEqual({
      calls: 0,
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      maxMs: Number.NaN,
    });
  });
});

describe('outcomeOf', () => {
  it('is ok without an error and failed with one', () => {
    expect(outcomeOf(undefined)).toEqual({ status: 'ok' });
    expect(outcomeOf('boom')).toEqual({ status: 'failed', error: 'boom' });
  });
});

describe('pairedRatio', () => {
  it('is the median of per-round ratios, skipping rounds missing on either side', () => {
    expect(pairedRatio([2, 3, 10], [1, 1, 2])).toBe(3);
    expect(pairedRatio([2, Number.NaN], [1, 1])).toBe(2);
    expect(pairedRatio([1], [0])).toBeUndefined();
    expect(pairedRatio([], [])).toBeUndefined();
  });
});

describe('formatMs', () => {
  it('gives two decimals below 10 ms, one above, and a dash for no number', () => {
    expect(formatMs(5)).toBe('5.00');
    expect(formatMs(50.04)).toBe('50.0');
    expect(formatMs(Number.NaN)).toBe('–');
  });
});

describe('outcomeTable', () => {
  interface Row extends Outcome {
    readonly name: string;
    readonly ms: number;
    readonly rounds: number;
  }
  const rows: Row[] = [
    { name: 'a', status: 'ok', ms: 1.5, rounds: 3 },
    { name: 'b', status: 'failed', error: 'boom', ms: Number.NaN, rounds: 2 },
    { name: 'c', status: 'unavailable', error: 'no server', ms: Number.NaN, rounds: 0 },
  ];
  const header = ['subject', 'p50 ms', 'rounds', 'note'];
  const columns = {
    lead: (row: Row) => [row.name],
    measured: (row: Row) => [formatMs(row.ms), String(row.rounds), ''],
    right: [1, 2],
  };

  it("puts a row's cells after its lead, or its status, blanks and its error in the last column", () => {
    expect(outcomeTable(header, rows, columns)).toEqual({
      rows: [
        header,
        ['a', '1.50', '3', ''],
        ['b', 'failed', '', 'boom'],
        ['c', 'unavailable', '', 'no server'],
      ],
      right: [1, 2],
    });
  });

  it('lets a table keep cells of a row that did not measure', () => {
    const table = outcomeTable(header, rows, {
      ...columns,
      unmeasured: (row) => [String(row.rounds)],
    });
    expect(table.rows.slice(2)).toEqual([
      ['b', 'failed', '2', 'boom'],
      ['c', 'unavailable', '0', 'no server'],
    ]);
  });
});
