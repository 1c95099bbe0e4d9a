import type { KeyData } from './scenarios.js';
import type { LatencyReservoir } from './stats.js';
import type { SubjectOps } from './types.js';

/** One timed round of one subject in one scenario. */
export interface Round {
  /** Operations completed. */
  readonly ops: number;
  /** Wall time from the first operation started to the last one settled, in milliseconds. */
  readonly elapsedMs: number;
  /** `ops / elapsed`, per second. */
  readonly opsPerSec: number;
  /**
   * Operations per second of this process's CPU time (user + system, all threads): what the
   * operations cost here, whatever else the machine was running. For remote subjects the
   * server's work is not in it.
   */
  readonly cpuOpsPerSec: number;
}

// The clock decides when a round ends. Reading it costs ~40 ns, a lot next to a 300 ns operation,
// so it is read about every CHECK_MS of work: every 64th operation for fast subjects, every one for
// slow ones (a round of a 30 ms operation must not run 64 of them).
const MAX_STRIDE = 64;
const CHECK_MS = 0.05;

/**
 * Runs `step(0)`, `step(1)`, … from `inflight` concurrent loops for about `durationMs`.
 * Every `sampleEvery`-th operation is timed on its own and offered to `latencies` (pass
 * `undefined` for a warm-up). Rejects when an operation fails, or when the round has not settled
 * `hangMs` after it should have ended (a server that stopped answering).
 */
export async function runRound(
  step: (i: number) => Promise<unknown>,
  inflight: number,
  durationMs: number,
  sampleEvery: number,
  latencies: LatencyReservoir | undefined,
  hangMs = 10_000,
): Promise<Round> {
  let next = 0;
  let nextCheck = 0;
  let stop = false;
  const cpuStarted = process.cpuUsage();
  const started = performance.now();
  const end = started + durationMs;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const i = next++;
      if (i >= nextCheck) {
        const now = performance.now();
        if (now >= end) {
          stop = true;
          next--; // this operation was not performed
          return;
        }
        const msPerOp = i === 0 ? 0 : (now - started) / i;
        const stride = msPerOp === 0 ? 1 : Math.floor(CHECK_MS / msPerOp);
        nextCheck = i + Math.max(1, Math.min(MAX_STRIDE, stride));
      }
      if (latencies !== undefined && i % sampleEvery === 0) {
        const t0 = performance.now();
        await step(i);
        latencies.add(performance.now() - t0);
      } else {
        await step(i);
      }
    }
  };
  const workers: Array<Promise<void>> = [];
  for (let w = 0; w < inflight; w++) workers.push(worker());
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stop = true;
      reject(new Error(`round did not settle within ${durationMs + hangMs} ms`));
    }, durationMs + hangMs);
  });
  try {
    await Promise.race([Promise.all(workers), hang]);
  } finally {
    clearTimeout(timer);
  }
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  // Workers stop at the first clock check past the end, so `next` counts started operations;
  // all of them have settled once Promise.all resolved.
  const ops = next;
  return {
    ops,
    elapsedMs,
    opsPerSec: (ops / elapsedMs) * 1000,
    cpuOpsPerSec: cpuMs > 0 ? (ops / cpuMs) * 1000 : Number.NaN,
  };
}

/** Writes `data.payload` under every hit key, 16 writes in flight. */
export async function prepare(ops: SubjectOps, data: KeyData): Promise<void> {
  const set = ops.set;
  if (set === undefined) throw new Error('the subject has no `set`, so it cannot be prepared');
  for (let i = 0; i < data.hitKeys.length; i += 16) {
    await Promise.all(data.hitKeys.slice(i, i + 16).map((key) => set(key, data.payload)));
  }
}

function isMissValue(value: unknown): boolean {
  return value === undefined || value === null;
}

function hits(result: ReadonlyMap<string, unknown> | readonly unknown[]): number {
  if (result instanceof Map) return result.size;
  return (result as readonly unknown[]).filter((value) => !isMissValue(value)).length;
}

/** What checking a prepared subject found. */
export interface Verification {
  /** True when a read returns a fresh copy: mutating it does not change what the next read sees. */
  readonly copies: boolean | undefined;
  /**
   * Batch and getOrSet operations that did not do what the scenarios assume, and why. They are
   * left out (their cells are absent) while the subject's other operations are measured.
   */
  readonly broken: ReadonlyArray<{ readonly op: 'getMany' | 'getOrSet'; readonly reason: string }>;
}

/** `ops` without the operations `verify` found broken. */
export function withoutBroken(ops: SubjectOps, verification: Verification): SubjectOps {
  const kept: { -readonly [K in keyof SubjectOps]: SubjectOps[K] } = { ...ops };
  for (const { op } of verification.broken) delete kept[op];
  return kept;
}

/**
 * Checks that a prepared subject really answers what the scenarios assume (a hit is a hit with
 * the right value, a miss is a miss, a batch finds every key, getOrSet on a hit does not call the
 * factory), so no table ever measures the wrong thing. Throws when `get` is wrong (nothing of the
 * subject can be trusted then); reports a wrong `getMany` or `getOrSet` in `broken`. Also finds
 * out whether reads copy values.
 */
export async function verify(ops: SubjectOps, data: KeyData): Promise<Verification> {
  const expected = JSON.stringify(data.payload);
  let copies: boolean | undefined;
  if (ops.get !== undefined) {
    const key = data.hitKeys[1] as string;
    const first = await ops.get(key);
    if (JSON.stringify(first) !== expected)
      throw new Error('get of a written key did not return the value written');
    if (!isMissValue(await ops.get(data.missKeys[1] as string)))
      throw new Error('get of a key never written was a hit');
    if (typeof first === 'object' && first !== null && Object.isFrozen(first)) {
      // One shared frozen value (`frozenValues`): nobody can change it, and it is not a copy.
      copies = false;
    } else if (typeof first === 'object' && first !== null) {
      const probe = first as Record<string, unknown>;
      probe['__benchProbe'] = true;
      const second = (await ops.get(key)) as Record<string, unknown>;
      copies = second['__benchProbe'] !== true;
      delete probe['__benchProbe'];
    }
  }
  const broken: Array<Verification['broken'][number]> = [];
  if (ops.getMany !== undefined) {
    const batch = data.batches[0] as readonly string[];
    const found = hits(await ops.getMany(batch));
    if (found !== batch.length) {
      broken.push({
        op: 'getMany',
        reason: `getMany of ${batch.length} written keys found ${found}`,
      });
    }
  }
  if (ops.getOrSet !== undefined) {
    const before = data.factoryCalls();
    const value = await ops.getOrSet(data.hitKeys[2] as string, data.factory);
    if (data.factoryCalls() !== before) {
      broken.push({ op: 'getOrSet', reason: 'getOrSet on a written key called the factory' });
    } else if (JSON.stringify(value) !== expected) {
      broken.push({ op: 'getOrSet', reason: 'getOrSet on a written key returned another value' });
    }
  }
  return { copies, broken };
}
