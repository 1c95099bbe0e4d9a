import {
  cacheKey,
  CacheConfigError,
  isStorageLevel,
  resolveLease,
  resolveResilience,
  optionSeconds,
  type CacheError,
  type LeaseOptions,
  type ResilienceOptions,
  type StorageLevel,
  type Ttl,
} from '@stowage/core';
import { checkContext, type CacheContext } from './context.js';

/** Q2's decorator default: five minutes, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 300;

/** What a cached call was doing when {@link CacheOptions.onError} was called. */
export interface CacheErrorInfo {
  /** The name part of the key: `[keyPrefix:]Class.method` or the `key` option. */
  readonly name: string;
  /** The caller key of the entry (before client prefix and scope), when it was computed. */
  readonly key: string | undefined;
}

/** Receives cache problems that did not fail the call because `strict` is off. */
export type CacheErrorHandler = (error: CacheError, info: CacheErrorInfo) => void;

/**
 * Options of `@cache(…)` and `cached(fn, …)`. Every option is optional; `@cache` alone caches for
 * five minutes at the instance's default level (or Stack).
 *
 * @typeParam A - the parameters of the cached function, for a `key` function.
 * @typeParam This - the type of `this` in the cached function, for a `context` function.
 */
export interface CacheOptions<
  A extends unknown[] = unknown[],
  This = unknown,
> extends ResilienceOptions {
  /**
   * How long a result stays cached (Q2's `timeout`): seconds, or a string with a unit (`'500ms'`,
   * `'30s'`, `'5m'`, `'1h'`, `'7d'`). `0` means no expiry.
   * @default 300 (seconds)
   */
  readonly timeout?: Ttl | undefined;
  /**
   * The same as `timeout`, by core's name for it (`getOrSet`'s `ttl`). Give one or the other; both
   * with different values is a `CacheConfigError`.
   * @default 300 (seconds)
   */
  readonly ttl?: Ttl | undefined;
  /**
   * Replaces the name part of the key (`Class.method`): a string, or a function of the call's
   * arguments returning one. The hash of the arguments is still appended, so different arguments
   * never share an entry. Use it when class names are minified or to share entries between
   * functions on purpose.
   * @default `ClassName.methodName` for methods, the function's name for `cached`
   */
  readonly key?: string | ((...args: A) => string) | undefined;
  /**
   * Tags of each stored result, for group invalidation (core's `tags`): a function of the call's
   * arguments returning the tags, e.g. `tags: (id) => [\`user:${id}\`]`. A later
   * `client.invalidateTags(['user:1'])` on a client of the same scope (tags are scoped like keys:
   * the entry's storage level and ids) makes every entry stored with that tag a miss, in every
   * process, so the next call runs the function again. It is called only on a miss, before the
   * result is stored. A hit of a tagged entry costs one more read (the tags' versions). A function
   * that throws, or tags core refuses, run the call uncached and report it like other cache
   * problems.
   * @default undefined (no tags)
   */
  readonly tags?: ((...args: A) => readonly string[]) | undefined;
  /**
   * Put before the name part, joined with `:`, to group or version a function's keys.
   * @default undefined (no prefix)
   */
  readonly keyPrefix?: string | undefined;
  /**
   * The scope of the entries: `StorageLevel.Service` (shared by all tenants), `Stack` (one
   * tenant) or `Session` (one user session). When not set, the context's `storageLevel` is used,
   * then `StorageLevel.Stack` (Q2's order). A Stack or Session level whose id is missing runs the
   * function uncached and reports it; it never falls back to a broader scope.
   * @default the context's storageLevel, else StorageLevel.Stack
   */
  readonly storageLevel?: StorageLevel | undefined;
  /**
   * Also cache `null` results (negative caching). `undefined` is never cached: the cache cannot
   * store it, and storing `null` instead would change what callers receive.
   * @default false
   */
  readonly cacheNullish?: boolean | undefined;
  /**
   * Concurrent calls with the same arguments in the same scope share one run of the function in
   * this process (each call reads the cache itself; one that misses joins the run in progress),
   * and calls in other processes wait for the run that holds the entry's lease instead of each
   * running the function. `false`: every call runs the
   * function unless the entry is cached, and stores its result only under its own lease.
   * @default true
   */
  readonly singleFlight?: boolean | undefined;
  /**
   * The lease a miss takes on the entry (see core's `LeaseOptions`): `false` skips it (one
   * round trip less on a miss; no protection across processes against a stale result after an
   * `invalidate()`), options override the client's.
   * @default the client's `lease` (on, `{ ttl: '5s', wait: '10s', onTimeout: 'compute' }`)
   */
  readonly lease?: boolean | LeaseOptions | undefined;
  /**
   * How long this process trusts the last generation token it read or wrote for a scope, so a
   * hit reads only its entry (one `client.get`) instead of the token and the entry: seconds, or a
   * string with a unit (`'500ms'`, `'2s'`). The price is how late this process sees an
   * `invalidateAll` made by **another** process (or another root client): at most this long
   * after it resolved. This process's own `invalidateAll` is seen at once, `invalidate(args)`
   * (which deletes the entry) at once everywhere, and a miss or an unusable entry under a trusted
   * token reads the token again before the function runs or anything is stored. `0` (the
   * default) checks the token on every call.
   * @default 0 (off)
   */
  readonly generationWindow?: Ttl | undefined;
  /**
   * Called with every cache problem that did not fail the call: backend down or too slow, scope id
   * missing, arguments that cannot be keyed, a result that cannot be stored. Without it, the
   * first problem of each kind per function is written as a process warning. Not called when
   * `strict` is on (the error is thrown instead) and never for errors of the function itself.
   * @default undefined (process warning, once per kind and function)
   */
  readonly onError?: CacheErrorHandler | undefined;
  /**
   * Throw cache problems to the caller instead of running the function uncached (fail-closed).
   * @default false
   */
  readonly strict?: boolean | undefined;
  /**
   * The client and scope ids, when they are known where the function is wrapped: a
   * {@link CacheContext}, or a function of `this` returning one. Fields it sets win over the
   * instance's `[cacheContext]` and over {@link runWithCacheScope}.
   * @default undefined (use the instance, then the request scope)
   */
  readonly context?: CacheContext | ((self: This) => CacheContext | undefined) | undefined;
}

