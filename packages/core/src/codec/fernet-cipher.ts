import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { CacheReturnCode } from './cache-return-code.js';
import type { CacheCipher } from './cipher.js';
import { toBytes } from '../bytes.js';
import { CacheConfigError } from '../errors.js';

/** Options of {@link createFernetCipher}. */
export interface FernetCipherOptions {
  /**
   * The key: a passphrase, or a Fernet key (32 bytes in URL-safe base64) with `derive: 'none'`.
   */
  readonly key: string;
  /**
   * How the Fernet key is made from `key`:
   * - `'sha256'` (default): `base64url(SHA-256(passphrase))`, the derivation proposed for Q2;
   * - `'none'`: `key` already is a Fernet key, as `Fernet.generate_key()` prints.
   * @default 'sha256'
   */
  readonly derive?: 'sha256' | 'none';
}

const FERNET_VERSION = 0x80;
const DECIMAL = /^-?\d+$/;

/**
 * Creates a Fernet cipher (AES-128-CBC + HMAC-SHA256, as Python's `cryptography` package), for
 * sharing encrypted items with Python services. The plaintext is the JSON text of the value, as
 * Q2 is believed to write it; when the client compresses, zlib wraps the token (JSON → Fernet →
 * zlib, the order a Q2 reader undoes). Fernet has no associated data: unlike the default AES-256-GCM
 * cipher, it cannot detect an item moved to another key. Prefer AES-256-GCM unless a Python reader
 * needs the items.
 */
export function createFernetCipher(options: FernetCipherOptions): CacheCipher {
  if (typeof options.key !== 'string' || options.key.length === 0) {
    throw new CacheConfigError('`key` must be a non-empty string');
  }
  let raw: Buffer;
  if ((options.derive ?? 'sha256') === 'sha256') {
    raw = createHash('sha256').update(options.key, 'utf8').digest();
  } else {
    raw = Buffer.from(options.key, 'base64url');
    if (raw.byteLength !== 32) throw new CacheConfigError('a Fernet key must decode to 32 bytes');
  }
  const signingKey = raw.subarray(0, 16);
  const encryptionKey = raw.subarray(16);

  return {
    name: 'fernet',
    // Python expects JSON inside the token and zlib, if any, outside it: Q2's JSON → Fernet → zlib.
    compression: 'outside',
    encrypt(item) {
      const payload = toBytes(item.payload);
      // Fernet's plaintext is JSON of the value: strings need quoting, integers and JSON do not.
      const plain =
        item.flags === CacheReturnCode.String
          ? Buffer.from(JSON.stringify(payload.toString('utf8')), 'utf8')
          : payload;
      const iv = randomBytes(16);
      const header = Buffer.alloc(9);
      header[0] = FERNET_VERSION;
      header.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000)), 1);
      const cipher = createCipheriv('aes-128-cbc', encryptionKey, iv);
      const body = Buffer.concat([header, iv, cipher.update(plain), cipher.final()]);
      const mac = createHmac('sha256', signingKey).update(body).digest();
      // Python's urlsafe_b64decode insists on padding, so write URL-safe base64 *with* '='.
      const padded = Buffer.concat([body, mac])
        .toString('base64')
        .replace(/\+/g, '-')
        .replace(/\//g, '_');
      return Buffer.from(padded, 'ascii');
    },
    decrypt(token) {
      // The codec has already inflated an outer zlib layer (`compression: 'outside'`).
      const bytes = Buffer.from(toBytes(token).toString('ascii'), 'base64url');
      if (bytes.byteLength < 9 + 16 + 16 + 32 || bytes[0] !== FERNET_VERSION) {
        throw new Error('not a Fernet token');
      }
      const body = bytes.subarray(0, bytes.byteLength - 32);
      const mac = createHmac('sha256', signingKey).update(body).digest();
      if (!timingSafeEqual(mac, bytes.subarray(bytes.byteLength - 32))) {
        throw new Error('Fernet signature does not match');
      }
      const decipher = createDecipheriv('aes-128-cbc', encryptionKey, body.subarray(9, 25));
      const plain = Buffer.concat([decipher.update(body.subarray(25)), decipher.final()]);
      // Hand back JSON (a quoted string stays JSON, so its text can never be mistaken for zlib
      // by the codec) or decimal text, which keeps integers beyond 2^53 exact.
      return {
        flags: DECIMAL.test(plain.toString('latin1'))
          ? CacheReturnCode.Integer
          : CacheReturnCode.Json,
        payload: plain,
      };
    },
  };
}
