// The setup every suite shares: the servers of one kind, a fleet of workers over them, and the
// parent's own client and raw backend (the parent is one more process of the fleet).
import type { CacheBackend, CacheClient } from '@stowage/core';
import { afterAll, beforeAll, expect } from 'vitest';
import type { CallsReply, ClientSpec, StatsReply } from '../src/protocol.js';
import { startWorkers, until, Worker, type CallsCommand } from './fleet.js';
import { parentClient, PREFIX, startTarget, type Target, type TargetKind } from './targets.js';

/** Processes in the fleet, and concurrent callers in each. */
export const PROCESSES = 4;
export const CALLS = 64;

/** What a suite's tests use; valid once `beforeAll` ran. */
export interface Fleet {
  readonly target: Target;
  readonly workers: readonly Worker[];
  /** The parent's own client: another process, as far as the workers go. */
  readonly client: CacheClient;
  /** The parent's raw backend: shows what the server holds under a full key. */
  readonly raw: CacheBackend;
  /** Forks one more worker, stopped with the others (a test may kill it first). */
  spawn(name: string): Promise<Worker>;
}

/** Registers `beforeAll`/`afterAll` hooks that start and stop a fleet over `kind` servers. */
export function useFleet(kind: TargetKind): Fleet {
  let target: Target | undefined;
  let workers: Worker[] = [];
  let client: CacheClient | undefined;
  let raw: CacheBackend | undefined;
  const extra: Worker[] = [];
  beforeAll(async () => {
    target = await startTarget(kind);
    workers = await startWorkers(PROCESSES, target.spec, { prefix: PREFIX, label: `${kind}-` });
    client = parentClient(target);
    raw = target.backend();
  }, 60_000);
  afterAll(async () => {
    await Promise.all([...workers, ...extra].map((worker) => worker.stop()));
    await client?.close();
    await raw?.close();
    await target?.stop();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the fleet is not started (beforeAll failed?)');
    return value;
  };
  return {
    get target() {
      return ready(target);
    },
    get workers() {
      return workers;
    },
    get client() {
      return ready(client);
    },
    get raw() {
      return ready(raw);
    },
    async spawn(name) {
      const worker = await Worker.start(`${kind}-${name}`, ready(target).spec, PREFIX);
      extra.push(worker);
      return worker;
    },
  };
}

/** The stats of every worker's client `spec`. */
export function statsOf(workers: readonly Worker[], spec?: ClientSpec): Promise<StatsReply[]> {
  return Promise.all(workers.map((worker) => worker.stats(spec)));
}

/** The counters of {@link StatsReply}. */
type Counter = {
  [K in keyof StatsReply]: StatsReply[K] extends number ? K : never;
}[keyof StatsReply];

/** Sums one stats counter over workers, from `before` to `after`. */
export function delta(
  before: readonly StatsReply[],
  after: readonly StatsReply[],
  field: Counter,
): number {
  return after.reduce((sum, stats, i) => sum + stats[field] - (before[i]?.[field] ?? 0), 0);
}

/** What {@link stampede} saw: each worker's reply, and the workers' stats before and after. */
export interface Stampede {
  readonly replies: readonly CallsReply[];
  readonly before: readonly StatsReply[];
  readonly after: readonly StatsReply[];
}

/**
 * Every worker runs `command` at the same moment (`startAt`); its factory is gated and released
 * only once every process either runs it or waits for another's lease — so the processes
 * overlap on a loaded machine too, and "the factory ran once" cannot come from one process
 * simply finishing before the others looked. Give the command `factory: { ms, gate: true }`.
 */
export async function stampede(
  workers: readonly Worker[],
  command: (startAt: number) => CallsCommand,
): Promise<Stampede> {
  const before = await statsOf(workers);
  const startAt = Date.now() + 150;
  const pending = workers.map((worker) => worker.calls(command(startAt)));
  await until(
    'every process to run the factory or wait for the lease',
    async () => {
      const running = workers.filter((worker, i) => worker.started(pending[i]!.id).length > 0);
      const waiting = delta(before, await statsOf(workers), 'leaseWaits');
      return running.length + waiting >= workers.length;
    },
    10_000,
  );
  pending.forEach((call, i) => workers[i]!.release(call.id));
  const replies = await Promise.all(pending.map((call) => call.reply));
  return { replies, before, after: await statsOf(workers) };
}

/**
 * The end-of-suite check: in every worker (for each client `specs` names) and in the parent, no
 * decode error (a lease marker read as a value would be one), no unhandled rejection and no
 * uncaught exception; and the fleet did take leases, so the zeros mean something.
 */
export async function expectHealthyFleet(
  fleet: Fleet,
  specs: ReadonlyArray<ClientSpec | undefined>,
): Promise<void> {
  for (const spec of specs) {
    for (const stats of await statsOf(fleet.workers, spec)) {
      expect(stats.decodeErrors).toBe(0);
      expect(stats.unhandledRejections).toBe(0);
      expect(stats.uncaughtExceptions).toBe(0);
    }
  }
  expect(fleet.client.stats().decodeErrors).toBe(0);
  const all = await statsOf(fleet.workers);
  expect(all.reduce((sum, stats) => sum + stats.leasesTaken, 0)).toBeGreaterThan(0);
}

/** No worker emitted a process warning (a listener leak, a deprecation) since it started. */
export async function expectNoWarnings(fleet: Fleet): Promise<void> {
  for (const [i, stats] of (await statsOf(fleet.workers)).entries())
    expect(stats.warnings, `warnings of worker ${fleet.workers[i]!.name}`).toEqual([]);
}
