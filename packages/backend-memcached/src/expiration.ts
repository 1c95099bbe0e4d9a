import { CacheValueError, MAX_TTL_SECONDS } from '@stowage/core';

/** memcached reads an expiration above 30 days as an absolute Unix time. */
export const RELATIVE_TTL_LIMIT: number = 30 * 24 * 3600;

/**
 * memcached's expiration for a TTL in seconds: fractions round up (0.2 s → 1 s, never 0, which
 * means "no expiry"), and a TTL over 30 days becomes an absolute Unix time, because memcached
 * would read the number itself as a timestamp in 1970 and store the item already expired.
 */
export function toExpiration(ttlSeconds: number, nowMs: number = Date.now()): number {
  if (
    typeof ttlSeconds !== 'number' ||
    !Number.isFinite(ttlSeconds) ||
    ttlSeconds < 0 ||
    ttlSeconds > MAX_TTL_SECONDS
  ) {
    throw new CacheValueError(
      `\`ttl\` must be a number of seconds from 0 to ${MAX_TTL_SECONDS}; got ${String(ttlSeconds)}`,
    );
  }
  if (ttlSeconds === 0) return 0;
  const seconds = Math.ceil(ttlSeconds);
  return seconds <= RELATIVE_TTL_LIMIT ? seconds : Math.floor(nowMs / 1000) + seconds;
}

/**
 * memcached's `flush_all` delay for a delay in whole seconds below 30 days. memcached (with CAS,
 * the default) invalidates items up to `now + delay − 1`, so a delay of 1 would flush at once;
 * one more second makes the delay mean what the caller said.
 */
export function toFlushDelay(delaySeconds: number): number {
  if (!Number.isInteger(delaySeconds) || delaySeconds < 0 || delaySeconds >= RELATIVE_TTL_LIMIT) {
    throw new CacheValueError(
      `\`delaySeconds\` must be an integer from 0 to ${RELATIVE_TTL_LIMIT - 1}; got ${String(delaySeconds)}`,
    );
  }
  return delaySeconds === 0 ? 0 : delaySeconds + 1;
}
