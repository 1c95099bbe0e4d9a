/**
 * @module
 * How an entry (bytes + 32-bit flags) is laid out in one Redis string value (format version 2).
 *
 * - An integer entry (`flags` = `CacheReturnCode.Integer`) whose bytes are a canonical signed
 *   64-bit decimal (`0`, `42`, `-7`; no sign `+`, no leading zeros, no spaces) is stored **raw**,
 *   so Redis's own `INCRBY`/`DECRBY` work on it and `redis-cli GET` shows the number.
 * - Every other entry is stored as a 10-byte header followed by the payload:
 *   `0xFF` (never the first byte of UTF-8 text or of a decimal), the format version `0x02`, a
 *   checksum (zlib's CRC-32, unsigned 32-bit big-endian) computed over the full Redis key's UTF-8
 *   bytes, the flags and the payload, then the flags as an unsigned 32-bit big-endian integer.
 *
 * The checksum is what lets a reader tell a reply that really is this key's value from one a
 * damaged or desynchronised connection produced: bytes dropped, inserted or changed anywhere in
 * the flags or payload, or a whole reply meant for another key (the key is part of the sum), all
 * fail it. A value copied to another key with `RENAME`/`COPY` fails it too, on purpose.
 *
 * Reading reverses this (see {@link readStored}): a value with a version-2 header whose checksum
 * matches yields its flags and payload; a raw canonical decimal yields `CacheReturnCode.Integer`;
 * a version-1 header (`FF 01` + flags, written by earlier releases, without a checksum) is read as
 * a miss; a version-2 header that is truncated or fails its checksum is damage; anything else (a
 * value another program wrote) yields flags `0`, which the client reports as an undecodable item
 * (a miss plus a `warning`), as memcached does for an item stored without flags.
 */
import { crc32 } from 'node:zlib';
import { CacheReturnCode, type StoredEntry } from '@stowage/core';

/** Bytes of the version-2 header: `FF 02`, the checksum (4 bytes), the flags (4 bytes). */
export const HEADER_BYTES = 10;
/** Bytes of the header of format version 1 (`FF 01` + flags), read as a miss since version 2. */
export const LEGACY_HEADER_BYTES = 6;
const MAGIC = 0xff;
const VERSION = 0x02;
const LEGACY_VERSION = 0x01;
/** Offset of the checksum, then of the flags, in a version-2 header. */
const CRC_AT = 2;
const FLAGS_AT = 6;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const INT64_MAX = '9223372036854775807';
const INT64_MIN_DIGITS = '9223372036854775808';

/** Flags reported for a value that is neither raw decimal nor in Stowage's format. */
export const FOREIGN_FLAGS = 0;

/**
 * Why a stored value is not returned as an entry (see {@link readStored}):
 * - `legacy`: written by an earlier release (format version 1, no checksum) — a miss;
 * - `truncated`: a version-2 header cut short — damage;
 * - `checksum`: the checksum does not match the key, flags and payload — damage.
 */
export const StoredProblem = {
  Legacy: 'legacy',
  Truncated: 'truncated',
  Checksum: 'checksum',
} as const;
/** One of the {@link StoredProblem} values. */
export type StoredProblem = (typeof StoredProblem)[keyof typeof StoredProblem];

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

/**
 * The checksum of a version-2 value: CRC-32 of the key's UTF-8 bytes, then of `body` (the flags
 * and the payload, as they follow the checksum in the stored value).
 */
function checksum(key: string, body: Uint8Array): number {
  return crc32(body, crc32(key));
}

/**
 * Lays out an entry as the Redis value stored under `key` (the full Redis key, with the backend's
 * `keyPrefix`; see the module comment for the format).
 */
export function encodeStored(entry: StoredEntry, key: string): Buffer {
  const value = entry.value;
  if (entry.flags === CacheReturnCode.Integer && isCanonicalInt64(value)) return asBuffer(value);
  const stored = Buffer.allocUnsafe(HEADER_BYTES + value.byteLength);
  stored[0] = MAGIC;
  stored[1] = VERSION;
  stored.writeUInt32BE(entry.flags >>> 0, FLAGS_AT);
  stored.set(value, HEADER_BYTES);
  stored.writeUInt32BE(checksum(key, stored.subarray(FLAGS_AT)), CRC_AT);
  return stored;
}

/**
 * Reads the value stored under `key` (the full Redis key). Never throws: resolves the entry, or
 * the {@link StoredProblem} that keeps it from being one. A value another program wrote is an
 * entry with flags {@link FOREIGN_FLAGS}; a raw decimal is checked strictly (a canonical signed
 * 64-bit decimal, nothing else), because it carries no checksum.
 */
export function readStored(stored: Buffer, key: string): StoredEntry | StoredProblem {
  if (stored.length >= 2 && stored[0] === MAGIC) {
    const version = stored[1];
    if (version === VERSION) {
      if (stored.length < HEADER_BYTES) return StoredProblem.Truncated;
      if (checksum(key, stored.subarray(FLAGS_AT)) !== stored.readUInt32BE(CRC_AT)) {
        return StoredProblem.Checksum;
      }
      return { value: stored.subarray(HEADER_BYTES), flags: stored.readUInt32BE(FLAGS_AT) };
    }
    // Format version 1 carries no checksum, so a damaged reply could not be told from a good
    // one: when in doubt, miss. The next write of the key stores version 2.
    if (version === LEGACY_VERSION && stored.length >= LEGACY_HEADER_BYTES) {
      return StoredProblem.Legacy;
    }
  }
  if (isCanonicalInt64(stored)) return { value: stored, flags: CacheReturnCode.Integer };
  return { value: stored, flags: FOREIGN_FLAGS };
}

/**
 * Reads the value stored under `key` (the full Redis key) as an entry, for tools that look at
 * the server directly. `undefined` when it is not one: written by an earlier release (format
 * version 1), truncated, or failing its checksum. Never throws.
 */
export function decodeStored(stored: Buffer, key: string): StoredEntry | undefined {
  const read = readStored(stored, key);
  return typeof read === 'string' ? undefined : read;
}
