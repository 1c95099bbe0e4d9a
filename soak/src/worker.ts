// One soak worker process: mixed reads, writes, deletes, `getOrSet` and `cached` calls over a
// memcached ring and Redis, through the fault proxies the parent controls. Every operation is
// appended to this worker's history file; at the end the worker sends its measurements (latency
// percentiles, heap and handle samples, unhandled rejections) to the parent over IPC.
import { createWriteStream } from 'node:fs';
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { createRedisBackend } from '@stowage/backend-redis';
import { CacheClient, StorageLevel } from '@stowage/core';
import { cached, invalidate } from '@stowage/decorator';
import { now, OpKind, type OpRecord } from './history.js';
import { Histogram } from './histogram.js';

/** What the parent passes in `argv[2]` (JSON). */
export interface WorkerConfig {
  readonly id: number;
  /** `host:port` of each memcached (through its proxy). */
  readonly memcached: readonly string[];
  /** `host:port` of Redis (through its proxy). */
  readonly redis: string;
  readonly historyFile: string;
  readonly durationMs: number;
  /** Concurrent operation loops in this process. */
  readonly concurrency: number;
  /** Keys per backend and kind (plain and `cached`). */
  readonly keys: number;
  readonly timeoutMs: number;
  readonly quarantineMs: number;
}

/** What a worker reports when it is done. */
export interface WorkerReport {
  readonly id: number;
  readonly operations: number;
  /** p50 / p99 / max latency per source, in milliseconds. */
  readonly latency: Record<string, { p50: number; p99: number; max: number; count: number }>;
  /** `heapUsed` after a full GC, every few seconds, in bytes. */
  readonly heap: readonly number[];
  /** Active handles and requests at the same moments. */
  readonly handles: readonly number[];
  readonly unhandledRejections: number;
  readonly uncaughtExceptions: number;
  /** `warning` events of the clients, by kind. */
  readonly warnings: Record<string, number>;
  /** The first 50 quarantines given up: when, and the full key. */
  readonly quarantinesGivenUp: ReadonlyArray<readonly [number, string]>;
}

/**
 * A value of ours: `key|worker|sequence|padding`, a plain string (strings reach the wire as they
 * are, so a damaged one still decodes and must be caught by the checker, where damaged JSON would
 * already fail to parse). The padding's length varies with the sequence number and is part of the
 * canonical form: a value cut short, shifted or extended by other bytes no longer matches it.
 */
function valueFor(key: string, worker: number, sequence: number): string {
  return `${key}|${worker}|${sequence}|${'x'.repeat(8 + (sequence % 57))}`;
}

/** The id a read found: ours, a miss, or `!reason` when it is not one of our values for `key`. */
function idOf(key: string, value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string') return `!not a string: ${typeof value}`;
  const [k, w, s] = value.split('|', 3);
  if (k !== key) return `!value of ${JSON.stringify(k)} read as ${key}`;
  const worker = Number(w);
  const sequence = Number(s);
  if (!Number.isInteger(worker) || !Number.isInteger(sequence)) return '!malformed value';
  if (value !== valueFor(key, worker, sequence)) return `!damaged value of ${worker}:${sequence}`;
  return `${worker}:${sequence}`;
}

/**
 * Single-flight calls (`getOrSet`, `cached`) in progress per key. A call that starts while another
 * is in progress may join its flight and get what that flight read — a read that began before
 * this call (core's README, "single-flight"). Such a read is logged as invoked when the earliest
 * call in progress began, so the checker holds it to what the library promises.
 */
class Flights {
  readonly #active = new Map<string, { since: number; calls: number }>();

  /** A call for `key` starts at `at`; returns when its read may have begun. */
  join(key: string, at: number): number {
    const active = this.#active.get(key);
    if (active === undefined) {
      this.#active.set(key, { since: at, calls: 1 });
      return at;
    }
    active.calls++;
    return active.since;
  }

  /** A call for `key` ended. */
  leave(key: string): void {
    const active = this.#active.get(key);
    if (active !== undefined && --active.calls === 0) this.#active.delete(key);
  }
}

const SAMPLE_MS = 2000;

