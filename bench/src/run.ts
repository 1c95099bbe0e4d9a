import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasBinary, startMemcached, startRedis, type ServerHandle } from '@stowage/testkit';
import { measureCodecCost, type CodecCostOptions } from './codec-cost.js';
import { measureHeap } from './heap.js';
import { describeMachine, finishMachine } from './machine.js';
import { prepare, runRound, verify, withoutBroken } from './measure.js';
import { makeJsonPayload, PAYLOAD_BYTES } from './payloads.js';
import { cellTable, cellTitle, renderText } from './report.js';
import {
  computeRatios,
  gridCells,
  type BenchResults,
  type CellResult,
  type GridCell,
  type RunConfig,
  type SubjectInfo,
  type SubjectResult,
} from './results.js';
import { makeKeyData, runsIn, SCENARIOS, type KeyData } from './scenarios.js';
import { LatencyReservoir, median, percentile, spreadPercent } from './stats.js';
import { SUBJECTS } from './subjects/index.js';
import { evaluateTargets } from './targets.js';
import {
  Backend,
  LoopShape,
  PayloadSize,
  ScenarioId,
  type BenchContext,
  type Subject,
  type SubjectHandle,
  type SubjectOps,
} from './types.js';

/** Options of {@link runBench}. */
export interface BenchOptions extends RunConfig {
  /** `full`, `quick` or `custom`; recorded in the results. */
  readonly mode: string;
  /** Subjects to run; every registered subject of `backends` by default. */
  readonly subjects?: readonly Subject[];
  /** Codec cost settings, or `false` to skip it. */
  readonly codec: CodecCostOptions | false;
  /** Heap settings, or `false` to skip it. */
  readonly heap: { readonly entries: number; readonly repeats: number } | false;
  /** Where to write `<timestamp>.json` and `latest.json`; nothing is written when absent. */
  readonly outDir?: string;
  /** Progress output; silent when absent. */
  readonly log?: (text: string) => void;
}

const ALL_INFLIGHT = [1, 64] as const;

/** `pnpm bench`: about ten minutes on two cores. */
export const FULL: Omit<BenchOptions, 'outDir' | 'log'> = {
  mode: 'full',
  rounds: 5,
  roundMs: 300,
  warmupMs: 150,
  inflight: ALL_INFLIGHT,
  loops: Object.values(LoopShape),
  payloads: Object.values(PayloadSize),
  scenarios: Object.values(ScenarioId),
  backends: Object.values(Backend),
  codec: { rounds: 5, durationMs: 100 },
  heap: { entries: 100_000, repeats: 3 },
};

/**
 * `pnpm bench --quick`: every subject and scenario with short rounds, under two minutes. It skips
 * 10 KB at 64 in flight: there a batch of 50 takes peers over a second, so each round would wait
 * that long for its last operations whatever its length.
 */
export const QUICK: Omit<BenchOptions, 'outDir' | 'log'> = {
  ...FULL,
  mode: 'quick',
  rounds: 3,
  roundMs: 40,
  warmupMs: 20,
  skip: [{ payload: PayloadSize.Large, inflight: 64 }],
  codec: { rounds: 3, durationMs: 20 },
  heap: { entries: 100_000, repeats: 1 },
};

// Reservoir size per subject and cell: enough for a stable p99, bounded memory.
const LATENCY_SAMPLES = 50_000;

/** Servers started on first use, stopped by PID when the run ends (the stampede run shares it). */
export class Servers implements BenchContext {
  readonly #started: ServerHandle[] = [];
  #memcached: Promise<ServerHandle> | undefined;
  #redis: Promise<ServerHandle> | undefined;

  memcached(): Promise<ServerHandle> {
    this.#memcached ??= this.#start('memcached', () => startMemcached());
    return this.#memcached;
  }

  redis(): Promise<ServerHandle> {
    this.#redis ??= this.#start('redis-server', () => startRedis());
    return this.#redis;
  }

  async #start(
    name: 'memcached' | 'redis-server',
    start: () => Promise<ServerHandle>,
  ): Promise<ServerHandle> {
    // Throws under CI=true when the binary is missing; elsewhere the subjects are reported unavailable.
    if (!hasBinary(name)) throw new Error(`${name} is not installed`);
    const server = await start();
    this.#started.push(server);
    return server;
  }

  async stop(): Promise<void> {
    await Promise.all(this.#started.map((server) => server.stop()));
  }
}

interface Live {
  readonly subject: Subject;
  readonly info: SubjectInfo;
  readonly slot: number;
  handle: SubjectHandle | undefined;
  /** The handle's operations per payload, less those that failed their check. */
  readonly ops: Map<PayloadSize, SubjectOps>;
  readonly data: Map<PayloadSize, KeyData>;
}

