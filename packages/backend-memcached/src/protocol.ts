// memcached binary protocol: the constants and frame writers the backend needs. Requests are
// written straight into one buffer per batch; memjs's `makeRequestBuffer` allocates four buffers
// per frame and has no quiet opcodes.

/** Size of a binary-protocol header, in bytes. */
export const HEADER_BYTES = 24;

/** First byte of every request and every response. */
export const Magic = {
  Request: 0x80,
  Response: 0x81,
} as const;

/** The opcodes Stowage sends. `Append`/`Prepend` are deliberately absent (memjs's prepend appends). */
export const Opcode = {
  Set: 0x01,
  Add: 0x02,
  Delete: 0x04,
  Increment: 0x05,
  Decrement: 0x06,
  Flush: 0x08,
  Noop: 0x0a,
  GetK: 0x0c,
  GetKQ: 0x0d,
  SetQ: 0x11,
  DeleteQ: 0x14,
  Touch: 0x1c,
  SaslListMechs: 0x20,
  SaslAuth: 0x21,
} as const;

/** Response status codes (memcached `protocol_binary.h`). */
export const Status = {
  Ok: 0x0000,
  KeyNotFound: 0x0001,
  KeyExists: 0x0002,
  ValueTooLarge: 0x0003,
  InvalidArguments: 0x0004,
  NotStored: 0x0005,
  NonNumeric: 0x0006,
  AuthError: 0x0020,
  OutOfMemory: 0x0082,
} as const;

const STATUS_TEXT: Readonly<Record<number, string>> = {
  0x0001: 'key not found',
  0x0002: 'key exists',
  0x0003: 'value too large',
  0x0004: 'invalid arguments',
  0x0005: 'item not stored',
  0x0006: 'incr/decr on a non-numeric value',
  0x0020: 'authentication error',
  0x0081: 'unknown command',
  0x0082: 'out of memory',
  0x0083: 'not supported',
  0x0084: 'internal error',
  0x0085: 'busy',
  0x0086: 'temporary failure',
};

/** Human-readable text of a status code. */
export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? `status 0x${status.toString(16).padStart(4, '0')}`;
}

/**
 * Expiration sent with incr/decr so that a missing key stays missing: with any other value the
 * server would create the counter (memjs sends 0, which creates it).
 */
export const NO_AUTOVIVIFY = 0xffffffff;

/** Writes a request header at `offset`. CAS, data type and vbucket are zero. */
export function writeHeader(
  buffer: Buffer,
  offset: number,
  opcode: number,
  keyBytes: number,
  extrasBytes: number,
  bodyBytes: number,
  opaque: number,
): void {
  buffer[offset] = Magic.Request;
  buffer[offset + 1] = opcode;
  buffer.writeUInt16BE(keyBytes, offset + 2);
  buffer[offset + 4] = extrasBytes;
  buffer[offset + 5] = 0;
  buffer.writeUInt16BE(0, offset + 6);
  buffer.writeUInt32BE(bodyBytes, offset + 8);
  buffer.writeUInt32BE(opaque >>> 0, offset + 12);
  buffer.fill(0, offset + 16, offset + HEADER_BYTES);
}

/** One parsed response frame. The buffers are views into the receive buffer; never mutated. */
export interface ResponseFrame {
  readonly opcode: number;
  readonly status: number;
  readonly opaque: number;
  /**
   * The item's CAS value, as its high and low 32 bits (two numbers rather than a bigint: no
   * allocation per frame). Zero when the answer carries none.
   */
  readonly casHigh: number;
  readonly casLow: number;
  readonly extras: Buffer;
  readonly key: Buffer;
  readonly value: Buffer;
}
