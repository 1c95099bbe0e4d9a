/**
 * The value stored in a memcached item's 32-bit flags field: what the payload is. These are Q2's
 * codes (`q2_sdk.core.cache.CacheReturnCode`), so a Python service reading the same memcached sees
 * the same numbers. Memory and Redis backends store the code beside the bytes.
 *
 * It is a single code, not a bit field: compression is detected from the payload itself.
 */
export const CacheReturnCode = {
  /** UTF-8 text. */
  String: 1,
  /** UTF-8 JSON: objects, arrays, booleans, `null`, non-integer numbers. */
  Json: 2,
  /** A decimal integer as ASCII text (`-42`); memcached's `incr`/`decr` work on it. */
  Integer: 3,
  /** An encrypted token; the original type is inside the plaintext. */
  Encrypted: 4,
} as const;

/** One of the {@link CacheReturnCode} values. */
export type CacheReturnCode = (typeof CacheReturnCode)[keyof typeof CacheReturnCode];
