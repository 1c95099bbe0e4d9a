// memcached's binary protocol: the constants and layout the backend's own frame writer and parser
// use. Requests are written straight into one buffer per batch (frame-writer.ts), because memjs's
// `makeRequestBuffer` allocates four buffers per frame and has no quiet opcodes; it builds only
// the two SASL frames of a handshake (sasl-plain.ts).

/** Size of a binary-protocol header, in bytes. */
export const HEADER_BYTES = 24;

/**
 * Where each field of a 24-byte header sits (requests and responses share the layout; a request
 * has the vbucket where a response has its status). Lengths and numbers are big-endian.
 */
export const HeaderOffset = {
  /** 1 byte: {@link Magic}. */
  Magic: 0,
  /** 1 byte: {@link Opcode}. */
  Opcode: 1,
  /** 2 bytes: key length. */
  KeyLength: 2,
  /** 1 byte: extras length. */
  ExtrasLength: 4,
  /** 2 bytes: a response's {@link Status} (a request's vbucket, always 0 here). */
  Status: 6,
  /** 4 bytes: extras + key + value length. */
  BodyLength: 8,
  /** 4 bytes: echoed unchanged in the answer; matches answers to requests. */
  Opaque: 12,
  /** 8 bytes: the item's CAS value, read and written as two 4-byte halves. */
  CasHigh: 16,
  CasLow: 20,
} as const;

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
