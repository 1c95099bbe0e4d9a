import { HEADER_BYTES, writeHeader } from './protocol.js';

/**
 * Values at least this large are written as their own chunk (socket `writev`) instead of being
 * copied into the frame buffer.
 */
const SEPARATE_VALUE_BYTES = 16 * 1024;

/** Bytes a value adds to the frame buffer (large values are sent as a separate chunk). */
export function inlineValueBytes(value: Uint8Array): number {
  return value.byteLength >= SEPARATE_VALUE_BYTES ? 0 : value.byteLength;
}

function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value)
    ? value
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * Writes binary-protocol request frames into one exactly-sized buffer, so a batch of any size is
 * one allocation and one socket write. Full keys are written as `prefix + key` without building
 * the concatenated string.
 */
export class FrameWriter {
  /** The frame buffer; key offsets returned by {@link FrameWriter.frame} point into it. */
  readonly buffer: Buffer;
  readonly #chunks: Buffer[] = [];
  readonly #prefix: string;
  readonly #prefixBytes: number;
  #offset = 0;
  #chunkStart = 0;
  /** Offset of the last frame's header, for {@link FrameWriter.cas}. */
  #header = 0;

  /**
   * @param inlineBytes exact size of everything but separately sent values: the sum of
   *   `HEADER_BYTES + extras + prefix + key + inlineValueBytes(value)` over all frames
   */
  constructor(inlineBytes: number, prefix: string, prefixBytes: number) {
    this.buffer = Buffer.allocUnsafe(inlineBytes);
    this.#prefix = prefix;
    this.#prefixBytes = prefixBytes;
  }

  /**
   * Appends one frame. `keyBytes` is the UTF-8 length of `key` without the prefix (`-1` for a
   * frame without a key). Extras are written by the caller right after this returns, through
   * {@link FrameWriter.u32} / {@link FrameWriter.u64}, so the order is header, extras, key, value:
   * call `frame`, then the extras writers, then {@link FrameWriter.key} and {@link FrameWriter.value}.
   */
  frame(
    opcode: number,
    opaque: number,
    extrasBytes: number,
    keyBytes: number,
    valueBytes: number,
  ): void {
    const fullKeyBytes = keyBytes < 0 ? 0 : this.#prefixBytes + keyBytes;
    this.#header = this.#offset;
    writeHeader(
      this.buffer,
      this.#offset,
      opcode,
      fullKeyBytes,
      extrasBytes,
      extrasBytes + fullKeyBytes + valueBytes,
      opaque,
    );
    this.#offset += HEADER_BYTES;
  }

  /**
   * Puts a CAS value in the last frame's header (written as zero by {@link FrameWriter.frame}):
   * the server then applies the command only while the item still has this CAS.
   */
  cas(high: number, low: number): void {
    this.buffer.writeUInt32BE(high >>> 0, this.#header + 16);
    this.buffer.writeUInt32BE(low >>> 0, this.#header + 20);
  }

  /** Writes a big-endian uint32 extra. */
  u32(value: number): void {
    this.buffer.writeUInt32BE(value >>> 0, this.#offset);
    this.#offset += 4;
  }

  /** Writes a big-endian uint64 extra. */
  u64(value: bigint): void {
    this.buffer.writeBigUInt64BE(value, this.#offset);
    this.#offset += 8;
  }

  /** Writes `prefix + key`; returns the offset of its first byte in {@link FrameWriter.buffer}. */
  key(key: string, keyBytes: number): number {
    const start = this.#offset;
    if (this.#prefixBytes > 0) this.buffer.write(this.#prefix, start, this.#prefixBytes, 'utf8');
    this.buffer.write(key, start + this.#prefixBytes, keyBytes, 'utf8');
    this.#offset = start + this.#prefixBytes + keyBytes;
    return start;
  }

  /** Writes a value: copied when small, queued as its own chunk when large. */
  value(value: Uint8Array): void {
    if (value.byteLength >= SEPARATE_VALUE_BYTES) {
      if (this.#offset > this.#chunkStart) {
        this.#chunks.push(this.buffer.subarray(this.#chunkStart, this.#offset));
      }
      this.#chunks.push(asBuffer(value));
      this.#chunkStart = this.#offset;
      return;
    }
    this.buffer.set(value, this.#offset);
    this.#offset += value.byteLength;
  }

  /** The bytes to send, in order. */
  finish(): Buffer[] {
    if (this.#offset > this.#chunkStart) {
      this.#chunks.push(this.buffer.subarray(this.#chunkStart, this.#offset));
    }
    return this.#chunks;
  }

  /** True when the `length` bytes at `offset` of the frame buffer equal `bytes`. */
  matches(offset: number, length: number, bytes: Buffer): boolean {
    return (
      bytes.length === length &&
      this.buffer.compare(bytes, 0, length, offset, offset + length) === 0
    );
  }
}
