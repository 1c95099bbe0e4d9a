// The soak orchestrator: starts a memcached ring of three and a Redis server on loopback, puts a
// fault proxy in front of each, forks the workers, injects faults until the time is up, then
// reads every worker's history and classifies every read (see history.ts).
import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FaultProxy,
  startMemcached,
  startRedis,
  type FaultMode,
  type ServerHandle,
} from '@stowage/testkit';
import { classify, now, type Classification, type OpRecord } from './history.js';
import type { WorkerConfig, WorkerReport } from './worker.js';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** How long the workers run, in milliseconds. */
  readonly durationMs: number;
  /** Worker processes. @default 3 */
  readonly workers?: number;
  /** Concurrent operation loops per worker. @default 4 */
  readonly concurrency?: number;
  /** Keys per backend and kind. @default 12 */
  readonly keys?: number;
  /** Inject faults. @default true */
  readonly faults?: boolean;
  /** The clients' `timeoutMs`. @default 250 */
  readonly timeoutMs?: number;
  /** The clients' `quarantineMs`; longer than any fault delays a write. @default 1500 */
  readonly quarantineMs?: number;
  /** Progress lines. @default nothing */
  readonly log?: (line: string) => void;
}

/** One injected fault. */
export interface FaultEvent {
  readonly at: number;
  readonly target: string;
  readonly kind: string;
  readonly detail: string;
}

