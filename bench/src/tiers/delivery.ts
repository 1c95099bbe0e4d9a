// The bus delivery bound: process A writes a key that process B holds in its L1; B reads the key
// back to back; the bound is the time from A starting the `set` to B's first read that returns
// the new value (B's copy dropped by the bus message, the read that follows gone to Redis).
import { fork, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from '../stats.js';
import {
  DeliverySubject,
  deliveryValue,
  epochMs,
  type FromWorker,
  type ToWorker,
} from './delivery-protocol.js';
import { bentoTierOps, stowageTierOps, type TierContext, type TierOps } from './subjects.js';

/** What one subject's delivery samples came to. */
export interface DeliveryRow {
  readonly subject: DeliverySubject;
  /** Which bus carried Stowage's messages (package or stand-in), or `bentocache`. */
  readonly bus: string;
  readonly samples: number;
  /** A's `set`, start to resolve. */
  readonly setP50Ms: number;
  /** A's `set` start to B seeing the value. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Median reads B made per sample (the first saw the old value). */
  readonly readsP50: number;
}

/** Options of {@link measureDelivery}. */
export interface DeliveryOptions {
  readonly samples: number;
  /** The built worker (`dist/tiers/worker.mjs`). */
  readonly workerPath: string;
  readonly log: (text: string) => void;
}

/** A forked worker and a way to wait for its next message of a type. */
class Worker {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<string, (message: FromWorker) => void>();
  #failed: Error | undefined;

  constructor(path: string) {
    this.#child = fork(path, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (message: FromWorker) => {
      if (message.type === 'error') this.#fail(new Error(`delivery worker: ${message.message}`));
      const waiter = this.#waiting.get(message.type);
      this.#waiting.delete(message.type);
      waiter?.(message);
    });
    this.#child.on('exit', () => this.#fail(new Error('delivery worker exited')));
  }

  #fail(error: Error): void {
    this.#failed ??= error;
    for (const waiter of this.#waiting.values()) waiter({ type: 'error', message: error.message });
    this.#waiting.clear();
  }

  send(message: ToWorker): void {
    this.#child.send(message);
  }

  /** The next message of `type`; rejects when the worker fails or 10 s pass. */
  async next<T extends FromWorker['type']>(type: T): Promise<Extract<FromWorker, { type: T }>> {
    if (this.#failed !== undefined) throw this.#failed;
    const message = await new Promise<FromWorker>((resolve) => {
      const timer = setTimeout(
        () => resolve({ type: 'error', message: `no '${type}' within 10 s` }),
        10_000,
      );
      this.#waiting.set(type, (received) => {
        clearTimeout(timer);
        resolve(received);
      });
    });
    if (message.type === 'error') throw new Error(message.message);
    return message as Extract<FromWorker, { type: T }>;
  }

  /** Asks it to close, then makes sure it is gone (by its PID). */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.connected) {
      const exited = new Promise((resolve) => this.#child.once('exit', resolve));
      this.send({ type: 'close' });
      await Promise.race([exited, sleep(3000)]);
    }
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill();
  }
}

async function sample(
  ops: TierOps,
  worker: Worker,
  options: { readonly key: string; readonly n: number },
): Promise<{ setMs: number; seenMs: number; reads: number }> {
  const seen = worker.next('seen');
  const watching = worker.next('watching');
  worker.send({ type: 'watch', n: options.n });
  await watching;
  const started = epochMs();
  await ops.set(options.key, deliveryValue(options.n));
  const setMs = epochMs() - started;
  const answer = await seen;
  return { setMs, seenMs: answer.at - started, reads: answer.reads };
}

async function measureOne(
  ctx: TierContext,
  subject: DeliverySubject,
  options: DeliveryOptions,
): Promise<DeliveryRow> {
  const key = `tiers:delivery:${subject}`;
  const ops =
    subject === DeliverySubject.Stowage
      ? stowageTierOps(ctx, { backend: 'redis', bus: true, skipIntegrityCheck: false }, 1000)
      : bentoTierOps(ctx, true, 1000);
  const worker = new Worker(options.workerPath);
  try {
    await ops.ready();
    await ops.set(key, deliveryValue(0));
    worker.send({ type: 'setup', subject, redis: ctx.redis, key });
    const ready = await worker.next('ready');
    const sets: number[] = [];
    const seen: number[] = [];
    const reads: number[] = [];
    // The first samples warm both processes up; they are not kept.
    const warmup = Math.min(20, options.samples);
    for (let n = 1; n <= options.samples + warmup; n++) {
      const result = await sample(ops, worker, { key, n });
      if (n > warmup) {
        sets.push(result.setMs);
        seen.push(result.seenMs);
        reads.push(result.reads);
      }
      await sleep(2); // B's copy is refilled by the read that saw the value; let both settle
    }
    const sorted = (values: number[]): Float64Array => Float64Array.from(values).sort();
    const seenSorted = sorted(seen);
    return {
      subject,
      bus: ready.bus,
      samples: seen.length,
      setP50Ms: percentile(sorted(sets), 50),
      p50Ms: percentile(seenSorted, 50),
      p99Ms: percentile(seenSorted, 99),
      maxMs: seenSorted[seenSorted.length - 1] ?? Number.NaN,
      readsP50: percentile(sorted(reads), 50),
    };
  } finally {
    await worker.stop();
    await ops.teardown();
  }
}

/** Measures the delivery bound of Stowage's bus and BentoCache's, one after the other. */
export async function measureDelivery(
  ctx: TierContext,
  options: DeliveryOptions,
): Promise<DeliveryRow[]> {
  const rows: DeliveryRow[] = [];
  for (const subject of Object.values(DeliverySubject)) {
    options.log(`delivery bound: ${subject}, ${options.samples} samples`);
    rows.push(await measureOne(ctx, subject, options));
  }
  return rows;
}
