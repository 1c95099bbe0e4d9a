import type { CacheCipher } from './cipher.js';
import { resolveCodec } from '../client/client-options.js';
import { CacheValueError } from '../errors.js';

/** Options of {@link deserializeJson}. */
export interface DeserializeJsonOptions {
  /**
   * Q2's `compress_data`. Accepted for parity; a compressed item is recognised by its zlib header
   * either way (Q2 records no compression flag), so `false` does not stop an item from inflating.
   * @default false
   */
  readonly compressData?: boolean | undefined;
  /**
   * Q2's `encryption_key`: the passphrase or 32 raw bytes the writer encrypted with (AES-256-GCM,
   * key id 0). Deriving a key from a passphrase takes tens of milliseconds: for many items, build
   * a cipher once (`createAesGcmCipher`, `createFernetCipher`) and pass `cipher`.
   */
  readonly encryptionKey?: string | Uint8Array | undefined;
  /** A cipher to decrypt with, instead of `encryptionKey` (Fernet for Q2's own encrypted items). */
  readonly cipher?: CacheCipher | undefined;
  /**
   * The item's full key on the server. AES-256-GCM items are bound to their key (authenticated
   * data), so an encrypted item decrypts only with the key it was stored under; other items
   * ignore it. @default ''
   */
  readonly fullKey?: string | undefined;
}

/**
 * Decodes one raw item read by another client (memjs, pymemcache, redis-cli) from its bytes and
 * memcached flags — Q2's `deserialize_json(value, flags, compress_data, encryption_key)`, as
 * `deserializeJson(value, flags, { compressData, encryptionKey })`. Flags are Q2's: 1 string,
 * 2 JSON, 3 integer, 4 encrypted. Throws `CacheDecodeError` for an item that does not decode
 * (unknown flags, bad UTF-8 or JSON, a failed decryption), as a client's read would warn.
 *
 * @example
 * const { value, flags } = await memjsClient.get('billing:stack=acme:plan');
 * const plan = deserializeJson(value, flags);
 */
export function deserializeJson(
  value: Uint8Array | string,
  flags: number,
  options: DeserializeJsonOptions = {},
): unknown {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw new CacheValueError('`value` must be the raw item: a Buffer, a Uint8Array or a string');
  }
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
    throw new CacheValueError(`\`flags\` must be a 32-bit unsigned integer; got ${String(flags)}`);
  }
  const codec = resolveCodec({
    compress: options.compressData ?? false,
    encryptionKey: options.encryptionKey,
    cipher: options.cipher,
    // As Q2's: the flags say whether the item is encrypted; a key only makes decryption possible.
    acceptPlaintext: true,
  });
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return codec.decode({ value: bytes, flags }, options.fullKey ?? '');
}
