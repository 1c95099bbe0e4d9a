import { MAX_TIMER_MS } from '../backend/deadline.js';
import { CacheConfigError } from '../errors.js';
import { optionSeconds, type Ttl } from '../ttl.js';

/** Default life of a lease marker, in milliseconds; renewed every half of it while the factory runs. */
export const DEFAULT_LEASE_TTL_MS = 5000;
/** Default wait for another caller's lease, in milliseconds. */
export const DEFAULT_LEASE_WAIT_MS = 10_000;

/** What a caller that waited out another's lease does: see {@link LeaseOptions.onTimeout}. */
export type LeaseTimeoutAction = 'compute' | 'throw';

/**
 * How `getOrSet` (and `@stowage/decorator`) leases a key on a miss. A lease is a short-lived
 * marker stored under the key itself: the first caller to miss takes it and runs the factory;
 * callers in other processes that find it wait for the value instead of running the factory too;
 * a delete of the key by anyone meanwhile removes the marker, and the result is then returned to
 * its caller but not stored.
 */
export interface LeaseOptions {
  /**
   * Life of the lease marker: seconds, or a string with a unit (`'5s'`, `'800ms'`). The holder
   * renews it every half of this while its factory runs, so a factory may take longer; a holder
   * that dies is taken over by a waiter after at most this long. A `'seconds'` backend
   * (memcached) rounds it up to whole seconds.
   * @default '5s'
   */
  readonly ttl?: Ttl | undefined;
  /**
   * How long a caller that finds another's lease waits for the value, polling with backoff and
   * jitter: seconds, or a string with a unit. `0` does not wait.
   * @default '10s'
   */
  readonly wait?: Ttl | undefined;
  /**
   * What a waiter does when the wait ends without a value: `'compute'` runs the factory itself
   * and returns its result without storing it (another caller holds the lease); `'throw'`
   * rejects with `CacheLeaseTimeoutError`.
   * @default 'compute'
   */
  readonly onTimeout?: LeaseTimeoutAction | undefined;
}

/** {@link LeaseOptions} checked, in milliseconds. */
export interface ResolvedLease {
  /** Life of the marker, in milliseconds (> 0). */
  readonly ttlMs: number;
  /** Longest wait for another's lease, in milliseconds (≥ 0). */
  readonly waitMs: number;
  /** What a waiter does when the wait ends. */
  readonly onTimeout: LeaseTimeoutAction;
}

/** The leases of a client that gives no `lease` option. */
export const DEFAULT_LEASE: ResolvedLease = {
  ttlMs: DEFAULT_LEASE_TTL_MS,
  waitMs: DEFAULT_LEASE_WAIT_MS,
  onTimeout: 'compute',
};

function milliseconds(value: Ttl, name: string): number {
  const ms = Math.ceil(optionSeconds(value, name) * 1000);
  if (ms > MAX_TIMER_MS) {
    throw new CacheConfigError(`\`${name}\` must be at most ${MAX_TIMER_MS} ms`);
  }
  return ms;
}

/**
 * Checks a `lease` option (the client's, or a call's over the client's `base`) and applies the
 * defaults; `false` turns leases off. Throws `CacheConfigError` naming the bad field, before any
 * I/O. `true` or `undefined` keeps `base` (the defaults when `base` is off).
 */
export function resolveLease(
  option: boolean | LeaseOptions | undefined,
  base: ResolvedLease | false,
): ResolvedLease | false {
  if (option === false) return false;
  const from = base === false ? DEFAULT_LEASE : base;
  if (option === undefined || option === true) return from;
  if (typeof option !== 'object' || option === null) {
    throw new CacheConfigError('`lease` must be true, false or { ttl, wait, onTimeout }');
  }
  const ttlMs = option.ttl === undefined ? from.ttlMs : milliseconds(option.ttl, 'lease.ttl');
  if (ttlMs === 0) throw new CacheConfigError('`lease.ttl` must be greater than 0');
  const onTimeout = option.onTimeout ?? from.onTimeout;
  if (onTimeout !== 'compute' && onTimeout !== 'throw') {
    throw new CacheConfigError("`lease.onTimeout` must be 'compute' or 'throw'");
  }
  return {
    ttlMs,
    waitMs: option.wait === undefined ? from.waitMs : milliseconds(option.wait, 'lease.wait'),
    onTimeout,
  };
}
