import { isCacheError, type CacheError } from '../errors.js';

/** How a cache problem is handled where the cache must not fail the caller's work. */
export interface FailOpenPolicy {
  /** `true` throws the problem instead of reporting it. */
  readonly strict: boolean;
  /** Receives the problem when it is not thrown. A throw from it is absorbed (see `onReportError`). */
  readonly report: (error: CacheError) => void;
  /** Told when `report` itself threw. @default ignored */
  readonly onReportError?: ((error: unknown) => void) | undefined;
}

/**
 * The fail-open policy in one place (`getOrSet` and the decorator): a Stowage error is handed to
 * `report`, unless `strict`, when it is thrown; anything else is a bug and is always thrown.
 */
export function failOpen(error: unknown, policy: FailOpenPolicy): void {
  if (policy.strict || !isCacheError(error)) throw error;
  try {
    policy.report(error);
  } catch (reportError) {
    policy.onReportError?.(reportError);
  }
}
