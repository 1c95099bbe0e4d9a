import { CacheConfigError } from '../errors.js';
import { checkOptionNames } from '../option-names.js';
import { integerOption } from '../options.js';
import { optionSeconds, type Ttl } from '../ttl.js';

/** Default {@link L1Options.maxEntries}. */
export const DEFAULT_L1_MAX_ENTRIES = 10_000;
/** Default {@link L1Options.maxBytes}: 64 MiB. */
export const DEFAULT_L1_MAX_BYTES: number = 64 * 1024 * 1024;
/** Default {@link L1Options.ttl}, in seconds. */
export const DEFAULT_L1_TTL_SECONDS = 10;

/**
 * The in-process tier in front of a remote backend (`l1` on the client). Each process keeps the
 * entries it read or wrote, so a repeat hit costs what a memory-backend hit costs instead of a
 * round trip. Copies are dropped when this process writes or deletes a key, when any process
 * does and tells the others over the `bus`, and at the latest after `ttl`.
 */
export interface L1Options {
  /**
   * Most entries kept; the least recently used go first.
   * @default 10000
   */
  readonly maxEntries?: number | undefined;
  /**
   * Most bytes kept, counted as twice each stored value's size (the bytes plus the text a hit
   * decodes from them) plus its key; the least recently used go first. An entry larger than a
   * tenth of this is not kept.
   * @default 67108864 (64 MiB)
   */
  readonly maxBytes?: number | undefined;
  /**
   * Longest life of a copy, in seconds or with a unit (`'10s'`). A copy of a value this process
   * wrote lives no longer than that write's TTL either. Without a bus this is how stale a copy
   * can be after another process changed the key; with one it bounds copies the bus could not
   * reach (see the README, "Tiers").
   * @default 10 (seconds)
   */
  readonly ttl?: Ttl | undefined;
}

/** {@link L1Options} checked, with defaults. */
export interface ResolvedL1 {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Longest life of a copy, in milliseconds (> 0). */
  readonly ttlMs: number;
}

const L1_OPTION_NAMES: { readonly [K in keyof L1Options]-?: true } = {
  maxEntries: true,
  maxBytes: true,
  ttl: true,
};

/**
 * Checks the client's `l1` option: `undefined`/`false` is no L1, `true` the defaults, an object
 * its fields. Throws `CacheConfigError` naming the field.
 */
export function resolveL1(option: boolean | L1Options | undefined): ResolvedL1 | undefined {
  if (option === undefined || option === false) return undefined;
  const given: L1Options = option === true ? {} : option;
  if (typeof given !== 'object' || given === null) {
    throw new CacheConfigError(
      '`l1` must be true, false or an object ({ maxEntries, maxBytes, ttl })',
    );
  }
  checkOptionNames(given, L1_OPTION_NAMES, 'l1');
  const ttlSeconds = optionSeconds(given.ttl ?? DEFAULT_L1_TTL_SECONDS, 'l1.ttl');
  if (ttlSeconds <= 0) {
    // 0 means "no expiry" everywhere else; an L1 copy must always expire.
    throw new CacheConfigError('`l1.ttl` must be greater than 0: an L1 copy always expires');
  }
  return {
    maxEntries: integerOption(given.maxEntries, 'l1.maxEntries', DEFAULT_L1_MAX_ENTRIES),
    maxBytes: integerOption(given.maxBytes, 'l1.maxBytes', DEFAULT_L1_MAX_BYTES, { min: 1024 }),
    ttlMs: Math.max(1, Math.round(ttlSeconds * 1000)),
  };
}
