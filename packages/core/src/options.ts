import { CacheConfigError } from './errors.js';

/** Bounds of {@link integerOption}. */
export interface IntegerRange {
  /** Smallest allowed value. @default 1 */
  readonly min?: number | undefined;
  /** Largest allowed value. @default Number.MAX_SAFE_INTEGER */
  readonly max?: number | undefined;
}

/**
 * Checks a whole-number option for core and every backend, so they all fail the same way: the
 * value (or `fallback` when it is `undefined`) must be a safe integer within `range`, else a
 * `CacheConfigError` names the option.
 *
 * @example
 * const maxEntries = integerOption(options.maxEntries, 'maxEntries', 10_000);
 */
export function integerOption(
  value: unknown,
  name: string,
  fallback: number,
  range: IntegerRange = {},
): number {
  const min = range.min ?? 1;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const resolved = value ?? fallback;
  if (
    typeof resolved !== 'number' ||
    !Number.isSafeInteger(resolved) ||
    resolved < min ||
    resolved > max
  ) {
    const expected =
      max !== Number.MAX_SAFE_INTEGER
        ? `an integer from ${min} to ${max}`
        : min === 1
          ? 'a positive integer'
          : `an integer ≥ ${min}`;
    throw new CacheConfigError(`\`${name}\` must be ${expected}; got ${String(value)}`);
  }
  return resolved;
}

/**
 * Checks a true/false option the same way everywhere: `undefined` is `fallback`, anything but a
 * boolean is a `CacheConfigError` naming the option (a string `'false'` from a config file must
 * not turn a feature on).
 */
export function booleanOption(value: unknown, name: string, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    const got = typeof value === 'string' ? `'${value}'` : typeof value;
    throw new CacheConfigError(`\`${name}\` must be true or false; got ${got}`);
  }
  return value;
}
