import type { StoredEntry } from '../backend/contract.js';
import { toBytes } from '../bytes.js';

/**
 * Flags of an entry written with `grace`: `0x53544752` (the ASCII of `STGR`). Its payload is a
 * small header — when the value stops being fresh, when it is gone, and a refresh lease if one is
 * held — followed by the entry the codec made (its own flags and bytes). Outside Q2's codes 1–4,
 * so a Q2 Python reader gets `None` (not cached) rather than misreading the header.
 */
export const GRACE_FLAGS = 0x53_54_47_52;

/**
 * Flags of a "not found" entry (`negativeTtl`): `0x53544E46` (`STNF`). `getOrSet` answers
 * `undefined` from it without running the factory; every other read sees a miss.
 */
export const NOT_FOUND_FLAGS = 0x53_54_4e_46;

const VERSION = 1;
// version (1) + freshUntil (8) + staleUntil (8) + leaseUntil (8) + inner flags (4) + token length (1)
const HEADER_BYTES = 30;
const NOT_FOUND_BYTES = Buffer.from('stowage-not-found', 'latin1');

/** What the header of a graced entry says. Times are epoch milliseconds of the writer's clock. */
export interface GraceMeta {
  /** Until when the value is fresh (the write's `ttl`). */
  readonly freshUntil: number;
  /** Until when it may be served stale (`ttl` + `grace`); the server forgets it then. */
  readonly staleUntil: number;
  /** Until when the refresh lease in `token` holds; `0` when none is held. */
  readonly leaseUntil: number;
  /** The refresh lease's token (unique per lease); empty when none is held. */
  readonly token: string;
}

/** A graced entry taken apart: its header and the codec's entry inside. */
export interface GracedEntry {
  readonly meta: GraceMeta;
  readonly inner: StoredEntry;
}

/** A graced entry: `inner` (the codec's entry) behind a header holding `meta`. */
export function wrapGraced(inner: StoredEntry, meta: GraceMeta): StoredEntry {
  const token = Buffer.from(meta.token, 'latin1');
  const out = Buffer.allocUnsafe(HEADER_BYTES + token.byteLength + inner.value.byteLength);
  out.writeUInt8(VERSION, 0);
  out.writeDoubleBE(meta.freshUntil, 1);
  out.writeDoubleBE(meta.staleUntil, 9);
  out.writeDoubleBE(meta.leaseUntil, 17);
  out.writeUInt32BE(inner.flags >>> 0, 25);
  out.writeUInt8(token.byteLength, 29);
  token.copy(out, HEADER_BYTES);
  out.set(inner.value, HEADER_BYTES + token.byteLength);
  return { value: out, flags: GRACE_FLAGS };
}

/**
 * Takes a graced entry apart, or returns `undefined` when its header is malformed or of a later
 * version (the caller treats that as a value it cannot read).
 */
export function unwrapGraced(entry: StoredEntry): GracedEntry | undefined {
  const bytes = toBytes(entry.value);
  if (bytes.byteLength < HEADER_BYTES || bytes.readUInt8(0) !== VERSION) return undefined;
  const tokenLength = bytes.readUInt8(29);
  if (bytes.byteLength < HEADER_BYTES + tokenLength) return undefined;
  const freshUntil = bytes.readDoubleBE(1);
  const staleUntil = bytes.readDoubleBE(9);
  const leaseUntil = bytes.readDoubleBE(17);
  if (![freshUntil, staleUntil, leaseUntil].every(Number.isFinite)) return undefined;
  return {
    meta: {
      freshUntil,
      staleUntil,
      leaseUntil,
      token: bytes.toString('latin1', HEADER_BYTES, HEADER_BYTES + tokenLength),
    },
    inner: {
      value: bytes.subarray(HEADER_BYTES + tokenLength),
      flags: bytes.readUInt32BE(25),
    },
  };
}

/** The "not found" entry `negativeTtl` stores. */
export function notFoundEntry(): StoredEntry {
  return { value: NOT_FOUND_BYTES, flags: NOT_FOUND_FLAGS };
}
