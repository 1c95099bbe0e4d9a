// The in-process part of the tiers bench: for each scenario, every subject is built with the L1
// the scenario needs, filled, checked, warmed up and then measured in rounds that visit the
// subjects in rotating order, so a slow minute on this shared machine hits every row alike.
import { runRound } from '../measure.js';
import { makeJsonPayload } from '../payloads.js';
import { LatencyReservoir, median, percentile } from '../stats.js';
import type { JsonValue } from '../types.js';
import { TierScenario, type TierContext, type TierOps, type TierSubject } from './subjects.js';

/** The shape of a run. */
export interface CellOptions {
  /** Keys each subject cycles over. */
  readonly keys: number;
  /** L1 size of the miss scenario: far below `keys`, so a sequential scan always misses. */
  readonly missL1Entries: number;
  readonly inflight: readonly number[];
  readonly rounds: number;
  readonly roundMs: number;
  readonly warmupMs: number;
  readonly scenarios: readonly TierScenario[];
  readonly log: (text: string) => void;
}

/** What one subject did in one scenario at one concurrency. */
export interface TierCell {
  readonly scenario: TierScenario;
  readonly inflight: number;
  readonly subject: string;
  /** Operations per second, one per round. */
  readonly opsPerSec: readonly number[];
  readonly medianOpsPerSec: number;
  /** Median over rounds of (this subject ÷ the first subject) in the same round. */
  readonly ratio: number | undefined;
  readonly p50Us: number;
  readonly p99Us: number;
  /** Median over rounds of this process's CPU time per operation (user + system), in µs. */
  readonly cpuUsPerOp: number;
  /** Share of reads the L1 answered, where the library counts it (Stowage). */
  readonly l1HitRate: number | undefined;
}

/** The 100 B JSON value every subject stores. */
export const TIER_PAYLOAD: JsonValue = makeJsonPayload(100);

type Gc = (options?: { type: 'major' | 'minor' }) => void;
const gc = (globalThis as { gc?: Gc }).gc;

interface Live {
  readonly subject: TierSubject;
  readonly ops: TierOps;
  readonly keys: readonly string[];
  /** Where the next round starts in `keys`: rounds continue the scan instead of restarting it. */
  offset: number;
}

/** Keys of the same length for every subject, distinct per subject (they share one Redis). */
export function tierKeys(slot: number, count: number): string[] {
  const width = String(count - 1).length;
  return Array.from(
    { length: count },
    (_, i) => `tiers:s${String(slot).padStart(2, '0')}:${String(i).padStart(width, '0')}`,
  );
}

/**
 * Writes every key, 16 in flight, then reads every key once (fills the L1s that fill on read),
 * checks a hit and a miss, and finds out whether a hit hands out a fresh object (mutating what
 * one read returned does not change what the next returns).
 */
async function fill(live: Live): Promise<boolean> {
  const { ops, keys } = live;
  for (let i = 0; i < keys.length; i += 16) {
    await Promise.all(keys.slice(i, i + 16).map((key) => ops.set(key, TIER_PAYLOAD)));
  }
  for (let i = 0; i < keys.length; i += 16) {
    await Promise.all(keys.slice(i, i + 16).map((key) => ops.get(key)));
  }
  const expected = JSON.stringify(TIER_PAYLOAD);
  const probe = keys[keys.length >> 1] as string;
  if (JSON.stringify(await ops.get(probe)) !== expected) {
    throw new Error(`${live.subject.id}: a written key did not read back the value written`);
  }
  if ((await ops.get(`${probe}:never-written`)) !== undefined) {
    throw new Error(`${live.subject.id}: a key never written was a hit`);
  }
  const first = (await ops.get(probe)) as Record<string, unknown>;
  first['__benchProbe'] = true;
  const copies = ((await ops.get(probe)) as Record<string, unknown>)['__benchProbe'] !== true;
  delete first['__benchProbe'];
  return copies;
}

function stepOf(live: Live, scenario: TierScenario): (i: number) => Promise<unknown> {
  const { ops, keys } = live;
  const count = keys.length;
  const base = live.offset;
  if (scenario === TierScenario.Write) {
    return (i) => ops.set(keys[(base + i) % count] as string, TIER_PAYLOAD);
  }
  return (i) => ops.get(keys[(base + i) % count] as string);
}

interface Tally {
  readonly opsPerSec: number[];
  readonly cpuUsPerOp: number[];
  readonly latencies: LatencyReservoir;
  hits: number;
  misses: number;
}

/** Which cell a round belongs to. */
interface CellKey {
  readonly scenario: TierScenario;
  readonly inflight: number;
}

