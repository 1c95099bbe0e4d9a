import { CacheKeyError, CacheValueError } from '../errors.js';

/**
 * A list of caller keys: an array, a `Set` or any iterable of strings — but not a string, which
 * is an iterable of its characters (`deleteMany('abc')` would delete `a`, `b` and `c`).
 */
export type KeyList<K> = K extends string ? never : K;

/** Throws `CacheKeyError` for a bare string where a list of keys belongs. */
export function checkKeyList(keys: unknown, what: string): void {
  if (typeof keys === 'string') {
    throw new CacheKeyError(
      `${what} takes a list of keys, not a string (a string would be read as its characters); wrap it: ['${keys.length > 40 ? `${keys.slice(0, 40)}…` : keys}']`,
    );
  }
  if (typeof keys !== 'object' || keys === null || !(Symbol.iterator in keys)) {
    throw new CacheKeyError(`${what} takes an array or another iterable of keys`);
  }
}

/** Entries for {@link CacheClient.setMany}: an object, a `Map`, or any iterable of pairs. */
export type SetManyEntries<T> =
  Readonly<Record<string, T>> | ReadonlyMap<string, T> | Iterable<readonly [string, T]>;

/** Turns the entries of `setMany` into pairs, or throws `CacheValueError` for anything else. */
export function toEntryPairs<T>(entries: SetManyEntries<T>): Array<readonly [string, T]> {
  if (typeof entries === 'string') {
    throw new CacheValueError(
      '`entries` must be an object, a Map or an iterable of [key, value] pairs, not a string',
    );
  }
  if (entries instanceof Map) return [...(entries as ReadonlyMap<string, T>)];
  if (typeof entries === 'object' && entries !== null && Symbol.iterator in entries) {
    return [...(entries as Iterable<readonly [string, T]>)];
  }
  if (typeof entries !== 'object' || entries === null) {
    throw new CacheValueError(
      '`entries` must be an object, a Map or an iterable of [key, value] pairs',
    );
  }
  return Object.entries(entries);
}

const MAX_DELTA = 2n ** 64n - 1n;

/** Checks a counter delta: a safe integer or a bigint from 0 to 2^64 − 1, else `CacheValueError`. */
export function checkDelta(delta: unknown, key: string): void {
  const ok =
    typeof delta === 'number'
      ? Number.isSafeInteger(delta) && delta >= 0
      : typeof delta === 'bigint' && delta >= 0n && delta <= MAX_DELTA;
  if (!ok) {
    throw new CacheValueError(
      `\`delta\` must be an integer from 0 to 2^64 − 1; got ${String(delta)}`,
      key,
    );
  }
}