const message = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

type Gc = (options?: { type: 'major' | 'minor' }) => void;
const gc = (globalThis as { gc?: Gc }).gc;
// When GC is exposed (`node --expose-gc`): a young-generation collection before every subject's
// turn, so one subject's garbage is not collected on the next subject's time (a full collection
// costs tens of ms on a busy 2-core machine, a scavenge about one), and a full one per cell.
const scavenge = (): void => gc?.({ type: 'minor' });
const collectAll = (): void => gc?.({ type: 'major' });

/** Resolves in the check phase of the event loop: after every callback of the current turn. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `step` as the `turn` loop shape issues it: each call waits for `setImmediate` first, so it starts
 * in a macrotask of its own (its latency includes that wait, as a request's would).
 */
function perTurn(step: (i: number) => Promise<unknown>): (i: number) => Promise<unknown> {
  return (i) => nextTurn().then(() => step(i));
}

/** Measures one cell: warm-up, then rounds that visit the subjects in rotating order. */
async function measureCell(
  live: readonly Live[],
  scenario: (typeof SCENARIOS)[number],
  grid: GridCell,
  options: BenchOptions,
): Promise<CellResult> {
  const { payload, inflight, loop } = grid;
  const runners = live.flatMap((l) => {
    const ops = l.ops.get(payload);
    const data = l.data.get(payload);
    if (
      ops === undefined ||
      data === undefined ||
      l.info.status !== 'ok' ||
      !runsIn(l.subject, ops, scenario)
    )
      return [];
    return [
      {
        live: l,
        step:
          loop === LoopShape.Turn ? perTurn(scenario.bind(ops, data)) : scenario.bind(ops, data),
        // Remote round trips take tens of µs, so timing each costs nothing; in-process
        // operations take ~1 µs, so only every 16th is timed.
        sampleEvery: l.subject.backend === Backend.Memory ? 16 : 1,
        rounds: [] as number[],
        cpuRounds: [] as number[],
        latencies: new LatencyReservoir(LATENCY_SAMPLES),
        error: undefined as string | undefined,
        data,
        factoryCallsBefore: data.factoryCalls(),
      },
    ];
  });
  collectAll();
  for (const runner of runners) {
    scavenge();
    try {
      await runRound(runner.step, inflight, options.warmupMs, runner.sampleEvery, undefined);
    } catch (error) {
      runner.error = message(error);
    }
  }
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < runners.length; k++) {
      const runner = runners[(k + round) % runners.length];
      if (runner === undefined || runner.error !== undefined) continue;
      scavenge();
      try {
        const result = await runRound(
          runner.step,
          inflight,
          options.roundMs,
          runner.sampleEvery,
          runner.latencies,
        );
        runner.rounds.push(result.opsPerSec);
        runner.cpuRounds.push(result.cpuOpsPerSec);
      } catch (error) {
        runner.error = message(error);
      }
    }
  }
  for (const runner of runners) {
    const calls = runner.data.factoryCalls() - runner.factoryCallsBefore;
    // A getOrSet "hit" that ran the factory measured misses: fail it rather than report it.
    if (calls > 0)
      runner.error ??= `the getOrSet factory ran ${calls} times on keys that were written`;
  }
  const results: SubjectResult[] = runners.map((runner) => {
    const { subject } = runner.live;
    const base = { subject: subject.id, backend: subject.backend, kind: subject.kind };
    if (runner.error !== undefined || runner.rounds.length === 0) {
      return {
        ...base,
        status: 'failed',
        error: runner.error ?? 'no round completed',
        roundsOpsPerSec: [],
        opsPerSec: Number.NaN,
        roundsCpuOpsPerSec: [],
        cpuOpsPerSec: Number.NaN,
        spreadPct: Number.NaN,
        p50Us: Number.NaN,
        p99Us: Number.NaN,
        latencySamples: 0,
      };
    }
    const sorted = runner.latencies.sorted();
    return {
      ...base,
      status: 'ok',
      roundsOpsPerSec: runner.rounds,
      opsPerSec: median(runner.rounds),
      roundsCpuOpsPerSec: runner.cpuRounds,
      cpuOpsPerSec: median(runner.cpuRounds),
      spreadPct: spreadPercent(runner.rounds),
      p50Us: percentile(sorted, 50) * 1000,
      p99Us: percentile(sorted, 99) * 1000,
      latencySamples: sorted.length,
    };
  });
  return { scenario: scenario.id, payload, inflight, loop, results };
}

/**
 * Runs the benchmark: sets every subject up, prepares and verifies its keys, measures every cell
 * (scenario × payload × in-flight) with the subjects interleaved, computes ratios to each
 * backend's raw client, measures codec and heap costs, evaluates the targets, and writes
 * `<timestamp>.json` and `latest.json` to `outDir`.
 */
