import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, finishMachine, machineLine, type Machine } from '../machine.js';
import { renderMarkdown, renderText } from '../report.js';
import { Servers } from '../run.js';
import { Backend, type BenchContext } from '../types.js';
import { measureMissLatency, type MissOptions } from './miss-latency.js';
import { WorkerPool } from './pool.js';
import type { FromWorker, SetupRequest } from './protocol.js';
import { measureStampede, type StampedeShape } from './rounds.js';
import { NOT_ON, STAMPEDE_SUBJECTS, type StampedeSubject } from './subjects.js';
import { formatMs } from '../summary.js';
import { missTable, stampedeTable, type MissRow, type StampedeRow } from './summary.js';

/** Options of {@link runStampede}. */
export interface StampedeOptions extends StampedeShape {
  /** Worker processes, each firing `calls` concurrent calls per round. */
  readonly processes: number;
  /** memcached, Redis or both. */
  readonly backends: readonly Backend[];
  /** Only subjects whose id contains one of these words. */
  readonly filter?: readonly string[];
  /** The miss-latency scenario, or `false` to skip it. */
  readonly miss: MissOptions | false;
  /** Where to write `stampede-<timestamp>.json` and `stampede-latest.json`. */
  readonly outDir?: string;
  /** Progress output. */
  readonly log?: (text: string) => void;
}

/** `pnpm bench --stampede`: the shape (4 processes × 64 calls, 50 ms), under 2 minutes. */
export const STAMPEDE_DEFAULTS: Omit<StampedeOptions, 'outDir' | 'log'> = {
  processes: 4,
  calls: 64,
  factoryMs: 50,
  rounds: 40,
  backends: [Backend.Memcached, Backend.Redis],
  miss: { rounds: 10, roundMs: 250, warmupMs: 200 },
};

/** What `--stampede` measured, as written to `stampede-latest.json`. */
export interface StampedeResults {
  readonly schema: 1;
  readonly machine: Machine;
  readonly durationSec: number;
  /** The shape of the run. */
  readonly config: Omit<StampedeOptions, 'outDir' | 'log' | 'filter'>;
  /** What each subject is. */
  readonly subjects: ReadonlyArray<{ readonly id: string; readonly description: string }>;
  /** Peers missing on a backend, and why. */
  readonly notes: readonly string[];
  /** One row per subject. */
  readonly stampede: readonly StampedeRow[];
  /** One row per subject of the miss-latency scenario. */
  readonly miss?: readonly MissRow[];
}

/** Where the built worker is: next to the built coordinator, in dist/. */
const WORKER_PATH = fileURLToPath(new URL('./stampede-worker.mjs', import.meta.url));

async function startWorkers(
  servers: BenchContext,
  subjects: readonly StampedeSubject[],
  options: StampedeOptions,
): Promise<{ pool: WorkerPool; unavailable: Map<string, string> }> {
  const address = async (
    start: () => Promise<{ host: string; port: number }>,
  ): Promise<{ host: string; port: number } | undefined> => {
    try {
      const server = await start();
      return { host: server.host, port: server.port };
    } catch {
      return undefined; // the subjects on it report why when they connect
    }
  };
  const memcached = options.backends.includes(Backend.Memcached)
    ? await address(() => servers.memcached())
    : undefined;
  const redis = options.backends.includes(Backend.Redis)
    ? await address(() => servers.redis())
    : undefined;
  const pool = WorkerPool.start(WORKER_PATH, options.processes);
  const setup = (worker: number): Omit<SetupRequest, 'id'> => ({
    type: 'setup',
    worker,
    subjects: subjects.map((s) => s.id),
    ...(memcached === undefined ? {} : { memcached }),
    ...(redis === undefined ? {} : { redis }),
  });
  const replies: FromWorker[] = await Promise.all(
    Array.from({ length: pool.size }, (_, i) => pool.request(i, setup(i))),
  );
  const unavailable = new Map<string, string>();
  for (const reply of replies) {
    if (reply.type !== 'ready') continue;
    for (const [id, why] of Object.entries(reply.unavailable)) unavailable.set(id, why);
  }
  return { pool, unavailable };
}

