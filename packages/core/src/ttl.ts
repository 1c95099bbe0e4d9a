import { CacheConfigError, CacheValueError } from './errors.js';

/**
 * A time to live: a number of **seconds** (fractions allowed; `0` means no expiry), or a string
 * with a unit: `'500ms'`, `'30s'`, `'5m'`, `'1h'`, `'7d'`.
 */
export type Ttl = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

/** Longest TTL accepted, in seconds (2^31 − 1, about 68 years). */
export const MAX_TTL_SECONDS: number = 2 ** 31 - 1;

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
};
const TTL_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Turns a {@link Ttl} into seconds. Throws `CacheValueError` for a negative, non-finite or
 * malformed TTL, or one above {@link MAX_TTL_SECONDS}.
 *
 * @example
 * toTtlSeconds('5m'); // 300
 * toTtlSeconds(0.25); // 0.25
 */
export function toTtlSeconds(ttl: unknown, name = 'ttl'): number {
  let seconds: number;
  if (typeof ttl === 'number') {
    seconds = ttl;
  } else if (typeof ttl === 'string') {
    const match = TTL_PATTERN.exec(ttl.trim());
    if (match === null) {
      throw new CacheValueError(
        `\`${name}\` must be a number of seconds or a string like '500ms', '30s', '5m', '1h', '7d'; got '${ttl}'`,
      );
    }
    seconds = Number(match[1]) * (UNIT_SECONDS[match[2] as string] as number);
  } else {
    throw new CacheValueError(
      `\`${name}\` must be a number of seconds or a string with a unit; got ${typeof ttl}`,
    );
  }
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new CacheValueError(
      `\`${name}\` must be a finite number of seconds ≥ 0; got ${String(ttl)}`,
    );
  }
  if (seconds > MAX_TTL_SECONDS) {
    throw new CacheValueError(
      `\`${name}\` must be at most ${MAX_TTL_SECONDS} seconds; got ${String(ttl)}`,
    );
  }
  return seconds;
}

/**
 * {@link toTtlSeconds} for an option (a client's `defaultTtl`, a `lease.ttl`, a `grace`): the
 * same rules, thrown as `CacheConfigError` naming the option.
 */
export function optionSeconds(value: unknown, name: string): number {
  try {
    return toTtlSeconds(value, name);
  } catch (error) {
    throw new CacheConfigError((error as Error).message);
  }
}
