/** An encrypted item's contents: the flags of the value before encryption, and its payload. */
export interface PlainItem {
  /** The {@link CacheReturnCode} of the payload (String, Json or Integer). */
  readonly flags: number;
  /** The encoded payload, compressed when the cipher's {@link CacheCipher.compression} is `'inside'`. */
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
   * Where the codec compresses, when it compresses: `'inside'` compresses the payload before
   * encrypting it (the payload handed to `encrypt` may be zlib); `'outside'` encrypts the plain
   * payload and compresses the token (Q2's JSON → Fernet → zlib, which a Python reader undoes).
   * The codec alone orders the steps; a cipher never compresses or inflates.
   * @default 'inside'
   */
  readonly compression?: 'inside' | 'outside' | undefined;
  /**
   * Encrypts one payload. `fullKey` is the item's full cache key; ciphers that support associated
   * data bind the ciphertext to it, so the item fails to decrypt under any other key.
   */
  encrypt(item: PlainItem, fullKey: string): Uint8Array;
  /** Decrypts a token written by `encrypt`; throws when it is corrupt, foreign or moved. */
  decrypt(token: Uint8Array, fullKey: string): PlainItem;
}
