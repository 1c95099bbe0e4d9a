import { CacheConfigError } from '../errors.js';
import { booleanOption } from '../options.js';
import { MAX_TTL_SECONDS, optionSeconds, type Ttl } from '../ttl.js';

/**
 * How `getOrSet` (and `@stowage/decorator`) keeps answering when the factory or the backend
 * fails: grace and stale-while-revalidate, factory deadlines, negative caching, TTL jitter.
 * Durations are seconds or strings with a unit (`'500ms'`, `'30s'`, `'5m'`).
 */
export interface ResilienceOptions {
  /**
   * After `ttl`, the entry stays readable as **stale** for this long. A stale entry is refreshed
   * by the next call (under the key's lease, once across processes); it is served instead when
   * the factory throws, passes `hardTimeout`, passes `softTimeout`, or the backend is down.
   * Entries written with grace carry a small header (see the core README, "Grace"). `0`: none.
   * @default 0
   */
  readonly grace?: Ttl | undefined;
  /**
   * With `grace`: a stale hit returns at once and the refresh runs in the background.
   * @default false
   */
  readonly staleWhileRevalidate?: boolean | undefined;
  /**
   * With a stale entry at hand: a factory slower than this returns the stale value, and the
   * factory finishes (and stores) in the background. No effect without a stale entry.
   * @default undefined (wait for the factory)
   */
  readonly softTimeout?: Ttl | undefined;
  /**
   * The factory's `signal` is aborted after this long, and the call rejects with
   * `CacheTimeoutError` — or answers the stale value when there is one. A result that arrives
   * later is not stored.
   * @default undefined (no deadline)
   */
  readonly hardTimeout?: Ttl | undefined;
  /**
   * A factory result of `undefined` is remembered as "not found" for this long (a distinct
   * stored entry, never confused with a value): later calls answer `undefined` without running
   * the factory. `0`: `undefined` is not cached.
   * @default 0
   */
  readonly negativeTtl?: Ttl | undefined;
  /**
   * Spreads each write's TTL by up to ± this fraction (`0.1` = ±10 %), so entries written in
   * one burst do not all expire in the same second. From 0 (none) to below 1.
   * @default the client's `jitter` (0)
   */
  readonly jitter?: number | undefined;
}

/** {@link ResilienceOptions} checked; durations in milliseconds, `0` for off. */
export interface ResolvedResilience {
  readonly graceMs: number;
  readonly staleWhileRevalidate: boolean;
  readonly softTimeoutMs: number;
  readonly hardTimeoutMs: number;
  readonly negativeTtlSeconds: number;
  readonly jitter: number;
}

/** No grace, no timeouts, no negative caching, no jitter. */
export const NO_RESILIENCE: ResolvedResilience = {
  graceMs: 0,
  staleWhileRevalidate: false,
  softTimeoutMs: 0,
  hardTimeoutMs: 0,
  negativeTtlSeconds: 0,
  jitter: 0,
};

function seconds(value: Ttl | undefined, name: string): number {
  return value === undefined ? 0 : optionSeconds(value, name);
}

/** Checks a `jitter` fraction: a number from 0 to below 1. */
export function checkJitter(jitter: unknown, name = 'jitter'): number {
  if (jitter === undefined) return 0;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter < 1)) {
    throw new CacheConfigError(`\`${name}\` must be a fraction from 0 to below 1 (0.1 = ±10 %)`);
  }
  return jitter;
}

/**
 * Checks the resilience options of a call, with `clientJitter` when the call gives none; throws
 * `CacheConfigError` naming the bad field, before any I/O. Returns {@link NO_RESILIENCE} itself
 * when nothing is on, so the common call allocates nothing.
 */
export function resolveResilience(
  options: ResilienceOptions | undefined,
  clientJitter: number,
): ResolvedResilience {
  if (
    options === undefined ||
    (options.grace === undefined &&
      options.staleWhileRevalidate === undefined &&
      options.softTimeout === undefined &&
      options.hardTimeout === undefined &&
      options.negativeTtl === undefined &&
      options.jitter === undefined)
  ) {
    return clientJitter === 0 ? NO_RESILIENCE : { ...NO_RESILIENCE, jitter: clientJitter };
  }
  const swr = booleanOption(options.staleWhileRevalidate, 'staleWhileRevalidate');
  const resolved: ResolvedResilience = {
    graceMs: seconds(options.grace, 'grace') * 1000,
    staleWhileRevalidate: swr,
    softTimeoutMs: seconds(options.softTimeout, 'softTimeout') * 1000,
    hardTimeoutMs: seconds(options.hardTimeout, 'hardTimeout') * 1000,
    negativeTtlSeconds: seconds(options.negativeTtl, 'negativeTtl'),
    jitter: options.jitter === undefined ? clientJitter : checkJitter(options.jitter),
  };
  if (
    resolved.softTimeoutMs > 0 &&
    resolved.hardTimeoutMs > 0 &&
    resolved.softTimeoutMs > resolved.hardTimeoutMs
  ) {
    throw new CacheConfigError('`softTimeout` must not be longer than `hardTimeout`');
  }
  return resolved;
}

/**
 * `ttlSeconds` spread by ± `jitter` (a fraction), never past {@link MAX_TTL_SECONDS} (a TTL the
 * caller gave near the limit must not be refused because of the spread); `0` (no expiry) stays
 * `0`.
 */
export function jittered(ttlSeconds: number, jitter: number): number {
  if (jitter === 0 || ttlSeconds === 0) return ttlSeconds;
  return Math.min(MAX_TTL_SECONDS, ttlSeconds * (1 + jitter * (2 * Math.random() - 1)));
}
