import { CacheReturnCode, type StoredEntry } from '@stowage/core';

/** An entry of `text` (UTF-8) or raw bytes under `flags` (default String). */
export function entry(
  text: string | Uint8Array,
  flags: number = CacheReturnCode.String,
): StoredEntry {
  return { value: typeof text === 'string' ? Buffer.from(text, 'utf8') : text, flags };
}

/** The payload of `found` as UTF-8 text, `undefined` on a miss. */
export function textOf(found: StoredEntry | undefined): string | undefined {
  return found === undefined ? undefined : Buffer.from(found.value).toString('utf8');
}

/** The payload of `found` as hex, `undefined` on a miss. */
export function bytesOf(found: StoredEntry | undefined): string | undefined {
  return found === undefined ? undefined : Buffer.from(found.value).toString('hex');
}

/**
 * Runs a backend call that may answer synchronously, throw synchronously or return a promise,
 * as a promise: a synchronous throw becomes a rejection.
 */
export function attempt<T>(call: () => T | Promise<T>): Promise<T> {
  return Promise.resolve().then(call);
}

/** What `call` rejected (or threw) with; rejects itself when the call succeeded. */
export function rejectionOf(call: () => unknown): Promise<unknown> {
  return attempt(call).then(
    (value) => {
      throw new Error(`expected the call to reject; it resolved ${String(value)}`);
    },
    (error: unknown) => error,
  );
}

/** Resolves after `ms` real milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