export async function runBench(options: BenchOptions): Promise<BenchResults> {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const machine = describeMachine();
  const servers = new Servers();
  const chosen = (options.subjects ?? SUBJECTS).filter((s) => options.backends.includes(s.backend));
  const live: Live[] = chosen.map((subject, slot) => ({
    subject,
    slot,
    handle: undefined,
    ops: new Map(),
    data: new Map(),
    info: {
      id: subject.id,
      name: subject.name,
      backend: subject.backend,
      kind: subject.kind,
      baseline: subject.baseline === true,
      description: subject.description,
      status: 'ok',
    },
  }));
  const cells: CellResult[] = [];
  try {
    for (const l of live) {
      try {
        l.handle = await l.subject.setup(servers);
      } catch (error) {
        l.info.status = 'unavailable';
        l.info.error = `setup failed: ${message(error)}`;
        log(`! ${l.subject.id}: ${l.info.error}`);
      }
    }
    const scenarios = SCENARIOS.filter((s) => options.scenarios.includes(s.id));
    for (const payload of options.payloads) {
      const value = makeJsonPayload(PAYLOAD_BYTES[payload]);
      for (const l of live) {
        if (l.handle === undefined || l.info.status !== 'ok') continue;
        const data = makeKeyData(l.slot, payload, value);
        try {
          await prepare(l.handle.ops, data);
          const verification = await verify(l.handle.ops, data);
          if (verification.copies !== undefined) l.info.copies = verification.copies;
          for (const { op, reason } of verification.broken) {
            const note = `${op} left out (${payload} payload): ${reason}`;
            (l.info.notes ??= []).push(note);
            log(`! ${l.subject.id}: ${note}`);
          }
          l.ops.set(payload, withoutBroken(l.handle.ops, verification));
          l.data.set(payload, data);
        } catch (error) {
          l.info.status = 'unavailable';
          l.info.error = `check failed (${payload} payload): ${message(error)}`;
          log(`! ${l.subject.id}: ${l.info.error}`);
        }
      }
      for (const grid of gridCells(options).filter((c) => c.payload === payload)) {
        for (const scenario of scenarios) {
          const cell = await measureCell(live, scenario, grid, options);
          computeRatios(
            cell,
            live.map((l) => l.info),
          );
          cells.push(cell);
          log(
            `\n${cellTitle(cell)} (at ${Math.round((performance.now() - started) / 1000)} s)\n${renderText(
              cellTable(
                cell,
                live.map((l) => l.info),
              ),
            )}`,
          );
        }
      }
    }
  } finally {
    for (const l of live) {
      try {
        await l.handle?.teardown();
      } catch (error) {
        log(`! ${l.subject.id}: teardown failed: ${message(error)}`);
      }
    }
    await servers.stop();
  }

  let codec: BenchResults['codec'];
  if (options.codec !== false) {
    log(`\nmeasuring codec cost… (at ${Math.round((performance.now() - started) / 1000)} s)`);
    codec = measureCodecCost(options.codec);
  }
  let heap: BenchResults['heap'];
  if (options.heap !== false) {
    log(`measuring memory per entry… (at ${Math.round((performance.now() - started) / 1000)} s)`);
    heap = await measureHeap(options.heap.entries, options.heap.repeats);
  }
  const config: RunConfig = {
    rounds: options.rounds,
    roundMs: options.roundMs,
    warmupMs: options.warmupMs,
    inflight: options.inflight,
    ...(options.loops === undefined ? {} : { loops: options.loops }),
    payloads: options.payloads,
    scenarios: options.scenarios,
    backends: options.backends,
    ...(options.skip === undefined ? {} : { skip: options.skip }),
  };
  const subjects = live.map((l) => l.info);
  const results: BenchResults = {
    schema: 1,
    mode: options.mode,
    machine: finishMachine(machine),
    durationSec: (performance.now() - started) / 1000,
    config,
    subjects,
    cells,
    ...(codec === undefined ? {} : { codec }),
    ...(heap === undefined ? {} : { heap }),
    targets: evaluateTargets({ cells, subjects, config }),
  };
  if (options.outDir !== undefined) await writeResults(results, options.outDir);
  return results;
}

/** Writes `<timestamp>.json` and replaces `latest.json` atomically. Resolves the timestamped path. */
export async function writeResults(results: BenchResults, outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const text = `${JSON.stringify(results, null, 2)}\n`;
  const stamped = join(
    outDir,
    `${results.machine.date.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`,
  );
  await writeFile(stamped, text);
  const temporary = join(outDir, 'latest.tmp.json');
  await writeFile(temporary, text);
  await rename(temporary, join(outDir, 'latest.json'));
  return stamped;
}
