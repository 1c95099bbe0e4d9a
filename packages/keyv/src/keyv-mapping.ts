import { CacheValueError, toTtlSeconds } from '@stowage/core';

/**
 * Turns the TTL Keyv hands a store — **milliseconds**, `undefined` when the entry has none — into
 * Stowage seconds. No TTL (`undefined`, `null` or `0`) gives `undefined`, so the client's
 * `defaultTtl` applies (no expiry unless the client sets one). Fractions are kept: backends that
 * count whole seconds round up, so an entry never expires before Keyv's own `expires` says.
 *
 * @throws CacheValueError for anything else than a finite number ≥ 0, or a TTL above core's
 *   `MAX_TTL_SECONDS`, before any I/O.
 */
export function keyvTtlSeconds(ttlMs: unknown, key: string): number | undefined {
  if (ttlMs === undefined || ttlMs === null || ttlMs === 0) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 0) {
    throw new CacheValueError(
      `Keyv's ttl is in milliseconds and must be a finite number ≥ 0; got ${typeof ttlMs === 'number' ? String(ttlMs) : typeof ttlMs}`,
      key,
    );
  }
  return toTtlSeconds(ttlMs / 1000, 'ttl (Keyv milliseconds / 1000)');
}

/**
 * Checks that Keyv handed the store a string. Keyv 5 serializes every entry (`{ value, expires }`)
 * to a string with its serializer before the store sees it; the adapter stores that string as a
 * Stowage String, byte for byte, so it comes back exactly as Keyv wrote it. A non-string means
 * the Keyv instance was built with `serialize: undefined`: its raw objects (Buffers, Dates, …)
 * would not survive JSON exactly, so they are refused rather than stored changed.
 *
 * @throws CacheValueError naming the key and the type, before any I/O.
 */
export function assertKeyvString(value: unknown, key: string): asserts value is string {
  if (typeof value === 'string') return;
  const kind = value === null ? 'null' : typeof value;
  throw new CacheValueError(
    `@stowage/keyv stores the strings Keyv serializes; got ${kind} for '${key}' — keep Keyv's serializer on (the default, or your own serialize/deserialize pair)`,
    key,
  );
}

/**
 * Whether a stored Keyv entry has passed its own `expires` (epoch ms) at `now`. Keyv 5 checks
 * `expires` after `get`, but trusts a store's `has`; a backend that counts whole seconds keeps an
 * entry up to a second past it, so `has` reads the envelope too. Text that is not a JSON object
 * with a numeric `expires` (a custom serializer's format) counts as not expired.
 */
export function keyvEntryExpired(text: string, now: number): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof parsed !== 'object' || parsed === null) return false;
  const expires = (parsed as { expires?: unknown }).expires;
  return typeof expires === 'number' && now > expires;
}
