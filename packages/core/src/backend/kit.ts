/**
 * `@stowage/core/backend`: the helpers every backend shares — the wire-key rule, byte views, TTL
 * conversion, the closed error, URL query options, integer options, and the one rule for a
 * transport failure's `indeterminate`. The bundled backends use only these, so a rule changes in
 * one place; a third-party backend can use them too.
 */
import {
  CacheBackendError,
  CacheClosedError,
  CacheConfigError,
  CacheKeyError,
  CacheValueError,
} from '../errors.js';
import { ILLEGAL_KEY_CHAR } from '../keys/key-space.js';
import type { StoredEntry } from './contract.js';

export type {
  Awaitable,
  BackendCapabilities,
  BackendLimits,
  BackendModule,
  BackendUrlOptions,
  BackendWarning,
  BackendWrite,
  CacheBackend,
  StoredEntry,
} from './contract.js';
export { DEFAULT_MAX_VALUE_BYTES } from './contract.js';
// The invalidation bus an L1 listens to (`@stowage/bus-redis`, or your own transport).
export { BusAction } from '../bus/contract.js';
export type {
  BusHandlers,
  BusMessage,
  BusModule,
  BusUrlOptions,
  CacheBus,
} from '../bus/contract.js';
export { MAX_TIMER_MS } from './deadline.js';
export { isLeaseMarker, LEASE_FLAGS, LEASE_MARKER_PREFIX, newLeaseMarker } from './lease-marker.js';
export { integerOption } from '../options.js';
export type { IntegerRange } from '../options.js';
export { retainedBytes } from '../codec/codec.js';
export { sameEntry, toBytes } from '../bytes.js';
export { ILLEGAL_KEY_CHAR, MEMCACHED_MAX_KEY_BYTES } from '../keys/key-space.js';
// For tools that describe a stored entry without decoding it through a client (the `stowage`
// CLI's inspect): how the codec recognises compressed bytes, and a graced entry's header.
export { looksLikeZlib } from '../codec/zlib.js';
export { unwrapGraced } from '../codec/grace.js';
export { TAGGED_FLAGS, unwrapTagged } from '../tags/tag-header.js';
export type { TaggedEntry, TagStamp } from '../tags/tag-header.js';
export { TAG_VERSION_FLAGS } from '../tags/tag-versions.js';
export type { GraceMeta, GracedEntry } from '../codec/grace.js';

/**
 * Checks a full key as it goes on the wire and returns its UTF-8 length in bytes. Throws
 * `CacheKeyError` for a key that is not a non-empty string, holds an {@link ILLEGAL_KEY_CHAR}, or
 * is longer than `maxKeyBytes`. `limitNote` is added to the too-long message (what the limit is
 * made of).
 */
export function checkWireKey(key: unknown, maxKeyBytes: number, limitNote = ''): number {
  if (typeof key !== 'string' || key.length === 0) {
    throw new CacheKeyError(
      'key must be a non-empty string',
      typeof key === 'string' ? key : undefined,
    );
  }
  if (ILLEGAL_KEY_CHAR.test(key)) {
    throw new CacheKeyError(
      'key contains whitespace, a control character or a lone surrogate',
      key,
    );
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > maxKeyBytes) {
    throw new CacheKeyError(
      `key is too long: ${bytes} bytes, the limit is ${maxKeyBytes}${limitNote}`,
      key,
    );
  }
  return bytes;
}

const MAX_FLAGS = 0xffffffff;

/**
 * Checks an entry handed to a backend directly (the client always hands well-formed ones): a
 * `Uint8Array` value and flags that are an unsigned 32-bit integer. Throws `CacheValueError`.
 * Size is not checked here: a value over the backend's `maxValueBytes` is a refused write
 * (`false`), which also removes the key's old value.
 */
export function checkEntry(key: string, entry: StoredEntry): void {
  if (typeof entry !== 'object' || entry === null || !(entry.value instanceof Uint8Array)) {
    throw new CacheValueError('entry value must be a Uint8Array', key);
  }
  if (!Number.isInteger(entry.flags) || entry.flags < 0 || entry.flags > MAX_FLAGS) {
    throw new CacheValueError(
      `flags must be an unsigned 32-bit integer; got ${String(entry.flags)}`,
      key,
    );
  }
}

/**
 * A TTL in seconds (fractional allowed, `0` = no expiry) as whole milliseconds, rounded **up** so
 * a sub-millisecond TTL never becomes `0`, which would mean "no expiry".
 */
export function ttlToMilliseconds(ttlSeconds: number): number {
  return ttlSeconds === 0 ? 0 : Math.max(1, Math.ceil(ttlSeconds * 1000));
}

/** The error every call on a closed backend throws: `CacheClosedError` naming the backend. */
export function closedError(backend: string): CacheClosedError {
  return new CacheClosedError(`the ${backend} backend is closed`);
}

/** How a URL query option is read: `'integer'` (a positive safe integer) or `'string'`. */
export type UrlOptionKind = 'integer' | 'string';

/**
 * Reads the query of a backend URL against `spec` (option name → kind). An unknown name or an
 * integer option that is not a positive safe integer throws `CacheConfigError` naming the scheme
 * and the option; a repeated name keeps its last value.
 *
 * @example
 * parseUrlOptions('memory', url.searchParams, { maxEntries: 'integer' }); // { maxEntries: 1000 }
 */
export function parseUrlOptions<S extends Readonly<Record<string, UrlOptionKind>>>(
  scheme: string,
  query: URLSearchParams,
  spec: S,
): { -readonly [K in keyof S]?: S[K] extends 'integer' ? number : string } {
  const known = Object.keys(spec);
  const options: Record<string, number | string> = {};
  for (const [name, value] of query) {
    if (!Object.hasOwn(spec, name)) {
      throw new CacheConfigError(
        `unknown ${scheme}:// option '${name}'; known: ${known.join(', ')}`,
      );
    }
    if (spec[name] === 'string') {
      options[name] = value;
      continue;
    }
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed <= 0) {
      throw new CacheConfigError(
        `${scheme}:// option '${name}' must be a positive integer; got '${value}'`,
      );
    }
    options[name] = parsed;
  }
  return options as { -readonly [K in keyof S]?: S[K] extends 'integer' ? number : string };
}

/** What a backend knows about a failed call, for {@link transportError}. */
export interface TransportFailure {
  /** The backend's name. */
  readonly backend: string;
  /** The backend method (`get`, `setMany`, …). */
  readonly operation: string;
  /** The full key, when the call concerned one. */
  readonly key?: string | undefined;
  /** `true` for every call that changes the server: sets, adds, touches, counters and deletes. */
  readonly write: boolean;
  /** `true` once any byte of the request may have reached the server. */
  readonly sent: boolean;
  /** What happened, for the message. */
  readonly message: string;
  /** The transport's own error. */
  readonly cause?: unknown;
}

/**
 * The `CacheBackendError` of a failed call, with the one rule for `indeterminate` every backend
 * keeps: a write (deletes included) that may have reached the server may have been applied;
 * anything not sent, and every read, was not.
 */
export function transportError(failure: TransportFailure): CacheBackendError {
  return new CacheBackendError(failure.message, {
    backend: failure.backend,
    operation: failure.operation,
    key: failure.key,
    indeterminate: failure.write && failure.sent,
    cause: failure.cause,
  });
}
