// What the grace header costs on a fresh hit (issue 13's bench line: "the cost of grace metadata
// on a hit"): sequential getOrSet hits of 100 B JSON entries written with `grace` (GRACE_FLAGS,
// a 30-byte header, the codec's entry) against entries written without it (plain Q2 entries),
// the factory never running. Both take turns per round in an order that rotates; µs per hit is
// the median of the rounds' means and the ratio the median of per-round ratios.
import type { CacheClient, GetOrSetOptions } from '@stowage/core';
import { makeJsonPayload } from '../payloads.js';
import { LatencyReservoir } from '../stats.js';
import type { Backend, BenchContext, JsonValue } from '../types.js';
import { message, openClient, scavenge } from './clients.js';
import { summariseHitCost, type HitCostRow } from './summary.js';

/** Shape of the hit-cost scenario. */
export interface HitCostOptions {
  /** Timed rounds; plain and graced take one turn each per round. */
  readonly rounds: number;
  /** Length of one turn, in milliseconds. */
  readonly roundMs: number;
  /** Untimed turn of each before the first round, in milliseconds. */
  readonly warmupMs: number;
  /** Keys of each kind, hit in turn. */
  readonly keys: number;
}

const PAYLOAD = makeJsonPayload(100);
// Fresh for the whole run: every call is a hit.
const PLAIN: GetOrSetOptions<JsonValue> = { ttl: 3600 };
const GRACED: GetOrSetOptions<JsonValue> = { ttl: 3600, grace: 600 };

interface Side {
  readonly options: GetOrSetOptions<JsonValue>;
  readonly keys: readonly string[];
  readonly roundsUs: number[];
  readonly latencies: LatencyReservoir;
}

/** Hits `side`'s keys in turn for `ms`; the mean µs per hit. Throws if the factory ran. */
async function turn(
  cache: CacheClient<JsonValue>,
  side: Side,
  ms: number,
  latencies: LatencyReservoir | undefined,
): Promise<number> {
  let runs = 0;
  const factory = (): JsonValue => {
    runs++;
    return PAYLOAD;
  };
  const { keys, options } = side;
  let ops = 0;
  const started = performance.now();
  const end = started + ms;
  for (let now = started; now < end; ops++) {
    await cache.getOrSet(keys[ops % keys.length] as string, factory, options);
    const after = performance.now();
    latencies?.add(after - now);
    now = after;
  }
  if (runs > 0) throw new Error(`the factory ran ${runs} times on keys that were stored`);
  return ((performance.now() - started) * 1000) / ops;
}

/** Measures fresh getOrSet hits of plain and graced entries on each backend. */
export async function measureHitCost(
  ctx: BenchContext,
  backends: readonly Backend[],
  options: HitCostOptions,
  log: (text: string) => void = () => undefined,
): Promise<HitCostRow[]> {
  const rows: HitCostRow[] = [];
  for (const backend of backends) {
    let cache: CacheClient<JsonValue>;
    try {
      cache = await openClient(ctx, backend, `bench-hit-${Date.now()}`);
    } catch (error) {
      rows.push({ ...summariseHitCost(backend, empty(message(error))), status: 'unavailable' });
      continue;
    }
    const side = (name: string, sideOptions: GetOrSetOptions<JsonValue>): Side => ({
      options: sideOptions,
      keys: Array.from({ length: options.keys }, (_, i) => `${name}:${i}`),
      roundsUs: [],
      latencies: new LatencyReservoir(20_000),
    });
    const sides = [side('plain', PLAIN), side('graced', GRACED)] as const;
    let error: string | undefined;
    try {
      log(`grace header on a hit, ${backend}…`);
      for (const s of sides) {
        for (const key of s.keys) await cache.getOrSet(key, () => PAYLOAD, s.options);
        await turn(cache, s, options.warmupMs, undefined);
      }
      for (let round = 0; round < options.rounds; round++) {
        for (let k = 0; k < sides.length; k++) {
          const s = sides[(k + round) % sides.length] as Side;
          scavenge();
          s.roundsUs.push(await turn(cache, s, options.roundMs, s.latencies));
        }
      }
    } catch (caught) {
      error = message(caught);
    } finally {
      await cache.close();
    }
    rows.push(
      summariseHitCost(backend, {
        plainRoundsUs: sides[0].roundsUs,
        gracedRoundsUs: sides[1].roundsUs,
        plainLatenciesMs: sides[0].latencies.sorted(),
        gracedLatenciesMs: sides[1].latencies.sorted(),
        error,
      }),
    );
  }
  return rows;
}

function empty(error: string) {
  return {
    plainRoundsUs: [],
    gracedRoundsUs: [],
    plainLatenciesMs: [],
    gracedLatenciesMs: [],
    error,
  };
}
