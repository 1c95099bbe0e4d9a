import { ScenarioId, type JsonValue, type OpName, type Subject, type SubjectOps } from './types.js';

/** Keys a subject writes per payload; a power of two, and small enough for a 64 MB memcached. */
export const KEY_COUNT = 256;
/** Keys per `getMany` call. */
export const BATCH_SIZE = 50;

/** The keys and payload one subject uses for one payload size. */
export interface KeyData {
  /** The value written by `set`, `mix` and the getOrSet factory. */
  readonly payload: JsonValue;
  /** Keys that hold `payload` once prepared; `KEY_COUNT` of them. */
  readonly hitKeys: readonly string[];
  /** Keys never written. */
  readonly missKeys: readonly string[];
  /** Batches of `BATCH_SIZE` distinct hit keys. */
  readonly batches: ReadonlyArray<readonly string[]>;
  /** The getOrSet factory; counts its calls so a hit scenario proves it never ran. */
  readonly factory: () => Promise<JsonValue>;
  /** Calls of `factory` so far. */
  readonly factoryCalls: () => number;
}

/** Builds the keys of subject number `slot` (so subjects never share keys on a server). */
export function makeKeyData(slot: number, payloadName: string, payload: JsonValue): KeyData {
  const hitKeys = Array.from({ length: KEY_COUNT }, (_, i) => `s${slot}:${payloadName}:${i}`);
  const missKeys = Array.from({ length: KEY_COUNT }, (_, i) => `s${slot}:miss:${i}`);
  const batches = Array.from({ length: KEY_COUNT }, (_, b) =>
    Array.from({ length: BATCH_SIZE }, (_, i) => hitKeys[(b + i) % KEY_COUNT] as string),
  );
  let calls = 0;
  return {
    payload,
    hitKeys,
    missKeys,
    batches,
    factory: async () => {
      calls++;
      return payload;
    },
    factoryCalls: () => calls,
  };
}

/** A way of exercising a subject: which operations it needs and what operation `i` does. */
export interface Scenario {
  /** Stable id used in the JSON and by targets. */
  readonly id: ScenarioId;
  /** Label for tables. */
  readonly label: string;
  /** Operations a subject must have to run it. */
  readonly needs: readonly OpName[];
  /** Returns the function that performs operation number `i` (0, 1, 2, …). */
  bind(ops: SubjectOps, data: KeyData): (i: number) => Promise<unknown>;
}

const MASK = KEY_COUNT - 1;

/** The scenarios of the issue, in table order. */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: ScenarioId.Set,
    label: 'set',
    needs: ['set'],
    bind: (ops, { hitKeys, payload }) => {
      const set = ops.set!;
      return (i) => set(hitKeys[i & MASK] as string, payload);
    },
  },
  {
    id: ScenarioId.GetHit,
    label: 'get hit',
    needs: ['get'],
    bind: (ops, { hitKeys }) => {
      const get = ops.get!;
      return (i) => get(hitKeys[i & MASK] as string);
    },
  },
  {
    id: ScenarioId.GetMiss,
    label: 'get miss',
    needs: ['get'],
    bind: (ops, { missKeys }) => {
      const get = ops.get!;
      return (i) => get(missKeys[i & MASK] as string);
    },
  },
  {
    id: ScenarioId.Mix,
    label: '90/10 get/set',
    needs: ['get', 'set'],
    bind: (ops, { hitKeys, payload }) => {
      const get = ops.get!;
      const set = ops.set!;
      return (i) =>
        i % 10 === 9 ? set(hitKeys[i & MASK] as string, payload) : get(hitKeys[i & MASK] as string);
    },
  },
  {
    id: ScenarioId.GetMany,
    label: `getMany ${BATCH_SIZE}`,
    needs: ['getMany'],
    bind: (ops, { batches }) => {
      const getMany = ops.getMany!;
      return (i) => getMany(batches[i & MASK] as readonly string[]);
    },
  },
  {
    id: ScenarioId.GetOrSetHit,
    label: 'getOrSet hit',
    needs: ['getOrSet'],
    bind: (ops, { hitKeys, factory }) => {
      const getOrSet = ops.getOrSet!;
      return (i) => getOrSet(hitKeys[i & MASK] as string, factory);
    },
  },
];

/** True when `subject` (with operations `ops`) takes part in `scenario`. */
export function runsIn(subject: Subject, ops: SubjectOps, scenario: Scenario): boolean {
  if (subject.scenarios !== undefined && !subject.scenarios.includes(scenario.id)) return false;
  return scenario.needs.every((name) => ops[name] !== undefined);
}
