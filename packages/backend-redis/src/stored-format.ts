import { CacheReturnCode, type StoredEntry } from '@stowage/core';

/**
 * How an entry (bytes + 32-bit flags) is laid out in one Redis string value.
 *
 * - An integer entry (`flags` = `CacheReturnCode.Integer`) whose bytes are a canonical signed
 *   64-bit decimal (`0`, `42`, `-7`; no sign `+`, no leading zeros, no spaces) is stored **raw**,
 *   so Redis's own `INCRBY`/`DECRBY` work on it and `redis-cli GET` shows the number.
 * - Every other entry is stored as a 6-byte header followed by the payload:
 *   `0xFF` (never the first byte of UTF-8 text or of a decimal), the format version `0x01`, then
 *   the flags as an unsigned 32-bit big-endian integer.
 *
 * Reading reverses this: a value with the header yields its flags and the bytes after it; a raw
 * canonical decimal yields `CacheReturnCode.Integer`; anything else (a value another program
 * wrote) yields flags `0`, which the client reports as an undecodable item (a miss plus a
 * `warning`), as memcached does for an item stored without flags.
 */
export const HEADER_BYTES = 6;
const MAGIC = 0xff;
const VERSION = 0x01;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const INT64_MAX = '9223372036854775807';
const INT64_MIN_DIGITS = '9223372036854775808';

/** Flags reported for a value that is neither raw decimal nor in Stowage's format. */
export const FOREIGN_FLAGS = 0;

/** True when `bytes` is a canonical signed 64-bit decimal, exactly what Redis's INCRBY accepts. */
export function isCanonicalInt64(bytes: Uint8Array): boolean {
  const length = bytes.length;
  if (length === 0 || length > 20) return false;
  let start = 0;
  if (bytes[0] === MINUS) {
    if (length === 1) return false;
    start = 1;
  }
  // "0" alone is canonical; "-0", "007" are not (Redis would keep them as text).
  if (bytes[start] === ZERO) return length === 1;
  for (let i = start; i < length; i++) {
    const c = bytes[i] as number;
    if (c < ZERO || c > NINE) return false;
  }
  const digits = length - start;
  if (digits < 19) return true;
  if (digits > 19) return false;
  const limit = start === 1 ? INT64_MIN_DIGITS : INT64_MAX;
  for (let i = 0; i < 19; i++) {
    const c = bytes[start + i] as number;
    const l = limit.charCodeAt(i);
    if (c !== l) return c < l;
  }
  return true;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Lays out an entry as one Redis value (see the module comment for the format). */
export function encodeStored(entry: StoredEntry): Buffer {
  const value = entry.value;
  if (entry.flags === CacheReturnCode.Integer && isCanonicalInt64(value)) return asBuffer(value);
  const stored = Buffer.allocUnsafe(HEADER_BYTES + value.byteLength);
  stored[0] = MAGIC;
  stored[1] = VERSION;
  stored.writeUInt32BE(entry.flags >>> 0, 2);
  stored.set(value, HEADER_BYTES);
  return stored;
}

/** Reads an entry back from a Redis value; never throws. */
export function decodeStored(stored: Buffer): StoredEntry {
  if (stored.length >= HEADER_BYTES && stored[0] === MAGIC && stored[1] === VERSION) {
    return { value: stored.subarray(HEADER_BYTES), flags: stored.readUInt32BE(2) };
  }
  if (isCanonicalInt64(stored)) return { value: stored, flags: CacheReturnCode.Integer };
  return { value: stored, flags: FOREIGN_FLAGS };
}
