// `pnpm bench --resilience`: the stale-hit and hit-cost scenarios of issue 13 on memory,
// memcached and Redis, in this process, one backend after the other; results to
// results/resilience-latest.json.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeMachine, finishMachine, machineLine, type Machine } from '../machine.js';
import { renderMarkdown, renderText } from '../report.js';
import { Servers } from '../run.js';
import { Backend } from '../types.js';
import { measureHitCost, type HitCostOptions } from './hit-cost.js';
import { measureStaleHits, type StaleOptions } from './stale-hit.js';
import { hitCostTable, staleTable, type HitCostRow, type StaleRow } from './summary.js';

/** Options of {@link runResilience}. */
export interface ResilienceOptions {
  /** Where to run; memory needs no server. */
  readonly backends: readonly Backend[];
  /** The stale-hit scenario, or `false` to skip it. */
  readonly stale: StaleOptions | false;
  /** The hit-cost scenario, or `false` to skip it. */
  readonly hitCost: HitCostOptions | false;
  /** Where to write `resilience-<timestamp>.json` and `resilience-latest.json`. */
  readonly outDir?: string;
  /** Progress output. */
  readonly log?: (text: string) => void;
}

/** The shape: a 200 ms factory, 100 stale hits per variant and backend; about 90 s. */
export const RESILIENCE_DEFAULTS: Omit<ResilienceOptions, 'outDir' | 'log'> = {
  backends: [Backend.Memory, Backend.Memcached, Backend.Redis],
  stale: { rounds: 4, calls: 25, factoryMs: 200, softTimeoutMs: 20, ttlMs: 50, graceS: 60 },
  hitCost: { rounds: 10, roundMs: 250, warmupMs: 200, keys: 100 },
};

/** What `--resilience` measured, as written to `resilience-latest.json`. */
export interface ResilienceResults {
  readonly schema: 1;
  readonly machine: Machine;
  readonly durationSec: number;
  readonly config: Omit<ResilienceOptions, 'outDir' | 'log'>;
  readonly stale?: readonly StaleRow[];
  readonly hitCost?: readonly HitCostRow[];
}

/** Runs both scenarios (servers started on first use, stopped by PID) and writes the results. */
export async function runResilience(options: ResilienceOptions): Promise<ResilienceResults> {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const machine = describeMachine();
  const servers = new Servers();
  let stale: StaleRow[] | undefined;
  let hitCost: HitCostRow[] | undefined;
  try {
    if (options.stale !== false) {
      stale = await measureStaleHits(servers, options.backends, options.stale, log);
    }
    if (options.hitCost !== false) {
      hitCost = await measureHitCost(servers, options.backends, options.hitCost, log);
    }
  } finally {
    await servers.stop();
  }
  const { outDir: _outDir, log: _log, ...config } = options;
  const results: ResilienceResults = {
    schema: 1,
    machine: finishMachine(machine),
    durationSec: (performance.now() - started) / 1000,
    config,
    ...(stale === undefined ? {} : { stale }),
    ...(hitCost === undefined ? {} : { hitCost }),
  };
  if (options.outDir !== undefined) await writeResilienceResults(results, options.outDir);
  return results;
}

/** Writes `resilience-<timestamp>.json` and replaces `resilience-latest.json` atomically. */
export async function writeResilienceResults(
  results: ResilienceResults,
  outDir: string,
): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const text = `${JSON.stringify(results, null, 2)}\n`;
  const stamp = results.machine.date.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z');
  await writeFile(join(outDir, `resilience-${stamp}.json`), text);
  const temporary = join(outDir, 'resilience-latest.tmp.json');
  await writeFile(temporary, text);
  await rename(temporary, join(outDir, 'resilience-latest.json'));
}

/** One line: when, the shape, how long, the machine. */
export function resilienceRunLine(results: ResilienceResults): string {
  const { stale } = results.config;
  const shape =
    stale === false
      ? 'grace header on a hit'
      : `factory ${stale.factoryMs} ms, ${stale.rounds * stale.calls} stale hits per variant and backend`;
  return `${results.machine.date} · ${shape} (${Math.round(results.durationSec)} s) · ${machineLine(results.machine)}`;
}

/** Both tables, in markdown (README) or text (terminal). */
export function renderResilience(results: ResilienceResults, format: 'markdown' | 'text'): string {
  const render = format === 'markdown' ? renderMarkdown : renderText;
  const out: string[] = [];
  const { stale, hitCost } = results.config;
  if (results.stale !== undefined && stale !== false) {
    out.push(
      `Stale hits: sequential getOrSet, each on its own key ${stale.ttlMs} ms past its TTL (grace ${stale.graceS} s), factory ${stale.factoryMs} ms; ${stale.rounds} rounds × ${stale.calls} calls per variant, interleaved:`,
      '',
      render(staleTable(results.stale)),
      '',
    );
  }
  if (results.hitCost !== undefined && hitCost !== false) {
    out.push(
      `Grace header on a fresh hit: sequential getOrSet hits of 100 B JSON, ${hitCost.rounds} rounds × ${hitCost.roundMs} ms per side, interleaved; medians of round means and of per-round ratios:`,
      '',
      render(hitCostTable(results.hitCost)),
      '',
    );
  }
  return out.join('\n');
}
