import type { ServerHandle } from '@stowage/testkit';

/** Where a subject keeps its entries. Ratios are only ever taken within one backend. */
export const Backend = {
  Memory: 'memory',
  Memcached: 'memcached',
  Redis: 'redis',
} as const;
/** One of {@link Backend}. */
export type Backend = (typeof Backend)[keyof typeof Backend];

/** What a subject is: the raw client (a baseline), Stowage, or a library users would pick instead. */
export const Kind = {
  Raw: 'raw',
  Stowage: 'stowage',
  Peer: 'peer',
} as const;
/** One of {@link Kind}. */
export type Kind = (typeof Kind)[keyof typeof Kind];

/** A JSON value as the payload generator makes it. */
export type JsonValue =
  string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * The operations a subject offers. A scenario runs only on subjects that have every operation it
 * needs, so leave out what a library does not have (keyv has no `getOrSet`) rather than faking it.
 * Every operation returns a promise, sync libraries included: callers of a cache await it, and the
 * await costs every subject the same.
 */
export interface SubjectOps {
  /** Stores `value` under `key` without expiry. */
  readonly set?: (key: string, value: JsonValue) => Promise<unknown>;
  /** Resolves the value of `key`, or `undefined` (or `null`) on a miss. */
  readonly get?: (key: string) => Promise<unknown>;
  /** Reads many keys; resolves a `Map` of hits or an array aligned with `keys` (misses `undefined`/`null`). */
  readonly getMany?: (
    keys: readonly string[],
  ) => Promise<ReadonlyMap<string, unknown> | readonly unknown[]>;
  /** Resolves the cached value of `key`, or runs `factory`, stores and returns its result. */
  readonly getOrSet?: (key: string, factory: () => Promise<JsonValue>) => Promise<unknown>;
}

/** The name of an operation in {@link SubjectOps}. */
export type OpName = keyof SubjectOps;

/** A subject after `setup`: its operations and how to release what it holds. */
export interface SubjectHandle {
  /** The operations to measure. */
  readonly ops: SubjectOps;
  /** Closes connections and frees memory; called once at the end of the run. */
  teardown(): Promise<void>;
}

/** Servers and settings shared by every subject of a run. */
export interface BenchContext {
  /** The memcached of this run (started on first use on 127.0.0.1, stopped by PID at the end). */
  memcached(): Promise<ServerHandle>;
  /** The redis-server of this run (started on first use on 127.0.0.1, stopped by PID at the end). */
  redis(): Promise<ServerHandle>;
}

/**
 * One thing measured. To add a subject, write an object of this shape in `src/subjects/` and list
 * it in `src/subjects/index.ts`; the runner, ratios, tables, JSON and targets pick it up by `id`.
 */
export interface Subject {
  /** `${backend}/${name}`: unique, stable; targets and the JSON refer to subjects by it. */
  readonly id: string;
  /** Short name shown in tables (`stowage`, `memjs`, `keyv`). */
  readonly name: string;
  /** Where it stores. */
  readonly backend: Backend;
  /** Raw client, Stowage, or peer library. */
  readonly kind: Kind;
  /** True for the one raw client per backend that ratios are computed against. */
  readonly baseline?: boolean;
  /** One line: library and version range, configuration that matters for fairness. */
  readonly description: string;
  /** When set, the subject runs only in these scenarios (a variant that differs only in `set`). */
  readonly scenarios?: readonly ScenarioId[];
  /** Creates clients; called once per run. */
  setup(ctx: BenchContext): Promise<SubjectHandle>;
}

/** The scenarios of the issue. */
export const ScenarioId = {
  Set: 'set',
  GetHit: 'get-hit',
  GetMiss: 'get-miss',
  Mix: 'mix-90-10',
  GetMany: 'get-many-50',
  GetOrSetHit: 'get-or-set-hit',
} as const;
/** One of {@link ScenarioId}. */
export type ScenarioId = (typeof ScenarioId)[keyof typeof ScenarioId];

/**
 * How the loops of a cell issue their calls (only matters with more than one in flight):
 * - `reply`: a loop calls again as soon as its call settles, so the loops woken by one reply
 *   chunk all call in the same tick (the shape of a batch fan-out);
 * - `turn`: a loop waits for `setImmediate` before each call, so every call starts in a
 *   macrotask of its own, as calls made by separate incoming requests do. A client that sends
 *   each tick's commands together gains nothing from the tick here, only from the event-loop turn.
 */
export const LoopShape = {
  Reply: 'reply',
  Turn: 'turn',
} as const;
/** One of {@link LoopShape}. */
export type LoopShape = (typeof LoopShape)[keyof typeof LoopShape];

/** Payload sizes: about 100 bytes and about 10 KB of JSON. */
export const PayloadSize = {
  Small: 'small',
  Large: 'large',
} as const;
/** One of {@link PayloadSize}. */
export type PayloadSize = (typeof PayloadSize)[keyof typeof PayloadSize];
