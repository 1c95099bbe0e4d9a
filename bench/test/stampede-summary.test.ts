// The pure helpers of `--stampede`: rounds summarised into rows, tables, and the README section
// (the helpers every summary shares are in test/summary.test.ts). The stampede itself (forked
// processes, servers) is not run here; nothing here asserts speed.
import { describe, expect, it } from 'vitest';
import { STAMPEDE_END, STAMPEDE_START, updateStampedeReadme } from '../src/readme.js';
import type { WorkerRound } from '../src/stampede/protocol.js';
import type { StampedeResults } from '../src/stampede/run.js';
import {
  missTable,
  stampedeTable,
  summariseStampede,
  unavailableRow,
  type MissRow,
  type RowSubject,
} from '../src/stampede/summary.js';
import { Backend, Kind } from '../src/types.js';
import { MACHINE, rewriteSection } from './readme-section.js';

const SUBJECT: RowSubject = {
  subject: 'redis/stowage-lease',
  name: 'stowage (leases)',
  backend: Backend.Redis,
  kind: Kind.Stowage,
};

function worker(
  runs: number,
  latenciesMs: number[],
  extra: Partial<WorkerRound> = {},
): WorkerRound {
  return { runs, latenciesMs, errors: 0, empty: 0, lateMs: 0, ...extra };
}

describe('summariseStampede', () => {
  it('sums factory runs over processes per round and takes percentiles over every call', () => {
    const lease = { taken: 1, waits: 0, timeouts: 0, lost: 0 };
    const waited = { taken: 0, waits: 1, timeouts: 0, lost: 0 };
    const row = summariseStampede(SUBJECT, [
      {
        workers: [
          worker(1, [50, 51], { leases: lease, lateMs: 1 }),
          worker(0, [60, 70], { leases: waited, lateMs: 3 }),
        ],
        stored: true,
      },
      {
        workers: [
          worker(2, [52, 53], { leases: lease, lateMs: 0 }),
          worker(1, [54, 100], { leases: waited, lateMs: 1 }),
        ],
        stored: false,
      },
    ]);
    expect(row.status).toBe('ok');
    expect(row.runsPerRound).toEqual([1, 3]);
    expect(row.runsMedian).toBe(2);
    expect(row.runsMax).toBe(3);
    expect(row.calls).toBe(8);
    expect(row.p50Ms).toBe(53);
    expect(row.p99Ms).toBe(100);
    expect(row.maxMs).toBe(100);
    expect(row.unstoredRounds).toBe(1);
    expect(row.startSpreadMs).toBe(1.5);
    expect(row.leases).toEqual({ taken: 2, waits: 2, timeouts: 0, lost: 0 });
  });

  it('fails a subject whose calls rejected or resolved empty, and keeps no lease counters for peers', () => {
    const rejected = summariseStampede(SUBJECT, [
      { workers: [worker(1, [1], { errors: 2, firstError: 'boom' })], stored: true },
    ]);
    expect(rejected.status).toBe('failed');
    expect(rejected.error).toContain('2 calls rejected (first: boom)');
    const empty = summariseStampede(SUBJECT, [
      { workers: [worker(1, [1], { empty: 1 })], stored: true },
    ]);
    expect(empty.status).toBe('failed');
    expect(empty.leases).toBeUndefined();
    expect(summariseStampede(SUBJECT, []).status).toBe('failed');
  });
});

describe('tables', () => {
  it('shows runs, latencies and leases per round, and why a subject did not run', () => {
    const ok = summariseStampede(SUBJECT, [
      {
        workers: [worker(1, [50.04], { leases: { taken: 1, waits: 3, timeouts: 0, lost: 0 } })],
        stored: true,
      },
    ]);
    const table = stampedeTable([
      ok,
      unavailableRow({ ...SUBJECT, subject: 'redis/x', name: 'x' }, 'no server'),
    ]);
    expect(table.rows[1]).toEqual([
      'redis',
      'stowage (leases)',
      '1',
      '1',
      '50.0',
      '50.0',
      '50.0',
      '1',
      '1 taken, 3 waited',
      '0',
    ]);
    // A subject that did not run: its name, why, and how many rounds it got through.
    expect(table.rows[2]).toEqual([
      'redis',
      'x',
      'unavailable',
      '',
      '',
      '',
      '',
      '0',
      '',
      'no server',
    ]);
  });

  it('gives ratios to raw and to lease: false where they exist', () => {
    const row: MissRow = {
      ...SUBJECT,
      status: 'ok',
      roundsUs: [600],
      usPerMiss: 600,
      p50Us: 590,
      p99Us: 2400,
      vsRaw: 1.8,
      vsNoLease: 1.5,
    };
    const table = missTable([row, { ...row, vsNoLease: undefined }]);
    expect(table.rows[1]).toEqual([
      'redis',
      'stowage (leases)',
      '600',
      '590',
      '2400',
      '1.80×',
      '1.50×',
    ]);
    expect(table.rows[2]?.[6]).toBe('');
  });
});

describe('updateStampedeReadme', () => {
  it('rewrites only the text between the stampede markers', async () => {
    const results: StampedeResults = {
      schema: 1,
      machine: MACHINE,
      durationSec: 60,
      config: {
        processes: 4,
        calls: 64,
        factoryMs: 50,
        rounds: 1,
        backends: [Backend.Redis],
        miss: false,
      },
      subjects: [],
      notes: ['BentoCache has no memcached driver'],
      stampede: [unavailableRow(SUBJECT, 'no server')],
    };
    const text = await rewriteSection({ start: STAMPEDE_START, end: STAMPEDE_END }, (readme) =>
      updateStampedeReadme(readme, results),
    );
    expect(text).not.toContain('old');
    expect(text).toContain('4 processes × 64 concurrent getOrSet');
    expect(text).toContain('BentoCache has no memcached driver.');
  });
});
