/**
 * MD5 (RFC 1321) of a string's UTF-8 bytes, in JavaScript, for the ketama ring. Node's
 * `crypto.hash('md5', …)` costs 1–7 µs a call on Node 20 (OpenSSL 3 looks the digest up on every
 * call), and the ring hashes every key of every call: a getMany of 50 keys over several servers
 * spent more time choosing servers than talking to them. Keys are at most a few hundred bytes, so
 * this runs a block or four over a reused buffer, without allocating. Not for anything secret:
 * MD5 only places keys, as libmemcached's ketama does.
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

/**
 * Writes the MD5 digest of `text` (as UTF-8) into `out` as four little-endian 32-bit words,
 * unsigned: `out[0]` is `digest.readUInt32LE(0)`, `out[1]` `readUInt32LE(4)`, and so on.
 */
export function md5Words(text: string, out: Uint32Array): void {
  const length = Buffer.byteLength(text, 'utf8');
  // The bytes, 0x80, zeros up to 8 bytes short of a block boundary, the length in bits.
  const padded = ((length + 8) >>> 6) * 64 + 64;
  if (scratch.length < padded) scratch = Buffer.alloc(padded * 2);
  const bytes = scratch;
  bytes.write(text, 0, length, 'utf8');
  bytes[length] = 0x80;
  bytes.fill(0, length + 1, padded - 8);
  // Keys are far below 2^29 bytes, so the bit length fits the low word; the high word is 0.
  bytes.writeUInt32LE((length * 8) >>> 0, padded - 8);
  bytes.writeUInt32LE(0, padded - 4);
  let a = 0x67452301;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476;
  for (let offset = 0; offset < padded; offset += 64) {
    for (let i = 0; i < 16; i++) words[i] = bytes.readInt32LE(offset + i * 4);
    const state = rounds(a, b, c, d);
    a = (a + (state[0] as number)) | 0;
    b = (b + (state[1] as number)) | 0;
    c = (c + (state[2] as number)) | 0;
    d = (d + (state[3] as number)) | 0;
  }
  out[0] = a >>> 0;
  out[1] = b >>> 0;
  out[2] = c >>> 0;
  out[3] = d >>> 0;
}

// The state after one block's 64 steps, before it is added to the chaining value.
const after = new Int32Array(4);

/** The 64 steps of one block over `words`, from the chaining value `a`–`d`. */
function rounds(a: number, b: number, c: number, d: number): Int32Array {
  for (let i = 0; i < 64; i++) {
    let mixed: number;
    let word: number;
    if (i < 16) {
      mixed = (b & c) | (~b & d);
      word = i;
    } else if (i < 32) {
      mixed = (d & b) | (~d & c);
      word = (5 * i + 1) & 15;
    } else if (i < 48) {
      mixed = b ^ c ^ d;
      word = (3 * i + 5) & 15;
    } else {
      mixed = c ^ (b | ~d);
      word = (7 * i) & 15;
    }
    const sum = (a + mixed + (K[i] as number) + (words[word] as number)) | 0;
    const shift = SHIFTS[((i >>> 4) << 2) | (i & 3)] as number;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
  }
  after[0] = a;
  after[1] = b;
  after[2] = c;
  after[3] = d;
  return after;
}
