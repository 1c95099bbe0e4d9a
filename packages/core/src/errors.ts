import type { StoredEntry } from './backend/contract.js';

/**
 * Every error code Stowage throws. `CacheError.code` is one of these, so callers can branch on
 * the code without importing a class (see {@link isCacheError}).
 */
export const CacheErrorCode = {
  /** Bad options or environment, or a backend package that is not installed. */
  Config: 'E_CACHE_CONFIG',
  /** A key that memcached would refuse (empty, too long, whitespace, control characters, …). */
  Key: 'E_CACHE_KEY',
  /** A value that cannot be cached (undefined, function, cycle, too large, …) or a bad TTL. */
  Value: 'E_CACHE_VALUE',
  /** A Stack or Session scope without its id, or a scope id that is not allowed. */
  Scope: 'E_CACHE_SCOPE',
  /** The backend failed: connection refused, reset, protocol error, server error. */
  Backend: 'E_CACHE_BACKEND',
  /** The backend did not answer within the deadline (`timeoutMs`). */
  Timeout: 'E_CACHE_TIMEOUT',
  /** `setAndReturn` could not confirm the write. */
  Write: 'E_CACHE_WRITE',
  /** A stored item could not be decoded; internal, reported as a miss plus a warning event. */
  Decode: 'E_CACHE_DECODE',
  /** The client or backend was closed. */
  Closed: 'E_CACHE_CLOSED',
  /** `getOrSet` waited for another caller's lease and gave up (`lease.onTimeout: 'throw'`). */
  LeaseTimeout: 'E_CACHE_LEASE_TIMEOUT',
  /** A factory failed where the cache answered for it (a stale value served, a background refresh). */
  Factory: 'E_CACHE_FACTORY',
} as const;

/** One of the {@link CacheErrorCode} values. */
export type CacheErrorCode = (typeof CacheErrorCode)[keyof typeof CacheErrorCode];

const CODES: ReadonlySet<string> = new Set(Object.values(CacheErrorCode));

/** Options shared by every Stowage error. */
export interface CacheErrorOptions {
  /** The underlying error, if any (ES2022 error cause). */
  cause?: unknown;
}

/**
 * Base class of every error Stowage throws. `code` names the kind; `name` is the class name.
 * Use {@link isCacheError} rather than `instanceof` when two copies of the package may be loaded.
 */
export class CacheError extends Error {
  /** Machine-readable kind of the error. */
  readonly code: CacheErrorCode;

  constructor(code: CacheErrorCode, message: string, options?: CacheErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = 'CacheError';
  }
}

/** Bad configuration: options, environment variables, URLs, or a backend package that is missing. */
export class CacheConfigError extends CacheError {
  constructor(message: string, options?: CacheErrorOptions) {
    super(CacheErrorCode.Config, message, options);
    this.name = 'CacheConfigError';
  }
}

/** A key that breaks the key rules; thrown before any I/O. */
export class CacheKeyError extends CacheError {
  /** The key as the caller passed it (may be truncated for very long keys). */
  readonly key: string | undefined;

  constructor(message: string, key?: string, options?: CacheErrorOptions) {
    super(CacheErrorCode.Key, message, options);
    this.name = 'CacheKeyError';
    this.key = key === undefined ? undefined : key.length > 300 ? `${key.slice(0, 300)}…` : key;
  }
}

/** A value or TTL that cannot be stored; thrown before any I/O. */
export class CacheValueError extends CacheError {
  /** The caller's key, when the error concerns one key. */
  readonly key: string | undefined;

  constructor(message: string, key?: string, options?: CacheErrorOptions) {
    super(CacheErrorCode.Value, message, options);
    this.name = 'CacheValueError';
    this.key = key;
  }
}

/** A scoped client was asked for without the id its level needs, or with an id that is not allowed. */
export class CacheScopeError extends CacheError {
  /** The storage level that was requested. */
  readonly level: string;

  constructor(message: string, level: string, options?: CacheErrorOptions) {
    super(CacheErrorCode.Scope, message, options);
    this.name = 'CacheScopeError';
    this.level = level;
  }
}

/** Fields of a {@link CacheBackendError}. */
export interface CacheBackendErrorOptions extends CacheErrorOptions {
  /** Name of the backend (`memory`, `memcached`, `redis`, …). */
  backend: string;
  /** The backend operation that failed (`get`, `set`, `getMany`, …). */
  operation: string;
  /** The full key, when the operation concerned one key. */
  key?: string | undefined;
  /**
   * True when the operation was a write whose bytes may have reached the server: the write may or
   * may not have been applied.
   */
  indeterminate?: boolean | undefined;
}

/** The backend failed. The original client error is in `cause`. */
export class CacheBackendError extends CacheError {
  /** Name of the backend that failed. */
  readonly backend: string;
  /** The operation that failed. */
  readonly operation: string;
  /** The full key, when the operation concerned one key. */
  readonly key: string | undefined;
  /** True when a write may have been applied even though it failed. */
  readonly indeterminate: boolean;

  constructor(message: string, options: CacheBackendErrorOptions, code?: CacheErrorCode) {
    super(code ?? CacheErrorCode.Backend, message, options);
    this.name = 'CacheBackendError';
    this.backend = options.backend;
    this.operation = options.operation;
    this.key = options.key;
    this.indeterminate = options.indeterminate ?? false;
  }
}

/** The backend did not answer within `timeoutMs`. A timed-out write is always indeterminate. */
export class CacheTimeoutError extends CacheBackendError {
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(message: string, options: CacheBackendErrorOptions & { timeoutMs: number }) {
    super(message, options, CacheErrorCode.Timeout);
    this.name = 'CacheTimeoutError';
    this.timeoutMs = options.timeoutMs;
  }
}