async function main(config: WorkerConfig): Promise<void> {
  let unhandledRejections = 0;
  let uncaughtExceptions = 0;
  process.on('unhandledRejection', () => unhandledRejections++);
  process.on('uncaughtException', () => uncaughtExceptions++);

  const history = createWriteStream(config.historyFile);
  const log = (record: OpRecord): void => {
    history.write(`${JSON.stringify(record)}\n`);
  };
  const latency = new Map<string, Histogram>();
  const time = (source: string, started: number): void => {
    let histogram = latency.get(source);
    if (histogram === undefined) latency.set(source, (histogram = new Histogram()));
    histogram.record(now() - started);
  };

  const warnings: Record<string, number> = {};
  const quarantinesGivenUp: Array<readonly [number, string]> = [];
  let sequence = 0;
  /** A new value for `key`, and its id. */
  const produce = (key: string): { value: string; id: string } => {
    const s = sequence++;
    return { value: valueFor(key, config.id, s), id: `${config.id}:${s}` };
  };
  /**
   * A new value made by a factory (`getOrSet`, `cached`), logged as a write in doubt: the
   * library stores it, and when and whether it lands is the library's business.
   */
  const fresh = (key: string, source: string): string => {
    const invokedAt = now();
    const { value, id } = produce(key);
    log([OpKind.Write, key, config.id, invokedAt, now(), false, id, source]);
    return value;
  };
  const options = {
    prefix: 'soak',
    service: 'soak',
    timeoutMs: config.timeoutMs,
    quarantineMs: config.quarantineMs,
    compress: false,
  };
  const backends = [
    {
      name: 'mc',
      client: new CacheClient({
        ...options,
        backend: createMemcachedBackend({
          servers: [...config.memcached],
          timeoutMs: config.timeoutMs,
          breakerCooldownMs: 200,
          breakerMaxCooldownMs: 400,
        }),
      }),
    },
    {
      name: 'rd',
      client: new CacheClient({
        ...options,
        backend: createRedisBackend({
          url: `redis://${config.redis}`,
          timeoutMs: config.timeoutMs,
        }),
      }),
    },
  ].map(({ name, client }) => {
    // Errors are expected under faults; the history records them. No listener would throw.
    client.on('error', () => undefined);
    client.on('warning', (warning) => {
      warnings[warning.kind] = (warnings[warning.kind] ?? 0) + 1;
      if (warning.kind === 'quarantine' && quarantinesGivenUp.length < 50) {
        quarantinesGivenUp.push([now(), warning.fullKey ?? '']);
      }
    });
    // The decorated function: each run produces a new value.
    const fn = cached(
      (arg: string): Promise<string> => Promise.resolve(fresh(`${name}:${arg}`, 'cached')),
      {
        context: { client },
        timeout: '10m',
        key: 'soak-value',
        storageLevel: StorageLevel.Service,
        // Failures are expected under faults and recorded in the history; no process warnings.
        onError: () => undefined,
      },
    );
    return { name, client, fn };
  });

  const flights = new Flights();
  const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;
  const deadline = now() + config.durationMs;
  let operations = 0;

  /** Runs a read and logs what it returned; `since` is when its read may have begun. */
  async function read(
    key: string,
    source: string,
    invokedAt: number,
    call: () => Promise<unknown>,
    since = invokedAt,
  ): Promise<void> {
    try {
      const value = await call();
      log([OpKind.Read, key, config.id, since, now(), true, idOf(key, value), source]);
    } catch {
      log([OpKind.Read, key, config.id, since, now(), false, null, source]);
    }
    time(source, invokedAt);
  }

  /** A single-flight read (`getOrSet`, `cached`): see {@link Flights}. */
  async function flightRead(
    key: string,
    source: string,
    invokedAt: number,
    call: () => Promise<unknown>,
  ): Promise<void> {
    const since = flights.join(key, invokedAt);
    try {
      await read(key, source, invokedAt, call, since);
    } finally {
      flights.leave(key);
    }
  }

  /** Runs a delete (`delete`, `invalidate`) and logs whether it was confirmed. */
  async function remove(
    key: string,
    source: string,
    invokedAt: number,
    call: () => Promise<unknown>,
  ): Promise<void> {
    let confirmed = true;
    try {
      await call();
    } catch {
      confirmed = false;
    }
    log([OpKind.Delete, key, config.id, invokedAt, now(), confirmed, null, source]);
    time(source, invokedAt);
  }

  async function step(): Promise<void> {
    const { name, client, fn } = pick(backends);
    const index = Math.floor(Math.random() * config.keys);
    const roll = Math.random();
    const invokedAt = now();
    if (roll < 0.75) {
      const cacheKey = `k${index}`;
      const key = `${name}:${cacheKey}`;
      if (roll < 0.4) {
        await read(key, 'get', invokedAt, () => client.get(cacheKey));
      } else if (roll < 0.6) {
        const { value, id } = produce(key);
        let confirmed = false;
        try {
          confirmed = await client.set(cacheKey, value);
        } catch {
          // indeterminate or refused: not confirmed
        }
        log([OpKind.Write, key, config.id, invokedAt, now(), confirmed, id, 'set']);
        time('set', invokedAt);
      } else if (roll < 0.66) {
        await remove(key, 'delete', invokedAt, () => client.delete(cacheKey));
      } else {
        await flightRead(key, 'getOrSet', invokedAt, () =>
          client.getOrSet(cacheKey, () => fresh(key, 'getOrSet')),
        );
      }
    } else {
      const arg = `d${index}`;
      const key = `${name}:${arg}`;
      if (roll < 0.95) await flightRead(key, 'cached', invokedAt, () => fn(arg));
      else await remove(key, 'invalidate', invokedAt, () => invalidate(fn, arg));
    }
    operations++;
  }

  async function loop(): Promise<void> {
    while (now() < deadline) {
      await step();
      // A little think time: a realistic mix, and a history the checker can hold in memory.
      await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 6));
    }
  }

  const heap: number[] = [];
  const handles: number[] = [];
  const sample = (): void => {
    (globalThis as { gc?: () => void }).gc?.();
    heap.push(process.memoryUsage().heapUsed);
    handles.push(process.getActiveResourcesInfo().length);
  };
  sample();
  const sampler = setInterval(sample, SAMPLE_MS);
  await Promise.all(Array.from({ length: config.concurrency }, loop));
  clearInterval(sampler);
  sample();
  await Promise.all(backends.map(({ client }) => client.close()));
  await new Promise<void>((resolve) => history.end(resolve));

  const report: WorkerReport = {
    id: config.id,
    operations,
    latency: Object.fromEntries(
      [...latency].map(([source, histogram]) => [source, histogram.summary()]),
    ),
    heap,
    handles,
    unhandledRejections,
    uncaughtExceptions,
    warnings,
    quarantinesGivenUp,
  };
  process.send?.(report);
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
main(config).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`soak worker ${config.id} failed: ${String(error)}\n`);
    process.exit(1);
  },
);
