// What one miss costs, one call at a time: sequential getOrSet on keys never used before with a
// factory that returns at once, so the time is the client's round trips and work. Stowage with
// leases (read, add the marker, factory, setIf) against `lease: false` (read, factory, set with its
// read-back) and against the raw client's get + set.
import { LatencyReservoir, median, percentile } from '../stats.js';
import { pairedRatio } from '../summary.js';
import { Kind, type Backend, type BenchContext, type JsonValue } from '../types.js';
import { STAMPEDE_SUBJECTS, type StampedeHandle, type StampedeSubject } from './subjects.js';
import type { MissRow } from './summary.js';

/** Rounds of the miss-latency scenario. */
export interface MissOptions {
  /** Timed rounds; every subject runs once per round, in an order that rotates. */
  readonly rounds: number;
  /** Length of one subject's turn in a round, in milliseconds. */
  readonly roundMs: number;
  /** Untimed turn of each subject before the first round. */
  readonly warmupMs: number;
}

// A small JSON value, as a trivial factory returns it.
const VALUE: JsonValue = { id: 7, name: 'miss', tags: ['a', 'b'] };

interface Turn {
  readonly meanUs: number;
  readonly error?: string;
}

/** Sequential misses for `ms`: each key is new, so each call must run the factory once. */
async function turn(
  handle: StampedeHandle,
  prefix: string,
  ms: number,
  latencies: LatencyReservoir | undefined,
): Promise<Turn> {
  let runs = 0;
  const factory = async (): Promise<JsonValue> => {
    runs++;
    return VALUE;
  };
  let ops = 0;
  const started = performance.now();
  const end = started + ms;
  for (let now = started; now < end; ops++) {
    await handle.getOrSet(`${prefix}:${ops}`, factory);
    const after = performance.now();
    latencies?.add(after - now);
    now = after;
  }
  const meanUs = ((performance.now() - started) * 1000) / ops;
  if (runs !== ops) return { meanUs, error: `the factory ran ${runs} times for ${ops} new keys` };
  return { meanUs };
}

interface Runner {
  readonly subject: StampedeSubject;
  handle: StampedeHandle | undefined;
  readonly roundsUs: number[];
  readonly latencies: LatencyReservoir;
  error: string | undefined;
}

type Gc = (options?: { type: 'major' | 'minor' }) => void;
const gc = (globalThis as { gc?: Gc }).gc;
// As in the main bench (`node --expose-gc`): a young-generation collection before each turn, so
// one subject's garbage is not collected on the next subject's time.
const scavenge = (): void => gc?.({ type: 'minor' });

const message = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

/** The rows of the scenario: ratios are taken within a backend, to its raw client. */
function rows(runners: readonly Runner[]): MissRow[] {
  const byId = (id: string): Runner | undefined => runners.find((r) => r.subject.id === id);
  return runners.map((runner) => {
    const { subject } = runner;
    const base = {
      subject: subject.id,
      name: subject.name,
      backend: subject.backend,
      kind: subject.kind,
    };
    if (runner.error !== undefined || runner.roundsUs.length === 0) {
      return {
        ...base,
        status: runner.handle === undefined ? 'unavailable' : 'failed',
        error: runner.error ?? 'no round completed',
        roundsUs: runner.roundsUs,
        usPerMiss: Number.NaN,
        p50Us: Number.NaN,
        p99Us: Number.NaN,
      };
    }
    const raw = runners.find(
      (r) => r.subject.backend === subject.backend && r.subject.kind === Kind.Raw,
    );
    const noLease = subject.id.endsWith('/stowage-lease')
      ? byId(`${subject.backend}/stowage-no-lease`)
      : undefined;
    const sorted = runner.latencies.sorted();
    const vsRaw =
      raw === undefined || raw === runner ? undefined : pairedRatio(runner.roundsUs, raw.roundsUs);
    const vsNoLease =
      noLease === undefined ? undefined : pairedRatio(runner.roundsUs, noLease.roundsUs);
    return {
      ...base,
      status: 'ok',
      roundsUs: runner.roundsUs,
      usPerMiss: median(runner.roundsUs),
      p50Us: percentile(sorted, 50) * 1000,
      p99Us: percentile(sorted, 99) * 1000,
      ...(vsRaw === undefined ? {} : { vsRaw }),
      ...(vsNoLease === undefined ? {} : { vsNoLease }),
    };
  });
}

/**
 * Measures µs per miss of Stowage with and without leases and of the raw client on each backend,
 * in this process, with the subjects interleaved per round.
 */
export async function measureMissLatency(
  ctx: BenchContext,
  backends: readonly Backend[],
  options: MissOptions,
): Promise<MissRow[]> {
  const runners: Runner[] = STAMPEDE_SUBJECTS.filter(
    (s) => backends.includes(s.backend) && s.kind !== Kind.Peer,
  ).map((subject) => ({
    subject,
    handle: undefined,
    roundsUs: [],
    latencies: new LatencyReservoir(20_000),
    error: undefined,
  }));
  try {
    for (const runner of runners) {
      try {
        runner.handle = await runner.subject.setup(ctx);
        await turn(runner.handle, `miss:${runner.subject.id}:warm`, options.warmupMs, undefined);
      } catch (error) {
        runner.error = message(error);
      }
    }
    for (let round = 0; round < options.rounds; round++) {
      for (let k = 0; k < runners.length; k++) {
        const runner = runners[(k + round) % runners.length] as Runner;
        if (runner.handle === undefined || runner.error !== undefined) continue;
        scavenge();
        try {
          const result = await turn(
            runner.handle,
            `miss:${runner.subject.id}:${round}`,
            options.roundMs,
            runner.latencies,
          );
          runner.roundsUs.push(result.meanUs);
          runner.error = result.error;
        } catch (error) {
          runner.error = message(error);
        }
      }
    }
  } finally {
    await Promise.allSettled(
      runners.flatMap((r) => (r.handle === undefined ? [] : [r.handle.teardown()])),
    );
  }
  return rows(runners);
}
