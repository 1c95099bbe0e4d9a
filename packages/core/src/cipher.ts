import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  scryptSync,
  timingSafeEqual,
} from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { CacheReturnCode } from './cache-return-code.js';
import { looksLikeZlib } from './codec.js';
import { CacheConfigError } from './errors.js';

/** An encrypted item's contents: the flags of the value before encryption, and its payload. */
export interface PlainItem {
  /** The {@link CacheReturnCode} of the payload (String, Json or Integer). */
  readonly flags: number;
  /** The encoded (and possibly compressed) payload. */
  readonly payload: Uint8Array;
}

/**
 * Encrypts and decrypts cache payloads. Encrypted items are stored with flag
 * `CacheReturnCode.Encrypted` (4); the cipher keeps the original flags inside the ciphertext.
 * Implementations are synchronous and must throw on any authentication failure.
 */
export interface CacheCipher {
  /** Short name for errors and docs (`aes-256-gcm`, `fernet`). */
  readonly name: string;
  /**
   * Encrypts one payload. `fullKey` is the item's full cache key; ciphers that support associated
   * data bind the ciphertext to it, so the item fails to decrypt under any other key.
   */
  encrypt(item: PlainItem, fullKey: string): Uint8Array;
  /** Decrypts a token written by `encrypt`; throws when it is corrupt, foreign or moved. */
  decrypt(token: Uint8Array, fullKey: string): PlainItem;
}

/** One AES-256-GCM key and its id. */
export interface AesGcmKey {
  /** Key id, 0–255, written into every item so old keys can still decrypt after a rotation. */
  readonly id: number;
  /**
   * 32 raw bytes, or a passphrase string from which 32 bytes are derived with scrypt
   * (N = 2^14, r = 8, p = 1, fixed salt `stowage:aes-256-gcm:v1`) once at construction.
   */
  readonly key: Uint8Array | string;
}

/** Options of {@link createAesGcmCipher}. */
export interface AesGcmCipherOptions {
  /**
   * The keyring. The **first** key encrypts; every key decrypts. To rotate, put the new key first
   * and keep the old one until its items have expired.
   */
  readonly keys: readonly AesGcmKey[] | AesGcmKey;
}

const GCM_VERSION = 0x01;
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
const GCM_HEADER_BYTES = 2 + GCM_IV_BYTES;
const SCRYPT_SALT = 'stowage:aes-256-gcm:v1';

function deriveKey(key: Uint8Array | string, what: string): Buffer {
  if (typeof key === 'string') {
    if (key.length === 0) throw new CacheConfigError(`${what} must not be empty`);
    return scryptSync(key, SCRYPT_SALT, 32, { N: 16_384, r: 8, p: 1 });
  }
  if (!(key instanceof Uint8Array) || key.byteLength !== 32) {
    throw new CacheConfigError(`${what} must be 32 bytes or a passphrase string`);
  }
  return Buffer.from(key);
}

function isKeyList(keys: AesGcmCipherOptions['keys']): keys is readonly AesGcmKey[] {
  return Array.isArray(keys);
}

/**
 * Creates the default cipher: AES-256-GCM with a random 96-bit nonce per item, a one-byte key id
 * for rotation, and the full cache key as associated data (an item copied or spliced under another
 * key fails authentication and reads as a miss).
 *
 * Item layout: `0x01 | keyId | nonce(12) | ciphertext | tag(16)`; the plaintext is the original
 * flags byte followed by the payload. Random nonces allow about 2^32 items per key (NIST SP
 * 800-38D); rotate well before that.
 *
 * @example
 * const cipher = createAesGcmCipher({ keys: [{ id: 2, key: process.env.NEW_KEY! }, { id: 1, key: oldKey }] });
 */
export function createAesGcmCipher(options: AesGcmCipherOptions): CacheCipher {
  const keys = options.keys;
  const ring: readonly AesGcmKey[] = isKeyList(keys) ? keys : [keys];
  if (ring.length === 0) throw new CacheConfigError('`keys` must hold at least one key');
  const byId = new Map<number, Buffer>();
  for (const entry of ring) {
    if (!Number.isInteger(entry.id) || entry.id < 0 || entry.id > 255) {
      throw new CacheConfigError(
        `key id must be an integer from 0 to 255; got ${String(entry.id)}`,
      );
    }
    if (byId.has(entry.id)) throw new CacheConfigError(`key id ${entry.id} appears twice`);
    byId.set(entry.id, deriveKey(entry.key, `key ${entry.id}`));
  }
  const current = ring[0] as AesGcmKey;
  const currentKey = byId.get(current.id) as Buffer;

  return {
    name: 'aes-256-gcm',
    encrypt(item, fullKey) {
      const iv = randomBytes(GCM_IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv);
      cipher.setAAD(Buffer.from(fullKey, 'utf8'));
      const flagByte = Buffer.of(item.flags & 0xff);
      const head = cipher.update(flagByte);
      const body = cipher.update(item.payload);
      const tail = cipher.final();
      const tag = cipher.getAuthTag();
      return Buffer.concat([Buffer.of(GCM_VERSION, current.id), iv, head, body, tail, tag]);
    },
    decrypt(token, fullKey) {
      if (token.byteLength < GCM_HEADER_BYTES + 1 + GCM_TAG_BYTES || token[0] !== GCM_VERSION) {
        throw new Error('not an AES-256-GCM item of this format');
      }
      const key = byId.get(token[1] as number);
      if (key === undefined) throw new Error(`unknown key id ${String(token[1])}`);
      const bytes = Buffer.from(token.buffer, token.byteOffset, token.byteLength);
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(2, GCM_HEADER_BYTES));
      decipher.setAAD(Buffer.from(fullKey, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.byteLength - GCM_TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(bytes.subarray(GCM_HEADER_BYTES, bytes.byteLength - GCM_TAG_BYTES)),
        decipher.final(),
      ]);
      return { flags: plain[0] as number, payload: plain.subarray(1) };
    },
  };
}

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
    encrypt(item) {
      let payload = Buffer.from(
        item.payload.buffer,
        item.payload.byteOffset,
        item.payload.byteLength,
      );
      // The codec hands over compressed payloads (it compresses before encrypting, and never
      // leaves a plain payload that looks like zlib). Python expects JSON inside the token and
      // zlib, if any, outside it, so move the compression out: JSON → Fernet → zlib, Q2's order.
      const compressed = looksLikeZlib(payload);
      if (compressed) payload = inflateSync(payload);
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
      const token = Buffer.from(padded, 'ascii');
      return compressed ? deflateSync(token) : token;
    },
    decrypt(token) {
      // The codec has already inflated an outer zlib layer.
      const bytes = Buffer.from(Buffer.from(token).toString('ascii'), 'base64url');
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
