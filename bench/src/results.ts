import type { CodecCost } from './codec-cost.js';
import type { HeapCost } from './heap.js';
import type { Machine } from './machine.js';
import { median } from './stats.js';
import type { TargetResult } from './targets.js';
import { LoopShape, type Backend, type Kind, type PayloadSize, type ScenarioId } from './types.js';

/** One subject in one cell (scenario × payload × in-flight). */
export interface SubjectResult {
  /** Subject id (`memory/stowage`). */
  readonly subject: string;
  /** Where it stores. */
  readonly backend: Backend;
  /** Raw, Stowage or peer. */
  readonly kind: Kind;
  /** `failed` when an operation threw or a round hung; the numbers are then absent. */
  readonly status: 'ok' | 'failed';
  /** Why it failed. */
  readonly error?: string;
  /** Operations per second of each round, in round order (rounds interleave the subjects). */
  readonly roundsOpsPerSec: readonly number[];
  /** Median of `roundsOpsPerSec`. */
  readonly opsPerSec: number;
  /** Operations per second of this process's CPU time, per round (see `Round.cpuOpsPerSec`). */
  readonly roundsCpuOpsPerSec: readonly number[];
  /** Median of `roundsCpuOpsPerSec`. */
  readonly cpuOpsPerSec: number;
  /** (max − min) / median of the rounds, in percent. */
  readonly spreadPct: number;
  /** Median latency of one operation, in microseconds (sampled operations of every round). */
  readonly p50Us: number;
  /** 99th percentile latency, in microseconds. */
  readonly p99Us: number;
  /** How many latencies the percentiles come from. */
  readonly latencySamples: number;
  /** The raw client the ratio is taken against (the baseline subject of the same backend). */
  baseline?: string;
  /**
   * Median over rounds of (this subject's ops/s ÷ the baseline's ops/s in the same round):
   * adjacent in time, so load that comes and goes cancels out. Above 1 is faster than raw.
   */
  ratio?: number;
  /**
   * The same ratio on CPU time instead of wall time. For in-process subjects it is what the
   * operations cost regardless of other load on the machine (where it and `ratio` disagree, the
   * machine was busy); for remote subjects it compares client-side CPU only.
   */
  cpuRatio?: number;
}

/** Every subject that ran one scenario with one payload at one concurrency. */
export interface CellResult {
  /** The scenario. */
  readonly scenario: ScenarioId;
  /** The payload size. */
  readonly payload: PayloadSize;
  /** Operations in flight at once. */
  readonly inflight: number;
  /** How the loops issue their calls; absent in results written before it existed (`reply`). */
  readonly loop?: LoopShape;
  /** One entry per subject that runs in this scenario. */
  readonly results: SubjectResult[];
}

/** A subject as the run saw it. */
export interface SubjectInfo {
  /** Subject id. */
  readonly id: string;
  /** Table name. */
  readonly name: string;
  /** Where it stores. */
  readonly backend: Backend;
  /** Raw, Stowage or peer. */
  readonly kind: Kind;
  /** True for its backend's baseline. */
  readonly baseline: boolean;
  /** What it is and how it is configured. */
  readonly description: string;
  /** `unavailable` when setup, preparation or verification failed (see `error`). */
  status: 'ok' | 'unavailable';
  /** Why it is unavailable. */
  error?: string;
  /** Whether reads return a fresh copy (mutating a result does not change the cache). */
  copies?: boolean;
  /** Operations left out because they failed their check (`getMany left out: …`). */
  notes?: string[];
}

/** Settings of a run. */
export interface RunConfig {
  /** Timed rounds per cell. */
  readonly rounds: number;
  /** Length of a round, in milliseconds. */
  readonly roundMs: number;
  /** Untimed warm-up per subject and cell, in milliseconds. */
  readonly warmupMs: number;
  /** Operations in flight. */
  readonly inflight: readonly number[];
  /**
   * Loop shapes measured at more than one in flight (at one in flight only `reply` runs: one loop
   * has nothing to share a tick with). Absent in results written before it existed (`reply`).
   */
  readonly loops?: readonly LoopShape[];
  /** Payload sizes. */
  readonly payloads: readonly PayloadSize[];
  /** Scenarios. */
  readonly scenarios: readonly ScenarioId[];
  /** Backends. */
  readonly backends: readonly Backend[];
  /** Payload × in-flight combinations of the grid that are not run (the quick preset skips the slowest). */
  readonly skip?: ReadonlyArray<{ readonly payload: PayloadSize; readonly inflight: number }>;
}

