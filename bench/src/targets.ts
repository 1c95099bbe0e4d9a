import { PAYLOAD_LABELS } from './payloads.js';
import { formatUsDelta } from './report.js';
import { findResult, gridCells, type BenchResults, type GridCell } from './results.js';
import { Backend, Kind, LoopShape, ScenarioId } from './types.js';

/** How a target fared in a run. */
export const TargetStatus = {
  Met: 'met',
  NotMet: 'not met',
  /** The subjects it needs did not run (not built yet, or unavailable). */
  NotMeasured: 'not measured',
  /** A number to report, with no threshold. */
  Reported: 'reported',
} as const;
/** One of {@link TargetStatus}. */
export type TargetStatus = (typeof TargetStatus)[keyof typeof TargetStatus];

/** One row of the targets table. */
export interface TargetResult {
  /** Stable id. */
  readonly id: string;
  /** The target as the issue states it. */
  readonly target: string;
  /** What was measured, compactly. */
  readonly measured: string;
  /** Met or not. */
  readonly status: TargetStatus;
  /** Every comparison that missed, when there are more than `measured` lists. */
  readonly details?: readonly string[];
}

type Results = Pick<BenchResults, 'cells' | 'subjects' | 'config'>;

type Cell = GridCell;

function cellsOf(results: Results, inflight?: number): Cell[] {
  return gridCells(results.config).filter((c) => inflight === undefined || c.inflight === inflight);
}

/** A met / not met row, or "not measured" (saying what was missing) when nothing was compared. */
function verdict(
  id: string,
  target: string,
  parts: readonly string[],
  allMet: boolean,
  missing: string,
): TargetResult {
  if (parts.length === 0)
    return { id, target, measured: missing, status: TargetStatus.NotMeasured };
  return {
    id,
    target,
    measured: parts.join(', '),
    status: allMet ? TargetStatus.Met : TargetStatus.NotMet,
  };
}

// `100 B×64`; a cell of the `turn` loop shape says so (`100 B×64 turn`).
const where = (cell: Cell): string =>
  `${PAYLOAD_LABELS[cell.payload]}×${cell.inflight}${cell.loop === LoopShape.Turn ? ' turn' : ''}`;
const fixed = (value: number): string => value.toFixed(2);

/**
 * A ratio target: `subject`'s ratio to its raw baseline is at least `min` in `scenario` in every
 * cell (optionally only at one concurrency).
 */
function ratioRow(
  results: Results,
  id: string,
  target: string,
  subject: string,
  scenario: ScenarioId,
  min: number,
  inflight?: number,
): TargetResult {
  const parts: string[] = [];
  let allMet = true;
  for (const cell of cellsOf(results, inflight)) {
    const result = findResult(results, subject, scenario, cell);
    if (result?.ratio === undefined) continue;
    if (result.ratio < min) allMet = false;
    const cpu = result.cpuRatio === undefined ? '' : ` (CPU ${fixed(result.cpuRatio)})`;
    parts.push(`${where(cell)}: ${fixed(result.ratio)}${cpu}`);
  }
  return verdict(id, target, parts, allMet, `no \`${subject}\` result in this run`);
}

/** `subject` is faster than each of `peers` in `scenario`, in every cell both ran. */
function aheadRow(
  results: Results,
  id: string,
  target: string,
  subject: string,
  peers: readonly string[],
  scenarios: readonly ScenarioId[],
): TargetResult {
  let compared = 0;
  const losses: Array<{ readonly text: string; readonly ratio: number }> = [];
  for (const scenario of scenarios) {
    for (const cell of cellsOf(results)) {
      const ours = findResult(results, subject, scenario, cell);
      if (ours === undefined) continue;
      for (const peer of peers) {
        const theirs = findResult(results, peer, scenario, cell);
        if (theirs === undefined) continue;
        compared++;
        const ratio = ours.opsPerSec / theirs.opsPerSec;
        if (ratio <= 1) {
          const name = peer.split('/')[1] ?? peer;
          losses.push({ text: `${scenario} ${where(cell)} vs ${name} (${fixed(ratio)})`, ratio });
        }
      }
    }
  }
  if (compared === 0) {
    return {
      id,
      target,
      measured: `no \`${subject}\` and peer results to compare`,
      status: TargetStatus.NotMeasured,
    };
  }
  if (losses.length === 0) {
    return { id, target, measured: `ahead in ${compared}/${compared}`, status: TargetStatus.Met };
  }
  // The table shows the worst few; `details` keeps every loss for the JSON.
  losses.sort((a, b) => a.ratio - b.ratio);
  const worst = losses.slice(0, 3).map((loss) => loss.text);
  return {
    id,
    target,
    measured: `ahead in ${compared - losses.length}/${compared}; worst: ${worst.join('; ')}${losses.length > 3 ? '; …' : ''}`,
    status: TargetStatus.NotMet,
    details: losses.map((loss) => loss.text),
  };
}

function peersOf(results: Results, backend: Backend, copyingOnly: boolean): string[] {
  return results.subjects
    .filter(
      (s) =>
        s.backend === backend &&
        s.kind === Kind.Peer &&
        s.status === 'ok' &&
        (!copyingOnly || s.copies === true),
    )
    .map((s) => s.id);
}