/** `setAndReturn` could not confirm that the server holds the value. */
export class CacheWriteError extends CacheError {
  /** The caller's key. */
  readonly key: string;

  constructor(message: string, key: string, options?: CacheErrorOptions) {
    super(CacheErrorCode.Write, message, options);
    this.name = 'CacheWriteError';
    this.key = key;
  }
}

/** A call on a client or backend that was closed; thrown before any I/O. */
export class CacheClosedError extends CacheError {
  constructor(message: string, options?: CacheErrorOptions) {
    super(CacheErrorCode.Closed, message, options);
    this.name = 'CacheClosedError';
  }
}

/**
 * `getOrSet` (or a cached function) found the key leased by another caller — another process
 * computing the value — and the value did not appear within `lease.wait`; thrown only with
 * `lease.onTimeout: 'throw'` (the default runs the factory instead). Nothing was written.
 */
export class CacheLeaseTimeoutError extends CacheError {
  /** The caller's key. */
  readonly key: string;
  /** How long the call waited, in milliseconds. */
  readonly waitedMs: number;

  constructor(message: string, at: { key: string; waitedMs: number }) {
    super(CacheErrorCode.LeaseTimeout, message);
    this.name = 'CacheLeaseTimeoutError';
    this.key = at.key;
    this.waitedMs = at.waitedMs;
  }
}

/**
 * A `getOrSet` factory threw (or was cut off by `hardTimeout`) where the caller did not see it:
 * a stale value was served instead, or the refresh ran in the background. Reported through
 * `onError` and the `error` event, with the factory's own error as `cause`; never thrown to the
 * caller of `getOrSet`, who gets the factory's error itself when no stale value is served.
 */
export class CacheFactoryError extends CacheError {
  /** The caller's key. */
  readonly key: string;

  constructor(message: string, key: string, options?: CacheErrorOptions) {
    super(CacheErrorCode.Factory, message, options);
    this.name = 'CacheFactoryError';
    this.key = key;
  }
}

/** Fields of a {@link CacheBatchError}. */
export interface CacheBatchErrorOptions extends CacheBackendErrorOptions {
  /** The failures of the parts that failed (one per failed server), in the order they failed. */
  failures: readonly CacheBackendError[];
  /** The full keys of the parts that failed (they were not read, or not known to be written). */
  failedKeys: readonly string[];
  /** `getMany`: the answer, aligned with the keys asked; keys of failed parts are `undefined`. */
  entries?: ReadonlyArray<StoredEntry | undefined> | undefined;
  /** `setMany`: the full keys not stored — refused by a server, or sent to a part that failed. */
  notStored?: readonly string[] | undefined;
}

/**
 * Part of a batch failed: one server of several did not answer `getMany`, `setMany` or
 * `deleteMany`, and the others did. It carries what the healthy part answered, so the client can
 * return a partial result (`partialBatches: 'return'`, its default for reads and writes) after
 * counting and reporting the failure, or throw it (`'throw'`). `indeterminate` is true when a
 * failed part held writes that may have been applied.
 */
export class CacheBatchError extends CacheBackendError {
  /** The failures of the parts that failed. */
  readonly failures: readonly CacheBackendError[];
  /** The full keys of the parts that failed. */
  readonly failedKeys: readonly string[];
  /** `getMany`: the partial answer, aligned with the keys asked. */
  readonly entries: ReadonlyArray<StoredEntry | undefined> | undefined;
  /** `setMany`: the full keys not stored. */
  readonly notStored: readonly string[] | undefined;

  constructor(message: string, options: CacheBatchErrorOptions) {
    super(message, options);
    this.name = 'CacheBatchError';
    this.failures = options.failures;
    this.failedKeys = options.failedKeys;
    this.entries = options.entries;
    this.notStored = options.notStored;
  }
}

/**
 * `error` as a {@link CacheBatchError} when it is one — by name and code, so one thrown by a
 * backend that loaded a second copy of this package counts too — else `undefined`.
 */
export function asBatchError(error: unknown): CacheBatchError | undefined {
  return isCacheError(error, CacheErrorCode.Backend) && error.name === 'CacheBatchError'
    ? (error as CacheBatchError)
    : undefined;
}

/**
 * A stored item could not be decoded (unknown flags, corrupt zlib, failed authentication, bad
 * JSON, …). Reads never throw it: they report a miss and emit a `warning` event carrying it.
 */
export class CacheDecodeError extends CacheError {
  /** The full key of the item. */
  readonly key: string | undefined;
  /** The item's flags as stored. */
  readonly flags: number | undefined;

  constructor(message: string, options?: CacheErrorOptions & { key?: string; flags?: number }) {
    super(CacheErrorCode.Decode, message, options);
    this.name = 'CacheDecodeError';
    this.key = options?.key;
    this.flags = options?.flags;
  }
}

/**
 * True when `error` is a Stowage error, optionally of one `code`. It checks `name` and `code`
 * rather than `instanceof` alone, so errors from a second copy of the package (ESM and CommonJS
 * loaded side by side) still match.
 *
 * @example
 * if (isCacheError(error, CacheErrorCode.Timeout)) retryLater();
 */
export function isCacheError(error: unknown, code?: CacheErrorCode): error is CacheError {
  if (error instanceof CacheError) return code === undefined || error.code === code;
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { code?: unknown; name?: unknown };
  if (typeof candidate.code !== 'string' || !CODES.has(candidate.code)) return false;
  if (typeof candidate.name !== 'string' || !candidate.name.startsWith('Cache')) return false;
  return code === undefined || candidate.code === code;
}
