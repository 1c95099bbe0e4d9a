import type { WorkerPool } from './pool.js';
import type { FromWorker, WorkerRound } from './protocol.js';
import type { StampedeSubject } from './subjects.js';
import {
  summariseStampede,
  unavailableRow,
  type RowSubject,
  type StampedeRound,
  type StampedeRow,
} from './summary.js';

/** The shape of the stampede. */
export interface StampedeShape {
  /** Timed rounds per subject (each on a fresh key). */
  readonly rounds: number;
  /** Concurrent calls per process and round. */
  readonly calls: number;
  /** How long the factory takes, in milliseconds. */
  readonly factoryMs: number;
}

// How far ahead of now the coordinator sets a round's start, so that every worker has its
// request before the moment comes (IPC takes well under a millisecond, a busy 2-core machine
// may delay a process by a few more).
const LEAD_MS = 40;

const rowSubject = (s: StampedeSubject): RowSubject => ({
  subject: s.id,
  name: s.name,
  backend: s.backend,
  kind: s.kind,
});

function reports(replies: readonly FromWorker[]): WorkerRound[] {
  return replies.map((reply) => {
    if (reply.type !== 'round') throw new Error(`expected a round report, got '${reply.type}'`);
    return reply.report;
  });
}

/** One round of one subject: every worker fires at the same moment, then one checks the key. */
async function oneRound(
  pool: WorkerPool,
  subject: StampedeSubject,
  key: string,
  shape: StampedeShape,
): Promise<StampedeRound> {
  const startAt = performance.timeOrigin + performance.now() + LEAD_MS;
  const workers = reports(
    await pool.all({
      type: 'round',
      subject: subject.id,
      key,
      startAt,
      calls: shape.calls,
      factoryMs: shape.factoryMs,
    }),
  );
  const check = await pool.request(0, { type: 'check', subject: subject.id, key });
  return { workers, stored: check.type === 'check' && check.stored };
}

/**
 * Runs the stampede on every subject the workers could set up: one untimed round each, then
 * `rounds` rounds in which the subjects take turns in an order that rotates by one per round, so
 * a burst of load on the machine falls on all of them. Every round uses a key never used before.
 */
export async function measureStampede(
  pool: WorkerPool,
  subjects: readonly StampedeSubject[],
  unavailable: ReadonlyMap<string, string>,
  shape: StampedeShape,
  log: (text: string) => void,
): Promise<StampedeRow[]> {
  const run = Date.now().toString(36);
  const live = subjects.filter((s) => !unavailable.has(s.id));
  const rounds = new Map<string, StampedeRound[]>(live.map((s) => [s.id, []]));
  const failed = new Map<string, string>();
  const keyOf = (s: StampedeSubject, round: number | 'warm'): string =>
    `stampede:${run}:${subjects.indexOf(s)}:${round}`;
  for (const subject of live) {
    try {
      await oneRound(pool, subject, keyOf(subject, 'warm'), shape);
    } catch (error) {
      failed.set(subject.id, error instanceof Error ? error.message : String(error));
    }
  }
  for (let round = 0; round < shape.rounds; round++) {
    for (let k = 0; k < live.length; k++) {
      const subject = live[(k + round) % live.length] as StampedeSubject;
      if (failed.has(subject.id)) continue;
      try {
        rounds.get(subject.id)?.push(await oneRound(pool, subject, keyOf(subject, round), shape));
      } catch (error) {
        failed.set(subject.id, error instanceof Error ? error.message : String(error));
      }
    }
    if ((round + 1) % 10 === 0) log(`  stampede: ${round + 1} of ${shape.rounds} rounds`);
  }
  return subjects.map((subject) => {
    const why = unavailable.get(subject.id);
    if (why !== undefined) return unavailableRow(rowSubject(subject), why);
    const row = summariseStampede(rowSubject(subject), rounds.get(subject.id) ?? []);
    const error = failed.get(subject.id);
    return error === undefined ? row : { ...row, status: 'failed', error };
  });
}
