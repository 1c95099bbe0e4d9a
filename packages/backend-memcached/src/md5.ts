/**
 * MD5 (RFC 1321) of a string's UTF-8 bytes, in JavaScript, for the ketama ring, which hashes
 * every key of every call. Node 20's `crypto.hash('md5', key, 'buffer')` cost 1.4–1.5 µs a key
 * here (a native call and a Buffer per digest); this runs one 64-byte block for a usual key over
 * a reused buffer, without allocating, in about 0.3 µs. Not for anything secret: MD5 only places
 * keys, as libmemcached's ketama does.
 *
 * @module
 */

// Per-round shift amounts and the sine-derived constants of RFC 1321, section 3.4.
const SHIFTS = Uint8Array.of(7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21);
// prettier-ignore
const K = Int32Array.of(
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
);

/** The message, padded, one block after another; grown when a key is ever longer. */
let scratch = Buffer.alloc(320);
/** The 16 little-endian words of the block being hashed. */
const words = new Int32Array(16);
/** The chaining value: the digest so far, as four words. */
const state = new Int32Array(4);

/** Writes `text` as UTF-8 into `scratch` and returns its length in bytes. */
function encode(text: string): number {
  // Keys are ASCII nearly always: one pass of char codes, no encoder call.
  const length = text.length;
  if (scratch.length < length + 72) scratch = Buffer.alloc((length + 72) * 2);
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) {
      const bytes = Buffer.byteLength(text, 'utf8');
      if (scratch.length < bytes + 72) scratch = Buffer.alloc((bytes + 72) * 2);
      return scratch.write(text, 0, bytes, 'utf8');
    }
    scratch[i] = code;
  }
  return length;
}

/**
 * Writes the MD5 digest of `text` (as UTF-8) into `out` as four little-endian 32-bit words,
 * unsigned: `out[0]` is `digest.readUInt32LE(0)`, `out[1]` `readUInt32LE(4)`, and so on.
 */
export function md5Words(text: string, out: Uint32Array): void {
  const length = encode(text);
  const bytes = scratch;
  // The bytes, 0x80, zeros up to 8 bytes short of a block boundary, the length in bits.
  const padded = ((length + 8) >>> 6) * 64 + 64;
  bytes[length] = 0x80;
  bytes.fill(0, length + 1, padded - 8);
  // Keys are far below 2^29 bytes, so the bit length fits the low word; the high word is 0.
  bytes.writeUInt32LE((length * 8) >>> 0, padded - 8);
  bytes.writeUInt32LE(0, padded - 4);
  state[0] = 0x67452301;
  state[1] = 0xefcdab89;
  state[2] = 0x98badcfe;
  state[3] = 0x10325476;
  for (let offset = 0; offset < padded; offset += 64) {
    for (let i = 0, at = offset; i < 16; i++, at += 4) {
      words[i] =
        (bytes[at] as number) |
        ((bytes[at + 1] as number) << 8) |
        ((bytes[at + 2] as number) << 16) |
        ((bytes[at + 3] as number) << 24);
    }
    compress();
  }
  out[0] = state[0];
  out[1] = state[1];
  out[2] = state[2];
  out[3] = state[3];
}

const rotate = (x: number, shift: number): number => (x << shift) | (x >>> (32 - shift));

/** RFC 1321's four rounds of 16 steps over `words`, added into `state`. */
function compress(): void {
  let a = state[0] as number;
  let b = state[1] as number;
  let c = state[2] as number;
  let d = state[3] as number;
  let t: number;
  for (let i = 0; i < 16; i++) {
    t = d;
    d = c;
    c = b;
    b =
      (b +
        rotate(
          (a + ((c & d) | (~c & t)) + (K[i] as number) + (words[i] as number)) | 0,
          SHIFTS[i & 3] as number,
        )) |
      0;
    a = t;
  }
  for (let i = 16; i < 32; i++) {
    t = d;
    d = c;
    c = b;
    b =
      (b +
        rotate(
          (a + ((t & c) | (~t & d)) + (K[i] as number) + (words[(5 * i + 1) & 15] as number)) | 0,
          SHIFTS[4 + (i & 3)] as number,
        )) |
      0;
    a = t;
  }
  for (let i = 32; i < 48; i++) {
    t = d;
    d = c;
    c = b;
    b =
      (b +
        rotate(
          (a + (c ^ d ^ t) + (K[i] as number) + (words[(3 * i + 5) & 15] as number)) | 0,
          SHIFTS[8 + (i & 3)] as number,
        )) |
      0;
    a = t;
  }
  for (let i = 48; i < 64; i++) {
    t = d;
    d = c;
    c = b;
    b =
      (b +
        rotate(
          (a + (d ^ (c | ~t)) + (K[i] as number) + (words[(7 * i) & 15] as number)) | 0,
          SHIFTS[12 + (i & 3)] as number,
        )) |
      0;
    a = t;
  }
  state[0] = ((state[0] as number) + a) | 0;
  state[1] = ((state[1] as number) + b) | 0;
  state[2] = ((state[2] as number) + c) | 0;
  state[3] = ((state[3] as number) + d) | 0;
}
