import type { StoredEntry } from '../backend/contract.js';
import { toBytes } from '../bytes.js';

/**
 * Flags of an entry written with `tags`: `0x53544754` (the ASCII of `STGT`). Its payload is a
 * header — for each tag, the SHA-256 of its name and the version the tag had when the value was
 * computed — followed by the entry inside (a codec entry, a graced entry or a "not found"
 * entry, with its own flags). Outside Q2's codes 1–4, so a Q2 Python reader gets `None` (not
 * cached) rather than misreading the header.
 *
 * The header never holds a tag's name, only its digest, so an encrypted cache keeps tag names
 * out of its values (they are as visible as keys: the digest of a guessable tag can be guessed).
 */
export const TAGGED_FLAGS = 0x53_54_47_54;

/** Bytes of a tag's digest in a header (SHA-256). */
export const TAG_DIGEST_BYTES = 32;
/** Bytes of a tag version (random). */
export const TAG_VERSION_BYTES = 16;

const FORMAT = 1;
// format (1) + inner flags (4) + stamp count (1)
const HEAD_BYTES = 6;
const STAMP_BYTES = TAG_DIGEST_BYTES + TAG_VERSION_BYTES;

/** One tag of a tagged entry: its digest (base64url SHA-256) and the version it was written under. */
export interface TagStamp {
  /** The tag's SHA-256, base64url (43 characters): names its version key. */
  readonly digest: string;
  /** The tag's version when the value was computed ({@link TAG_VERSION_BYTES} bytes). */
  readonly version: Uint8Array;
}

/** A tagged entry taken apart: its stamps and the entry inside. */
export interface TaggedEntry {
  readonly stamps: readonly TagStamp[];
  readonly inner: StoredEntry;
}

/** Wraps `inner` behind a header holding `stamps` (at most 255). */
export function wrapTagged(inner: StoredEntry, stamps: readonly TagStamp[]): StoredEntry {
  const out = Buffer.allocUnsafe(HEAD_BYTES + stamps.length * STAMP_BYTES + inner.value.byteLength);
  out.writeUInt8(FORMAT, 0);
  out.writeUInt32BE(inner.flags >>> 0, 1);
  out.writeUInt8(stamps.length, 5);
  let at = HEAD_BYTES;
  for (const stamp of stamps) {
    Buffer.from(stamp.digest, 'base64url').copy(out, at, 0, TAG_DIGEST_BYTES);
    out.set(stamp.version, at + TAG_DIGEST_BYTES);
    at += STAMP_BYTES;
  }
  out.set(inner.value, at);
  return { value: out, flags: TAGGED_FLAGS };
}

/**
 * Takes a tagged entry apart, or returns `undefined` when its header is malformed or of a later
 * format (the caller reads that as a miss).
 */
export function unwrapTagged(entry: StoredEntry): TaggedEntry | undefined {
  const bytes = toBytes(entry.value);
  if (bytes.byteLength < HEAD_BYTES || bytes.readUInt8(0) !== FORMAT) return undefined;
  const count = bytes.readUInt8(5);
  const end = HEAD_BYTES + count * STAMP_BYTES;
  if (count === 0 || bytes.byteLength < end) return undefined;
  const stamps: TagStamp[] = [];
  for (let at = HEAD_BYTES; at < end; at += STAMP_BYTES) {
    stamps.push({
      digest: bytes.toString('base64url', at, at + TAG_DIGEST_BYTES),
      version: bytes.subarray(at + TAG_DIGEST_BYTES, at + STAMP_BYTES),
    });
  }
  return { stamps, inner: { value: bytes.subarray(end), flags: bytes.readUInt32BE(1) } };
}

/** Bytes of a tagged entry holding `count` tags around an inner entry of `innerBytes` bytes. */
export function taggedBytes(innerBytes: number, count: number): number {
  return HEAD_BYTES + count * STAMP_BYTES + innerBytes;
}
