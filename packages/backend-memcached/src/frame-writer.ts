import { toBytes } from '@stowage/core/backend';
import { HEADER_BYTES, HeaderOffset, Magic } from './protocol.js';

/**
 * Values at least this large are written as their own chunk (socket `writev`) instead of being
 * copied into the frame buffer.
 */
const SEPARATE_VALUE_BYTES = 16 * 1024;

/** Bytes a value adds to the frame buffer (large values are sent as a separate chunk). */
export function inlineValueBytes(value: Uint8Array): number {
  return value.byteLength >= SEPARATE_VALUE_BYTES ? 0 : value.byteLength;
}

/**
 * Writes binary-protocol request frames into one exactly-sized buffer, so a batch of any size is
 * one allocation and one socket write. Full keys are written as `prefix + key` without building
 * the concatenated string.
 *
 * A frame is written in protocol order: {@link FrameWriter.frame}, then its extras
 * ({@link FrameWriter.u32}, {@link FrameWriter.u64}), then {@link FrameWriter.key}, then
 * {@link FrameWriter.value}. Its key, extras and body lengths are not passed in: the writer counts
 * what was written and fills them into the header when the frame ends (at the next `frame` or at
 * {@link FrameWriter.finish}), so a header cannot disagree with its body.
 */
export class FrameWriter {
  /** The frame buffer; key offsets returned by {@link FrameWriter.key} point into it. */
  readonly buffer: Buffer;
  readonly #chunks: Buffer[] = [];
  readonly #prefix: string;
  readonly #prefixBytes: number;
  #offset = 0;
  #chunkStart = 0;
  /** Offset of the open frame's header; -1 while no frame is open. */
  #header = -1;
  // What the open frame holds so far: its header's lengths.
  #extrasBytes = 0;
  #keyBytes = 0;
  #valueBytes = 0;

  /**
   * @param inlineBytes exact size of everything but separately sent values: the sum of
   *   `HEADER_BYTES + extras + prefix + key + inlineValueBytes(value)` over all frames
   */
  constructor(inlineBytes: number, prefix: string, prefixBytes: number) {
    this.buffer = Buffer.allocUnsafe(inlineBytes);
    this.#prefix = prefix;
    this.#prefixBytes = prefixBytes;
  }

  /** Starts a frame: its header, with CAS 0 and the lengths filled in when the frame ends. */
  frame(opcode: number, opaque: number): void {
    this.#end();
    const header = this.#offset;
    this.buffer.fill(0, header, header + HEADER_BYTES);
    this.buffer[header + HeaderOffset.Magic] = Magic.Request;
    this.buffer[header + HeaderOffset.Opcode] = opcode;
    this.buffer.writeUInt32BE(opaque >>> 0, header + HeaderOffset.Opaque);
    this.#header = header;
    this.#offset = header + HEADER_BYTES;
    this.#extrasBytes = 0;
    this.#keyBytes = 0;
    this.#valueBytes = 0;
  }

  /**
   * Puts a CAS value in the open frame's header (written as zero by {@link FrameWriter.frame}):
   * the server then applies the command only while the item still has this CAS.
   */
  cas(high: number, low: number): void {
    this.buffer.writeUInt32BE(high >>> 0, this.#header + HeaderOffset.CasHigh);
    this.buffer.writeUInt32BE(low >>> 0, this.#header + HeaderOffset.CasLow);
  }

  /** Writes a big-endian uint32 extra. */
  u32(value: number): void {
    this.buffer.writeUInt32BE(value >>> 0, this.#offset);
    this.#offset += 4;
    this.#extrasBytes += 4;
  }

  /** Writes a big-endian uint64 extra. */
  u64(value: bigint): void {
    this.buffer.writeBigUInt64BE(value, this.#offset);
    this.#offset += 8;
    this.#extrasBytes += 8;
  }

  /**
   * Writes `prefix + key`, `keyBytes` being the UTF-8 length of `key` alone; returns the offset
   * of its first byte in {@link FrameWriter.buffer}.
   */
  key(key: string, keyBytes: number): number {
    const start = this.#offset;
    if (this.#prefixBytes > 0) this.buffer.write(this.#prefix, start, this.#prefixBytes, 'utf8');
    this.buffer.write(key, start + this.#prefixBytes, keyBytes, 'utf8');
    this.#offset = start + this.#prefixBytes + keyBytes;
    this.#keyBytes = this.#prefixBytes + keyBytes;
    return start;
  }

  /** Writes a value: copied when small, queued as its own chunk when large. */
  value(value: Uint8Array): void {
    this.#valueBytes = value.byteLength;
    if (value.byteLength >= SEPARATE_VALUE_BYTES) {
      if (this.#offset > this.#chunkStart) {
        this.#chunks.push(this.buffer.subarray(this.#chunkStart, this.#offset));
      }
      this.#chunks.push(toBytes(value));
      this.#chunkStart = this.#offset;
      return;
    }
    this.buffer.set(value, this.#offset);
    this.#offset += value.byteLength;
  }

  /** Ends the open frame, if any: writes its lengths into its header. */
  #end(): void {
    const header = this.#header;
    if (header < 0) return;
    this.buffer.writeUInt16BE(this.#keyBytes, header + HeaderOffset.KeyLength);
    this.buffer[header + HeaderOffset.ExtrasLength] = this.#extrasBytes;
    this.buffer.writeUInt32BE(
      this.#extrasBytes + this.#keyBytes + this.#valueBytes,
      header + HeaderOffset.BodyLength,
    );
    this.#header = -1;
  }

  /** Ends the last frame and returns the bytes to send, in order. */
  finish(): Buffer[] {
    this.#end();
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