/** What {@link runSoak} found. */
export interface SoakReport {
  readonly durationMs: number;
  readonly workers: readonly WorkerReport[];
  readonly classification: Classification;
  readonly faults: readonly FaultEvent[];
  /** Faults by kind. */
  readonly faultCounts: Record<string, number>;
  /** Per worker: median heap of the last third minus that of the first third, in MiB. */
  readonly heapGrowthMiB: readonly number[];
  /** Per worker: active handles at the start and at the end. */
  readonly handles: ReadonlyArray<readonly [number, number]>;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The built worker: `dist/worker.mjs`, whether this module runs from src/ (tests) or dist/. */
const WORKER = join(here, '..', 'dist', 'worker.mjs');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const between = (low: number, high: number): number =>
  Math.floor(low + Math.random() * (high - low + 1));

interface Target {
  readonly name: string;
  readonly server: ServerHandle;
  readonly proxy: FaultProxy;
  /** Redis checksums its payloads: a byte changed in place is detected there, not on memcached. */
  readonly checksummed: boolean;
}

/** Injects one fault, waits for it to end, and returns what it was. */
async function injectFault(target: Target): Promise<Omit<FaultEvent, 'at' | 'target'>> {
  const roll = Math.random();
  const hold = async (mode: FaultMode, ms: number, scope?: 'existing'): Promise<void> => {
    target.proxy.setMode(mode, scope);
    await sleep(ms);
    target.proxy.setMode({ kind: 'pass' });
  };
  if (roll < 0.25) {
    const ms = between(50, 400);
    await hold({ kind: 'latency', ms }, between(300, 1000));
    return { kind: 'latency', detail: `${ms} ms each way` };
  }
  if (roll < 0.35) {
    const bytes = between(0, 400);
    const reset = Math.random() < 0.5;
    await hold({ kind: 'cut', bytes, reset }, 200);
    return { kind: 'cut', detail: `after ${bytes} bytes${reset ? ', RST' : ', FIN'}` };
  }
  if (roll < 0.65) {
    // Bytes dropped, or one printable byte inserted (a damaged value then still decodes as a
    // string, so only the transport's checks stand between it and a caller), or — where the
    // payload is checksummed — one byte changed in place.
    const offset = between(0, 1500);
    const inPlace = target.checksummed && Math.random() < 0.3;
    const drop = inPlace ? 1 : Math.random() < 0.5 ? between(1, 8) : 0;
    const insert = inPlace || drop === 0 ? Buffer.from([between(0x21, 0x7e)]) : undefined;
    await hold({ kind: 'tamper', offset, drop, ...(insert ? { insert } : {}) }, 500, 'existing');
    return {
      kind: 'tamper',
      detail: `at ${offset}: drop ${drop}${insert ? `, insert ${insert.length}` : ''}`,
    };
  }
  if (roll < 0.72) {
    const ms = between(100, 400);
    await hold({ kind: 'blackhole' }, ms);
    return { kind: 'blackhole', detail: `${ms} ms` };
  }
  if (roll < 0.92) {
    const ms = between(100, 700);
    target.server.pause();
    await sleep(ms);
    target.server.resume();
    return { kind: 'pause', detail: `SIGSTOP for ${ms} ms` };
  }
  await target.server.restart();
  return { kind: 'restart', detail: 'SIGKILL and start again (the data is gone)' };
}

/** Runs the soak and classifies its history. Starts and stops its own servers. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const workers = options.workers ?? 3;
  const timeoutMs = options.timeoutMs ?? 250;
  const quarantineMs = options.quarantineMs ?? 1500;
  const log = options.log ?? ((): void => undefined);
  const directory = await mkdtemp(join(tmpdir(), 'stowage-soak-'));
  const servers: ServerHandle[] = [];
  const proxies: FaultProxy[] = [];
  try {
    const memcached = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
    servers.push(...memcached);
    const redis = await startRedis();
    servers.push(redis);
    const targets: Target[] = [];
    for (const [index, server] of [...memcached, redis].entries()) {
      const proxy = await FaultProxy.start(server.port);
      proxies.push(proxy);
      targets.push({
        name: server === redis ? 'redis' : `memcached-${index}`,
        server,
        proxy,
        checksummed: server === redis,
      });
    }
    log(`servers up: ${targets.map((t) => `${t.name} ${t.server.address}`).join(', ')}`);

    const started = now();
    const reports: WorkerReport[] = [];
    const exits = Array.from({ length: workers }, (_, id) => {
      const config: WorkerConfig = {
        id,
        memcached: targets.slice(0, 3).map((t) => t.proxy.address),
        redis: (targets[3] as Target).proxy.address,
        historyFile: join(directory, `history-${id}.jsonl`),
        durationMs: options.durationMs,
        concurrency: options.concurrency ?? 4,
        keys: options.keys ?? 12,
        timeoutMs,
        quarantineMs,
      };
      const child = fork(WORKER, [JSON.stringify(config)], {
        execArgv: ['--expose-gc'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.on('message', (message) => reports.push(message as WorkerReport));
      return new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    });

    const faults: FaultEvent[] = [];
    if (options.faults !== false) {
      // One fault at a time, never longer than the quarantine window: the write model's bounds.
      while (now() - started < options.durationMs - 500) {
        const target = targets[between(0, targets.length - 1)] as Target;
        const at = now();
        const fault = await injectFault(target);
        faults.push({ at, target: target.name, ...fault });
        await sleep(between(100, 600));
      }
    }
    const codes = await Promise.all(exits);
    if (codes.some((code) => code !== 0) || reports.length !== workers) {
      throw new Error(`a soak worker failed (exit codes ${codes.join(', ')})`);
    }
    log(`workers done; checking ${workers} histories`);

    const history: OpRecord[] = [];
    for (let id = 0; id < workers; id++) {
      const text = await readFile(join(directory, `history-${id}.jsonl`), 'utf8');
      for (const line of text.split('\n'))
        if (line !== '') history.push(JSON.parse(line) as OpRecord);
    }
    const classification = classify(history, {
      // The deadline, the window, its three retries, and slack for a loaded machine.
      unconfirmedVisibleMs: timeoutMs + 4 * quarantineMs + 500,
      slackMs: 2,
    });
    const faultCounts: Record<string, number> = {};
    for (const fault of faults) faultCounts[fault.kind] = (faultCounts[fault.kind] ?? 0) + 1;
    const sorted = [...reports].sort((a, b) => a.id - b.id);
    return {
      durationMs: options.durationMs,
      workers: sorted,
      classification,
      faults,
      faultCounts,
      heapGrowthMiB: sorted.map((report) => heapGrowth(report.heap)),
      handles: sorted.map(
        (report) =>
          [report.handles[0] ?? 0, report.handles[report.handles.length - 1] ?? 0] as const,
      ),
    };
  } finally {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await Promise.all(servers.map((server) => server.stop()));
    await rm(directory, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Median heap of the last third of the samples minus that of the first third, in MiB. */
function heapGrowth(samples: readonly number[]): number {
  const third = Math.max(1, Math.floor(samples.length / 3));
  const growth = median(samples.slice(-third)) - median(samples.slice(0, third));
  return Math.round((growth / 2 ** 20) * 100) / 100;
}

/** The report as text, for the CLI and the test log. */
export function formatReport(report: SoakReport): string {
  const c = report.classification;
  const lines = [
    `soak: ${report.durationMs / 1000} s, ${report.workers.length} worker processes, ${report.workers.reduce((n, w) => n + w.operations, 0)} operations`,
    `reads: ${c.reads} (hits ${c.hits}, misses ${c.misses}, failed ${c.failedReads}) — ok ${c.ok}, stale ${c.stale}, foreign ${c.foreign}, lost ${c.lost} (informational)`,
    `writes: ${c.writes} (confirmed ${c.confirmedWrites}), deletes: ${c.deletes}`,
    `faults: ${
      Object.entries(report.faultCounts)
        .map(([kind, count]) => `${kind} ${count}`)
        .join(', ') || 'none'
    }`,
    `heap growth (last third − first third, MiB): ${report.heapGrowthMiB.join(', ')}`,
    `active handles (start → end): ${report.handles.map(([a, b]) => `${a} → ${b}`).join(', ')}`,
    `unhandled rejections: ${report.workers.reduce((n, w) => n + w.unhandledRejections, 0)}, uncaught exceptions: ${report.workers.reduce((n, w) => n + w.uncaughtExceptions, 0)}`,
    `client warnings: ${
      Object.entries(
        report.workers.reduce<Record<string, number>>((all, w) => {
          for (const [kind, count] of Object.entries(w.warnings))
            all[kind] = (all[kind] ?? 0) + count;
          return all;
        }, {}),
      )
        .map(([kind, count]) => `${kind} ${count}`)
        .join(', ') || 'none'
    }`,
    'latency, ms (p50 / p99 / max, worst worker):',
  ];
  const sources = new Set(report.workers.flatMap((w) => Object.keys(w.latency)));
  for (const source of [...sources].sort()) {
    const each = report.workers.map((w) => w.latency[source]).filter((l) => l !== undefined);
    const worst = (pick: (l: (typeof each)[number]) => number): number =>
      Math.max(...each.map(pick));
    lines.push(
      `  ${source.padEnd(10)} ${worst((l) => l.p50)} / ${worst((l) => l.p99)} / ${worst((l) => l.max)}  (${each.reduce((n, l) => n + l.count, 0)} calls)`,
    );
  }
  if (c.examples.length > 0) {
    // What the write model cannot cover: a quarantine given up leaves a late write in place.
    for (const worker of report.workers) {
      for (const [at, key] of worker.quarantinesGivenUp) {
        lines.push(`  worker ${worker.id} gave up the quarantine of ${key} at ${at.toFixed(0)}`);
      }
    }
  }
  for (const example of c.examples) {
    lines.push(
      `  ${example.kind}: ${example.key} by worker ${example.process} (${example.source}) at ${example.at.toFixed(0)}: ${example.detail}`,
    );
  }
  return lines.join('\n');
}
