import { deflateSync, inflateSync } from 'node:zlib';

/**
 * True when bytes start like a zlib (RFC 1950) stream with a 32 KiB window — what Node's and
 * Python's zlib write by default. The writer never stores an uncompressed payload of this shape
 * (it compresses it instead), so the reader can tell compressed from plain items without a flag.
 */
export function looksLikeZlib(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 2 || bytes[0] !== 0x78) return false;
  const flg = bytes[1] as number;
  return (0x78 * 256 + flg) % 31 === 0 && (flg & 0x20) === 0;
}

/** zlib-compresses `bytes` with Node's defaults (what Python's `zlib.compress` reads). */
export function deflate(bytes: Uint8Array): Buffer {
  return deflateSync(bytes);
}

/**
 * Inflates `bytes` to at most `maxBytes`. Throws Node's `ERR_BUFFER_TOO_LARGE` error past the
 * limit (a decompression bomb) and zlib's own error for bytes that are not a zlib stream.
 */
export function inflate(bytes: Uint8Array, maxBytes: number): Buffer {
  return inflateSync(bytes, { maxOutputLength: maxBytes });
}