/** The default `set` (integrity check on) against raw and against the same client skipping it. */
function integrityRow(results: Results): TargetResult {
  const parts: string[] = [];
  for (const backend of Object.values(Backend)) {
    for (const cell of cellsOf(results)) {
      const withCheck = findResult(results, `${backend}/stowage`, ScenarioId.Set, cell);
      const without = findResult(
        results,
        `${backend}/stowage-skip-integrity`,
        ScenarioId.Set,
        cell,
      );
      if (withCheck?.ratio === undefined) continue;
      const cost =
        without === undefined
          ? ''
          : `, ${fixed(withCheck.opsPerSec / without.opsPerSec)} of skip-check, ${formatUsDelta(withCheck.p50Us - without.p50Us)} µs p50`;
      parts.push(`${backend} ${where(cell)}: ${fixed(withCheck.ratio)} of raw${cost}`);
    }
  }
  return {
    id: 'default-set-integrity',
    target: 'the default `set` with its integrity check: report its ratio and what it costs',
    measured: parts.length === 0 ? 'no `*/stowage` set results in this run' : parts.join('; '),
    status: parts.length === 0 ? TargetStatus.NotMeasured : TargetStatus.Reported,
  };
}

/** A decorated method on a hit against a direct `client.get`, p50 at 1 in flight. */
function decoratorRow(results: Results): TargetResult {
  const id = 'decorator-overhead';
  const target = 'a decorated method on a hit adds ≤ 2 µs p50 over a direct `client.get` (memory)';
  const parts: string[] = [];
  let allMet = true;
  for (const payload of results.config.payloads) {
    const direct = findResult(results, 'memory/stowage', ScenarioId.GetHit, {
      payload,
      inflight: 1,
    });
    const decorated = findResult(results, 'memory/stowage-decorated', ScenarioId.GetHit, {
      payload,
      inflight: 1,
    });
    if (direct === undefined || decorated === undefined) continue;
    const added = decorated.p50Us - direct.p50Us;
    if (added > 2) allMet = false;
    parts.push(`${PAYLOAD_LABELS[payload]}: ${formatUsDelta(added)} µs`);
  }
  return verdict(
    id,
    target,
    parts,
    allMet,
    'no `memory/stowage-decorated` result at 1 in flight in this run',
  );
}

/** Evaluates every target of the issue on a run; targets whose subjects did not run say so. */
export function evaluateTargets(results: Results): TargetResult[] {
  const rows: TargetResult[] = [
    ratioRow(
      results,
      'memory-get-hit',
      'memory get hit ≥ 0.85 of raw lru-cache (JSON)',
      'memory/stowage',
      ScenarioId.GetHit,
      0.85,
    ),
    ratioRow(
      results,
      'memory-set',
      'memory set ≥ 0.85 of raw lru-cache (JSON)',
      'memory/stowage',
      ScenarioId.Set,
      0.85,
    ),
    ratioRow(
      results,
      'memory-get-hit-frozen',
      'memory get hit with `frozenValues` ≥ 0.85 of raw lru-cache (JSON)',
      'memory/stowage-frozen',
      ScenarioId.GetHit,
      0.85,
    ),
    aheadRow(
      results,
      'memory-vs-copying-peers',
      "memory get hit and set faster than every peer's memory path that also copies values",
      'memory/stowage',
      peersOf(results, Backend.Memory, true),
      [ScenarioId.GetHit, ScenarioId.Set],
    ),
    ratioRow(
      results,
      'memcached-get-hit',
      'memcached get hit ≥ 0.9 of raw memjs at 64 in flight',
      'memcached/stowage',
      ScenarioId.GetHit,
      0.9,
      64,
    ),
    ratioRow(
      results,
      'memcached-set',
      'memcached set (integrity check skipped) ≥ 0.9 of raw memjs at 64 in flight',
      'memcached/stowage-skip-integrity',
      ScenarioId.Set,
      0.9,
      64,
    ),
    ratioRow(
      results,
      'memcached-get-many',
      'memcached getMany of 50 ≥ 3× raw memjs issuing 50 gets',
      'memcached/stowage',
      ScenarioId.GetMany,
      3,
    ),
    ratioRow(
      results,
      'redis-get-hit',
      'redis get hit ≥ 0.9 of raw ioredis',
      'redis/stowage',
      ScenarioId.GetHit,
      0.9,
    ),
    ratioRow(
      results,
      'redis-set',
      'redis set (integrity check skipped) ≥ 0.9 of raw ioredis',
      'redis/stowage-skip-integrity',
      ScenarioId.Set,
      0.9,
    ),
    ratioRow(
      results,
      'redis-get-many',
      'redis getMany of 50 ≥ 0.9 of raw ioredis MGET',
      'redis/stowage',
      ScenarioId.GetMany,
      0.9,
    ),
    integrityRow(results),
    decoratorRow(results),
  ];
  for (const backend of Object.values(Backend)) {
    rows.push(
      aheadRow(
        results,
        `${backend}-ahead-of-peers`,
        `${backend}: ahead of every peer on every scenario they share`,
        `${backend}/stowage`,
        peersOf(results, backend, false),
        results.config.scenarios,
      ),
    );
  }
  return rows;
}