/** One payload × in-flight × loop-shape combination of the grid. */
export interface GridCell {
  /** The payload size. */
  readonly payload: PayloadSize;
  /** Operations in flight. */
  readonly inflight: number;
  /** How the loops issue their calls. */
  readonly loop: LoopShape;
}

/** The payload × in-flight × loop-shape combinations a run measures, in run order. */
export function gridCells(
  config: Pick<RunConfig, 'payloads' | 'inflight' | 'skip' | 'loops'>,
): GridCell[] {
  const cells: GridCell[] = [];
  const loops = config.loops ?? [LoopShape.Reply];
  for (const payload of config.payloads) {
    for (const inflight of config.inflight) {
      const skipped = config.skip?.some((s) => s.payload === payload && s.inflight === inflight);
      if (skipped === true) continue;
      for (const loop of loops) {
        if (inflight > 1 || loop === LoopShape.Reply) cells.push({ payload, inflight, loop });
      }
    }
  }
  return cells;
}

/** The loop shape of a cell (results written before shapes existed are `reply`). */
export const loopOf = (cell: Pick<CellResult, 'loop'>): LoopShape => cell.loop ?? LoopShape.Reply;

/** Everything a run measured; written to `results/*.json`. */
export interface BenchResults {
  /** Format version of this file. */
  readonly schema: 1;
  /** `full`, `quick` or `custom`. */
  readonly mode: string;
  /** Date, Node, CPU and load. */
  readonly machine: Machine;
  /** How long the run took, in seconds. */
  readonly durationSec: number;
  /** Settings. */
  readonly config: RunConfig;
  /** The subjects and whether they could run. */
  readonly subjects: readonly SubjectInfo[];
  /** One entry per cell. */
  readonly cells: readonly CellResult[];
  /** Per-value cost of compression and encryption, when measured. */
  readonly codec?: readonly CodecCost[];
  /** Memory per entry, when measured. */
  readonly heap?: readonly HeapCost[];
  /** The issue's targets, evaluated on this run. */
  readonly targets: readonly TargetResult[];
}

/** Median over rounds of `ours[r] / theirs[r]`. */
function roundRatio(ours: readonly number[], theirs: readonly number[]): number {
  const ratios: number[] = [];
  for (let r = 0; r < Math.min(ours.length, theirs.length); r++) {
    ratios.push((ours[r] as number) / (theirs[r] as number));
  }
  return median(ratios);
}

/**
 * Sets `baseline`, `ratio` and `cpuRatio` on every result of `cell`: the baseline is the subject of the same
 * backend marked `baseline`, and the ratio is the median of per-round ratios.
 */
export function computeRatios(cell: CellResult, subjects: readonly SubjectInfo[]): void {
  for (const result of cell.results) {
    const baselineId = subjects.find((s) => s.backend === result.backend && s.baseline)?.id;
    if (baselineId === undefined) continue;
    const base = cell.results.find((r) => r.subject === baselineId);
    if (base === undefined || base.status !== 'ok' || result.status !== 'ok') continue;
    result.baseline = baselineId;
    result.ratio = roundRatio(result.roundsOpsPerSec, base.roundsOpsPerSec);
    result.cpuRatio = roundRatio(result.roundsCpuOpsPerSec, base.roundsCpuOpsPerSec);
  }
}

/** The result of `subject` in the cell `scenario × payload × inflight × loop`, if it ran there. */
export function findResult(
  results: Pick<BenchResults, 'cells'>,
  subject: string,
  scenario: ScenarioId,
  grid: { readonly payload: PayloadSize; readonly inflight: number; readonly loop?: LoopShape },
): SubjectResult | undefined {
  const loop = grid.loop ?? LoopShape.Reply;
  const cell = results.cells.find(
    (c) =>
      c.scenario === scenario &&
      c.payload === grid.payload &&
      c.inflight === grid.inflight &&
      loopOf(c) === loop,
  );
  const found = cell?.results.find((r) => r.subject === subject);
  return found?.status === 'ok' ? found : undefined;
}
