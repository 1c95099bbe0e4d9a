import { CacheBackendError, CacheError, CacheTimeoutError } from '../errors.js';

/** Longest delay a Node timer honours (2^31 − 1 ms); a longer one fires after 1 ms. */
export const MAX_TIMER_MS: number = 2 ** 31 - 1;

/** What a backend call is about, for errors. */
export interface CallInfo {
  readonly backend: string;
  readonly operation: string;
  readonly key: string | undefined;
  /** True for writes: a failure may still have been applied on the server. */
  readonly write: boolean;
}

/**
 * Wraps anything a backend threw into a Stowage error. Backends should throw `CacheBackendError`
 * themselves; this keeps a raw client error from ever reaching a caller if one does not.
 */
export function toCacheError(error: unknown, info: CallInfo): CacheError {
  if (error instanceof CacheError) return error;
  if (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string'
  ) {
    const code = (error as { code: string }).code;
    if (code.startsWith('E_CACHE_')) return error as CacheError; // from a second copy of core
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CacheBackendError(`${info.backend} ${info.operation} failed: ${message}`, {
    backend: info.backend,
    operation: info.operation,
    key: info.key,
    indeterminate: info.write,
    cause: error,
  });
}

/**
 * Settles with `promise`, or rejects with `CacheTimeoutError` after `timeoutMs`. A late answer
 * (or a late rejection) of the original promise is absorbed, never left unhandled.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  timeoutMs: number,
  info: CallInfo,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new CacheTimeoutError(
          `${info.backend} ${info.operation} did not answer within ${timeoutMs} ms`,
          {
            backend: info.backend,
            operation: info.operation,
            key: info.key,
            indeterminate: info.write,
            timeoutMs,
          },
        ),
      );
    }, timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(toCacheError(error, info));
      },
    );
  });
}