/**
 * The stampede benchmark: starts memcached and Redis, forks the workers, runs the stampede
 * rounds, then the miss-latency scenario in this process, and writes the results.
 */
export async function runStampede(options: StampedeOptions): Promise<StampedeResults> {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const machine = describeMachine();
  const subjects = STAMPEDE_SUBJECTS.filter(
    (s) =>
      options.backends.includes(s.backend) &&
      (options.filter === undefined || options.filter.some((f) => s.id.includes(f))),
  );
  const servers = new Servers();
  let stampede: StampedeRow[];
  let miss: MissRow[] | undefined;
  try {
    const { pool, unavailable } = await startWorkers(servers, subjects, options);
    try {
      log(`${pool.size} processes × ${options.calls} calls, ${subjects.length} subjects`);
      stampede = await measureStampede(pool, subjects, unavailable, options, log);
    } finally {
      await pool.stop();
    }
    if (options.miss !== false) {
      log(`miss latency… (at ${Math.round((performance.now() - started) / 1000)} s)`);
      miss = await measureMissLatency(servers, options.backends, options.miss);
    }
  } finally {
    await servers.stop();
  }
  const { outDir: _outDir, log: _log, filter: _filter, ...config } = options;
  const results: StampedeResults = {
    schema: 1,
    machine: finishMachine(machine),
    durationSec: (performance.now() - started) / 1000,
    config,
    subjects: subjects.map((s) => ({ id: s.id, description: s.description })),
    notes: options.backends.flatMap((b) => NOT_ON[b] ?? []),
    stampede,
    ...(miss === undefined ? {} : { miss }),
  };
  if (options.outDir !== undefined) await writeStampedeResults(results, options.outDir);
  return results;
}

/** Writes `stampede-<timestamp>.json` and replaces `stampede-latest.json` atomically. */
export async function writeStampedeResults(
  results: StampedeResults,
  outDir: string,
): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const text = `${JSON.stringify(results, null, 2)}\n`;
  const stamp = results.machine.date.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z');
  await writeFile(join(outDir, `stampede-${stamp}.json`), text);
  const temporary = join(outDir, 'stampede-latest.tmp.json');
  await writeFile(temporary, text);
  await rename(temporary, join(outDir, 'stampede-latest.json'));
}

/** One line: when, the shape, how long, the machine. */
export function stampedeRunLine(results: StampedeResults): string {
  const c = results.config;
  return `${results.machine.date} · ${c.processes} processes × ${c.calls} concurrent getOrSet on one missing key, factory ${c.factoryMs} ms, ${c.rounds} rounds (${Math.round(results.durationSec)} s) · ${machineLine(results.machine)}`;
}

/** The stampede and miss tables, in markdown (README) or text (terminal). */
export function renderStampede(results: StampedeResults, format: 'markdown' | 'text'): string {
  const render = format === 'markdown' ? renderMarkdown : renderText;
  const out = [render(stampedeTable(results.stampede)), ''];
  const spreads = results.stampede.map((r) => r.startSpreadMs).filter(Number.isFinite);
  if (spreads.length > 0) {
    out.push(
      `The processes fired their calls within ${formatMs(Math.max(...spreads))} ms of each other (median over rounds, worst subject).`,
      '',
    );
  }
  for (const note of results.notes) out.push(`${note}.`, '');
  if (results.miss !== undefined) {
    const m = results.config.miss;
    out.push(
      m === false
        ? 'Miss latency:'
        : `Miss latency: sequential getOrSet on new keys, trivial factory, ${m.rounds} rounds × ${m.roundMs} ms per subject, medians of round means:`,
      '',
      render(missTable(results.miss)),
      '',
    );
  }
  return out.join('\n');
}
