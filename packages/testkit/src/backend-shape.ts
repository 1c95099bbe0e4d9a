/**
 * The few shapes of `@stowage/core`'s backend contract the test backends need, declared here
 * structurally: testkit must not depend on core, because core's own tests depend on testkit
 * (turbo refuses a dependency cycle). A backend built from these is a `CacheBackend` by shape.
 */

/** A value or a promise of it. */
export type Answer<T> = T | Promise<T>;

/** Stored bytes and their 32-bit flags (core's `StoredEntry`). */
export interface Entry {
  readonly value: Uint8Array;
  readonly flags: number;
}

/** One write of a batch (core's `BackendWrite`). */
export interface Write {
  readonly key: string;
  readonly entry: Entry;
}

/** A failure a backend reports without failing the call (core's `BackendWarning`). */
export interface Warning {
  readonly operation: string;
  readonly key?: string | undefined;
  readonly error: Error;
}

/**
 * An error core recognises as its own by `name` and `code` (`isCacheError` and its error mapping
 * check those, not `instanceof`), thrown where a real backend would throw a Stowage error.
 */
export function contractError(
  kind: { readonly name: string; readonly code: string },
  message: string,
): Error {
  return Object.assign(new Error(message), { name: kind.name, code: kind.code });
}

/** `CacheValueError`, by name and code. */
export const VALUE_ERROR = { name: 'CacheValueError', code: 'E_CACHE_VALUE' } as const;
