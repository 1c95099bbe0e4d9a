// The soak's history and its checker, Jepsen-style: every worker process logs each operation
// with its invocation and completion time (one machine, one monotonic clock shared by every
// process, sub-millisecond: `now` below), and after the run the checker classifies every read
// against every write any process made.
//
// Values are `{ k, w, s }`: the logical key, the writing worker and its sequence number, so a
// value names the one write that produced it. A read is
// - `foreign` when it returned something no write of that key produced (another key's bytes,
//   damaged bytes, a value nobody wrote);
// - `stale` when it returned a value older than a write or delete confirmed before the read
//   began (see `classify`);
// - `ok` otherwise, hits and misses alike (a miss is always allowed in a cache).
// `lost` counts misses right after the reader's own confirmed write with nothing else written to
// the key since; it is reported, not a failure (evictions and other processes' quarantine
// deletes produce it legitimately).

/** Operation kinds in a history. */
/**
 * The one clock every process of a run stamps its history with, in milliseconds: Linux's
 * CLOCK_MONOTONIC, which all processes on the host share. `performance.timeOrigin +
 * performance.now()` is not shared: each process fixes its own origin at start-up, and a process
 * preempted while doing so on a loaded 2-core CI machine ran ~20 ms ahead of its siblings — its
 * reads then looked stale and its writes looked like values nobody had written yet.
 */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

export const OpKind = {
  Read: 'read',
  Write: 'write',
  Delete: 'delete',
} as const;
/** One of {@link OpKind}. */
export type OpKind = (typeof OpKind)[keyof typeof OpKind];

/**
 * One operation, as a worker logs it (one JSON array per line, to keep a 10-minute history
 * small): `[kind, key, process, invokedAt, completedAt, confirmed, value, source]`.
 * - `value`: for a write, the id (`w:s`) it wrote; for a read, the id it returned, `null` for a
 *   miss, or `!<reason>` when it returned something that is not one of our values;
 * - `confirmed`: a write or delete that resolved successfully (`set` → `true`, `delete` without
 *   an error); reads: whether they completed without an error;
 * - `source`: which API produced it (`get`, `set`, `getOrSet`, `cached`, …), for the report.
 */
export type OpRecord = readonly [
  kind: OpKind,
  key: string,
  process: number,
  invokedAt: number,
  completedAt: number,
  confirmed: boolean,
  value: string | null,
  source: string,
];

/** Bounds of the write model the checker holds the client to (see core's README). */
export interface ModelBounds {
  /**
   * How long after its invocation an unconfirmed write may still become visible to others:
   * the deadline, the quarantine window and its retries, plus slack. In milliseconds.
   */
  readonly unconfirmedVisibleMs: number;
  /** Clock slack between processes, in milliseconds. */
  readonly slackMs: number;
}

/** One violation, for the report. */
export interface Violation {
  readonly kind: 'stale' | 'foreign';
  readonly key: string;
  readonly process: number;
  readonly source: string;
  readonly at: number;
  readonly detail: string;
}

/** What the checker found. */
export interface Classification {
  readonly reads: number;
  readonly hits: number;
  readonly misses: number;
  readonly failedReads: number;
  readonly ok: number;
  readonly stale: number;
  readonly foreign: number;
  readonly lost: number;
  readonly writes: number;
  readonly confirmedWrites: number;
  readonly deletes: number;
  /** The first violations (at most 20), for the report. */
  readonly examples: readonly Violation[];
}

interface Write {
  readonly invokedAt: number;
  /** When it can no longer become visible: completion when confirmed, else the model's bound. */
  readonly settledAt: number;
  readonly process: number;
  readonly confirmed: boolean;
}

/** Confirmed writes and deletes of one key, sorted by completion, with a running latest. */
interface Supersessions {
  readonly completedAt: number[];
  /** The operation invoked last among the first i+1 entries. */
  readonly latest: OpRecord[];
}

function supersessions(ops: readonly OpRecord[]): Supersessions {
  const confirmed = ops.filter((op) => op[0] !== OpKind.Read && op[5]).sort((a, b) => a[4] - b[4]);
  const completedAt: number[] = [];
  const latest: OpRecord[] = [];
  let last: OpRecord | undefined;
  for (const op of confirmed) {
    if (last === undefined || op[3] > last[3]) last = op;
    completedAt.push(op[4]);
    latest.push(last);
  }
  return { completedAt, latest };
}

