import type { StoredEntry } from './backend/contract.js';

/**
 * A `Buffer` view of `bytes` without copying: the same object when it already is one. Backends
 * and the codec receive plain `Uint8Array`s from callers and other backends.
 */
export function toBytes(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * True when two entries hold the same flags and bytes: the integrity check's comparison of a
 * read-back with what was written, and a compare-and-delete's.
 */
export function sameEntry(a: StoredEntry | undefined, b: StoredEntry | undefined): boolean {
  if (a === b) return true; // an in-process backend handing back what it was given
  if (a === undefined || b === undefined || a.flags !== b.flags) return false;
  return a.value === b.value || toBytes(a.value).equals(b.value);
}