async function timedRound(
  live: Live,
  cell: CellKey,
  options: { readonly durationMs: number; readonly tally: Tally | undefined },
): Promise<void> {
  gc?.({ type: 'minor' });
  const before = live.ops.l1Counts?.();
  const round = await runRound(
    stepOf(live, cell.scenario),
    cell.inflight,
    options.durationMs,
    16,
    options.tally?.latencies,
  );
  live.offset = (live.offset + round.ops) % live.keys.length;
  const after = live.ops.l1Counts?.();
  const tally = options.tally;
  if (tally === undefined) return;
  tally.opsPerSec.push(round.opsPerSec);
  tally.cpuUsPerOp.push(1e6 / round.cpuOpsPerSec);
  if (before !== undefined && after !== undefined) {
    tally.hits += after.hits - before.hits;
    tally.misses += after.misses - before.misses;
  }
}

async function measureCell(
  lives: readonly Live[],
  cell: CellKey,
  options: CellOptions,
): Promise<TierCell[]> {
  const { scenario, inflight } = cell;
  for (const live of lives) {
    await timedRound(live, cell, { durationMs: options.warmupMs, tally: undefined });
  }
  const tallies: Tally[] = lives.map(() => ({
    opsPerSec: [],
    cpuUsPerOp: [],
    latencies: new LatencyReservoir(20_000),
    hits: 0,
    misses: 0,
  }));
  for (let round = 0; round < options.rounds; round++) {
    for (let turn = 0; turn < lives.length; turn++) {
      const index = (turn + round) % lives.length;
      await timedRound(lives[index] as Live, cell, {
        durationMs: options.roundMs,
        tally: tallies[index],
      });
    }
  }
  gc?.({ type: 'major' });
  const first = tallies[0] as Tally;
  return lives.map((live, index) => {
    const tally = tallies[index] as Tally;
    const sorted = tally.latencies.sorted();
    const reads = tally.hits + tally.misses;
    return {
      scenario,
      inflight,
      subject: live.subject.id,
      opsPerSec: tally.opsPerSec,
      medianOpsPerSec: median(tally.opsPerSec),
      ratio:
        index === 0
          ? 1
          : median(tally.opsPerSec.map((rate, r) => rate / (first.opsPerSec[r] as number))),
      p50Us: percentile(sorted, 50) * 1000,
      p99Us: percentile(sorted, 99) * 1000,
      cpuUsPerOp: median(tally.cpuUsPerOp),
      l1HitRate: live.ops.l1Counts === undefined || reads === 0 ? undefined : tally.hits / reads,
    };
  });
}

/** What {@link measureCells} found. */
export interface CellsOutcome {
  readonly cells: TierCell[];
  /** Subjects that failed to set up or check, and why. */
  readonly failures: Array<{ subject: string; error: string }>;
  /** Per subject: whether a read hands out a fresh object (`false`: the same shared object). */
  readonly copies: Record<string, boolean>;
}

/**
 * Runs every scenario at every concurrency. Subjects are built per scenario (hit and write: an
 * L1 that holds every key; miss: an L1 of `missL1Entries`) and torn down after it, so no bus
 * client of another scenario receives this one's messages. A subject that fails to set up or
 * check is reported in `failures` and left out.
 */
export async function measureCells(
  ctx: TierContext,
  subjects: readonly TierSubject[],
  options: CellOptions,
): Promise<CellsOutcome> {
  const cells: TierCell[] = [];
  const copies: Record<string, boolean> = {};
  const failures: Array<{ subject: string; error: string }> = [];
  for (const scenario of options.scenarios) {
    const l1Entries = scenario === TierScenario.Miss ? options.missL1Entries : options.keys * 2;
    const lives: Live[] = [];
    for (const [slot, subject] of subjects.entries()) {
      if (!subject.scenarios.includes(scenario)) continue;
      try {
        const ops = await subject.setup(ctx, l1Entries);
        const live: Live = { subject, ops, keys: tierKeys(slot, options.keys), offset: 0 };
        lives.push(live);
        await ops.ready();
        copies[subject.id] ??= await fill(live);
      } catch (error) {
        failures.push({
          subject: subject.id,
          error: (error as Error).message.split('\n')[0] ?? '',
        });
        const index = lives.findIndex((live) => live.subject === subject);
        if (index >= 0)
          await lives
            .splice(index, 1)[0]
            ?.ops.teardown()
            .catch(() => undefined);
      }
    }
    try {
      for (const inflight of options.inflight) {
        options.log(`${scenario} × ${inflight} in flight: ${lives.length} subjects`);
        cells.push(...(await measureCell(lives, { scenario, inflight }, options)));
      }
    } finally {
      await Promise.allSettled(lives.map((live) => live.ops.teardown()));
    }
  }
  return { cells, failures, copies };
}