/** Options after validation, with defaults applied. */
export interface NormalizedOptions {
  readonly ttlSeconds: number;
  readonly key: string | ((...args: never[]) => unknown) | undefined;
  readonly keyPrefix: string | undefined;
  readonly tags: ((...args: never[]) => readonly string[]) | undefined;
  readonly storageLevel: StorageLevel | undefined;
  readonly cacheNullish: boolean;
  readonly singleFlight: boolean;
  /** `generationWindow` in seconds; `0`: off. */
  readonly generationWindowSeconds: number;
  readonly lease: boolean | LeaseOptions | undefined;
  /** Grace, timeouts, negative caching and jitter, passed to `getOrSet` as given. */
  readonly resilience: ResilienceOptions;
  readonly onError: CacheErrorHandler | undefined;
  readonly strict: boolean;
  readonly context: CacheContext | ((self: unknown) => CacheContext | undefined) | undefined;
}

/** Throws `make(message)` unless `name` is a non-empty string that is legal inside a key. */
export function checkName(
  name: unknown,
  what: string,
  make: (message: string) => Error = (message) => new CacheConfigError(message),
): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw make(`${what} must be a non-empty string; got ${describe(name)}`);
  }
  // core's cacheKey replaces whitespace and control characters in a name; refusing them instead
  // keeps `'a b'` and `'a_b'` from sharing entries. The client's key check catches the rest.
  if (cacheKey(name) !== name) {
    throw make(`${what} must not contain whitespace or control characters; got '${name}'`);
  }
  return name;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value === '' ? 'an empty string' : `'${value}'`;
  return value === null ? 'null' : typeof value;
}

function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new CacheConfigError(`\`${name}\` must be true or false; got ${describe(value)}`);
  }
  return value;
}

/** Validates options once, where the function is wrapped, so mistakes fail before any call. */
export function normalizeOptions(options: unknown): NormalizedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) {
    throw new CacheConfigError(`cache options must be an object; got ${describe(options)}`);
  }
  const raw = options as Record<string, unknown>;
  if (raw['ttl'] !== undefined && raw['timeout'] !== undefined && raw['ttl'] !== raw['timeout']) {
    throw new CacheConfigError('give `ttl` or `timeout` (the same option), not both');
  }
  const ttlSeconds =
    raw['ttl'] !== undefined
      ? optionSeconds(raw['ttl'], 'ttl')
      : optionSeconds(raw['timeout'] ?? DEFAULT_TIMEOUT_SECONDS, 'timeout');
  const key = raw['key'];
  if (key !== undefined && typeof key !== 'function') checkName(key, '`key`');
  const keyPrefix = raw['keyPrefix'];
  if (keyPrefix !== undefined) checkName(keyPrefix, '`keyPrefix`');
  const tags = raw['tags'];
  if (tags !== undefined && typeof tags !== 'function') {
    throw new CacheConfigError(
      `\`tags\` must be a function of the arguments returning the tags; got ${describe(tags)}`,
    );
  }
  const storageLevel = raw['storageLevel'];
  if (storageLevel !== undefined && !isStorageLevel(storageLevel)) {
    throw new CacheConfigError(
      `\`storageLevel\` must be StorageLevel.Service, Stack or Session; got ${describe(storageLevel)}`,
    );
  }
  const onError = raw['onError'];
  if (onError !== undefined && typeof onError !== 'function') {
    throw new CacheConfigError(`\`onError\` must be a function; got ${describe(onError)}`);
  }
  const context = raw['context'];
  if (typeof context !== 'function') checkContext(context, '`context`');
  const generationWindowSeconds = optionSeconds(raw['generationWindow'] ?? 0, 'generationWindow');
  const lease = raw['lease'] as boolean | LeaseOptions | undefined;
  // Core's own checks, so a bad lease or duration fails where the function is wrapped.
  resolveLease(lease, false);
  const resilience: ResilienceOptions = {
    grace: raw['grace'] as ResilienceOptions['grace'],
    staleWhileRevalidate: raw['staleWhileRevalidate'] as boolean | undefined,
    softTimeout: raw['softTimeout'] as ResilienceOptions['softTimeout'],
    hardTimeout: raw['hardTimeout'] as ResilienceOptions['hardTimeout'],
    negativeTtl: raw['negativeTtl'] as ResilienceOptions['negativeTtl'],
    jitter: raw['jitter'] as number | undefined,
  };
  resolveResilience(resilience, 0);
  return {
    ttlSeconds,
    key: key as NormalizedOptions['key'],
    keyPrefix: keyPrefix as string | undefined,
    tags: tags as NormalizedOptions['tags'],
    storageLevel: storageLevel,
    cacheNullish: flag(raw['cacheNullish'], 'cacheNullish', false),
    singleFlight: flag(raw['singleFlight'], 'singleFlight', true),
    generationWindowSeconds,
    lease,
    resilience,
    onError: onError as CacheErrorHandler | undefined,
    strict: flag(raw['strict'], 'strict', false),
    context: context as NormalizedOptions['context'],
  };
}
