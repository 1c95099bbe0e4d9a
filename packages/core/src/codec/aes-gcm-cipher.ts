import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import type { CacheCipher } from './cipher.js';
import { CacheConfigError } from '../errors.js';

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