/** How many of the first `length` indexes satisfy `before`, which holds for a prefix of them. */
function prefixLength(length: number, before: (index: number) => boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The confirmed write or delete invoked last among those that completed before `time`. */
function latestConfirmedBefore(s: Supersessions, time: number): OpRecord | undefined {
  const count = prefixLength(s.completedAt.length, (i) => (s.completedAt[i] as number) < time);
  return count === 0 ? undefined : s.latest[count - 1];
}

/**
 * Classifies every read of `history`.
 *
 * A read R of key k returning the value of write W is **stale** when
 * 1. some write or delete U of k was confirmed before R began and invoked after W had settled
 *    (W's completion when confirmed; otherwise W's invocation + `unconfirmedVisibleMs`, the
 *    write model's bound for a late write) — anyone's U, anyone's W; or
 * 2. W was R's own process's write, not confirmed, and that process confirmed a newer write or
 *    delete U of k (invoked after W) before R began: a process never reads its own write in
 *    doubt over its own confirmed newer one (issue 10 §1).
 */
export function classify(history: readonly OpRecord[], bounds: ModelBounds): Classification {
  const byKey = new Map<string, OpRecord[]>();
  for (const op of history) {
    let ops = byKey.get(op[1]);
    if (ops === undefined) byKey.set(op[1], (ops = []));
    ops.push(op);
  }
  const { slackMs } = bounds;
  let reads = 0;
  let hits = 0;
  let misses = 0;
  let failedReads = 0;
  let stale = 0;
  let foreign = 0;
  let lost = 0;
  let writes = 0;
  let confirmedWrites = 0;
  let deletes = 0;
  const examples: Violation[] = [];
  const flag = (violation: Violation): void => {
    if (violation.kind === 'stale') stale++;
    else foreign++;
    if (examples.length < 20) examples.push(violation);
  };

  for (const [key, ops] of byKey) {
    const written = new Map<string, Write>();
    for (const op of ops) {
      if (op[0] === OpKind.Write && op[6] !== null) {
        writes++;
        if (op[5]) confirmedWrites++;
        written.set(op[6], {
          invokedAt: op[3],
          settledAt: op[5] ? op[4] : op[3] + bounds.unconfirmedVisibleMs,
          process: op[2],
          confirmed: op[5],
        });
      } else if (op[0] === OpKind.Delete) {
        deletes++;
      }
    }
    const everyone = supersessions(ops);
    const perProcess = new Map<number, Supersessions>();
    const own = (process: number): Supersessions => {
      let s = perProcess.get(process);
      if (s === undefined) {
        s = supersessions(ops.filter((op) => op[2] === process));
        perProcess.set(process, s);
      }
      return s;
    };
    const changes = ops.filter((op) => op[0] !== OpKind.Read).sort((a, b) => a[3] - b[3]);

    for (const op of ops) {
      if (op[0] !== OpKind.Read) continue;
      reads++;
      const [, , process, invokedAt, completedAt, completed, value, source] = op;
      if (!completed) {
        failedReads++;
        continue;
      }
      if (value === null) {
        misses++;
        if (isLost(changes, op)) lost++;
        continue;
      }
      hits++;
      const where = { key, process, source, at: invokedAt };
      if (value.startsWith('!')) {
        flag({ ...where, kind: 'foreign', detail: value.slice(1) });
        continue;
      }
      const write = written.get(value);
      if (write === undefined || write.invokedAt > completedAt + slackMs) {
        flag({ ...where, kind: 'foreign', detail: `value ${value} was never written to ${key}` });
        continue;
      }
      const newer = latestConfirmedBefore(everyone, invokedAt - slackMs);
      if (newer !== undefined && newer[3] > write.settledAt + slackMs) {
        flag({
          ...where,
          kind: 'stale',
          detail: `read ${value} (${write.confirmed ? 'confirmed' : 'unconfirmed'} write of process ${write.process}, settled ${(invokedAt - write.settledAt).toFixed(1)} ms before the read) after ${newer[7]} ${newer[6] ?? ''} of process ${newer[2]}, invoked ${(invokedAt - newer[3]).toFixed(1)} ms and confirmed ${(invokedAt - newer[4]).toFixed(1)} ms before the read; the read took ${(completedAt - invokedAt).toFixed(1)} ms`,
        });
        continue;
      }
      if (write.process === process && !write.confirmed) {
        const ownNewer = latestConfirmedBefore(own(process), invokedAt);
        if (ownNewer !== undefined && ownNewer[3] > write.invokedAt) {
          flag({
            ...where,
            kind: 'stale',
            detail: `read its own unconfirmed ${value} after confirming a newer write or delete`,
          });
        }
      }
    }
  }
  return {
    reads,
    hits,
    misses,
    failedReads,
    ok: reads - failedReads - stale - foreign,
    stale,
    foreign,
    lost,
    writes,
    confirmedWrites,
    deletes,
    examples,
  };
}

/**
 * A miss whose key was last written, by invocation, by the reader's own confirmed write, which
 * completed before the read began (nothing else wrote or deleted the key since).
 */
function isLost(changes: readonly OpRecord[], read: OpRecord): boolean {
  const last =
    changes[prefixLength(changes.length, (i) => (changes[i] as OpRecord)[3] <= read[4]) - 1];
  return (
    last !== undefined &&
    last[0] === OpKind.Write &&
    last[5] &&
    last[2] === read[2] &&
    last[4] < read[3]
  );
}
