import type { StoredEntry } from '../backend/contract.js';
import { toBytes } from '../bytes.js';
import { CacheReturnCode } from './cache-return-code.js';
import type { CacheCipher, PlainItem } from './cipher.js';
import { CacheDecodeError, CacheValueError } from '../errors.js';
import { deepFreeze, mayHoldPrototypeKeys, parseJsonSafely } from './json.js';
import { decodePayload, payloadOf } from './payload.js';
import { deflate, inflate, looksLikeZlib } from './zlib.js';

/** Turns a value into what the built-in encoding can store; runs before encoding. */
export type Serializer = (value: unknown) => unknown;
/** Turns a decoded value back into the caller's type; runs after decoding, on hits only. */
export type Deserializer = (value: unknown) => unknown;

/** Resolved encoding options (see `CacheClientOptions` for the user-facing ones). */
export interface CodecOptions {
  /** `true`: compress every payload; `false`: never; a number: compress payloads of at least that many bytes. */
  readonly compress: boolean | number;
  /** Cipher for encryption, or `undefined` for none. */
  readonly cipher: CacheCipher | undefined;
  /** With a cipher: read unencrypted items too (for migrating to encryption). */
  readonly acceptPlaintext: boolean;
  /** Largest payload inflated on read, in bytes; larger is treated as corrupt. */
  readonly maxDecompressedBytes: number;
  /** Optional hook before encoding. */
  readonly serializer: Serializer | undefined;
  /** Optional hook after decoding. */
  readonly deserializer: Deserializer | undefined;
  /**
   * Hits hand out one deep-frozen value per in-process entry, decoded once, instead of a fresh
   * copy per hit (`frozenValues`); every other decode is frozen too, so callers see one kind.
   */
  readonly frozen: boolean;
}

// What an entry's frozen value is before a hit decoded it (`null` is a value).
const UNDECODED: unique symbol = Symbol('undecoded');

/**
 * An entry this codec module made. It keeps the payload as text (the string, or the JSON) when
 * it encoded it unencrypted and uncompressed, so a read that gets the same object back (an
 * in-process backend keeping what it was given) can skip UTF-8 validation and decoding. The text
 * is private: the backend contract knows nothing of it, and entries of any other origin — remote
 * backends, another copy of this package, hand-made objects — are decoded from their bytes.
 */
class EncodedEntry implements StoredEntry {
  readonly value: Uint8Array;
  readonly flags: number;
  readonly #text: string | undefined;
  /** For JSON text: whether it needs the safe parser's reviver; decided on the first read. */
  #needsReviver: boolean | undefined;
  /** With `frozenValues`: the frozen value the JSON text decodes to, once a hit decoded it. */
  #frozen: unknown = UNDECODED;

  constructor(value: Uint8Array, flags: number, text: string | undefined) {
    this.value = value;
    this.flags = flags;
    this.#text = text;
  }

  /** The text of an entry the codec made unencrypted and uncompressed, else `undefined`. */
  static trustedText(entry: StoredEntry): string | undefined {
    return #text in entry ? entry.#text : undefined;
  }

  /** Parses the JSON text of a trusted entry exactly as `parseJsonSafely` would. */
  static parseJson(entry: EncodedEntry, text: string): unknown {
    entry.#needsReviver ??= mayHoldPrototypeKeys(text);
    return entry.#needsReviver ? parseJsonSafely(text) : JSON.parse(text);
  }

  /** The frozen value of a trusted entry's JSON text, parsed and frozen on the first call. */
  static frozenJson(entry: EncodedEntry, text: string): unknown {
    if (entry.#frozen === UNDECODED)
      entry.#frozen = deepFreeze(EncodedEntry.parseJson(entry, text));
    return entry.#frozen;
  }
}

/**
 * Bytes an in-process store keeps alive by holding `entry`: its value, plus the text an entry of
 * this codec carries (see `EncodedEntry`). The memory backend sizes entries with it.
 */
export function retainedBytes(entry: StoredEntry): number {
  const text = EncodedEntry.trustedText(entry);
  return entry.value.byteLength + (text === undefined ? 0 : text.length);
}

/** What a decode left behind for an entry an L1 keeps: its final text, for the next hit. */
interface DecodedText {
  readonly fullKey: string;
  readonly flags: number;
  readonly text: string;
  /** For JSON text: whether it needs the safe parser's reviver. */
  readonly needsReviver: boolean;
  /** With `frozenValues`: the frozen value that decode handed out, handed out again. */
  readonly frozen: unknown;
}

/**
 * Encodes values into stored entries and back, following Q2's flags: strings are
 * `CacheReturnCode.String`, safe integers and bigints `Integer`, everything else JSON. Then it
 * compresses (zlib) and encrypts as configured.
 */
export class Codec {
  readonly #options: CodecOptions;
  /**
   * With an L1 (`memoizeDecoded()`): the text each entry decoded to, so an L1 hit on an entry read
   * from a remote backend skips decryption, inflation and UTF-8 checks, as a memory-backend hit
   * does. Keyed by the entry object, so a copy dropped from the L1 drops its text with it.
   */
  #decoded: WeakMap<StoredEntry, DecodedText> | undefined;

  constructor(options: CodecOptions) {
    this.#options = options;
  }

  /**
   * Remembers the text entries decode to (see `#decoded`). Turned on by a client with an L1,
   * whose entries are read many times each; off otherwise (a remote entry is read once).
   */
  memoizeDecoded(): void {
    this.#decoded ??= new WeakMap();
  }

  /** True when items are encrypted. */
  get encrypted(): boolean {
    return this.#options.cipher !== undefined;
  }

  /**
   * Encodes one value for `fullKey`. Throws `CacheValueError` (before any I/O) for values that
   * cannot be cached: `undefined`, functions, symbols, non-finite numbers, cycles, nested bigints,
   * binary data, `Map` and `Set` (they would silently become `{}`), or a hook that throws.
   */
  encode(value: unknown, fullKey: string, key: string): StoredEntry {
    const options = this.#options;
    let input = value;
    if (options.serializer !== undefined) {
      try {
        input = options.serializer(value);
      } catch (error) {
        throw new CacheValueError('the `serializer` hook threw', key, { cause: error });
      }
    }
    const { flags, payload, text } = payloadOf(input, key);
    const cipher = options.cipher;
    if (cipher !== undefined) {
      // The cipher says where compression goes; only the codec orders the steps.
      if (cipher.compression === 'outside') {
        const token = toBytes(cipher.encrypt({ flags, payload }, fullKey));
        const stored =
          flags === CacheReturnCode.Integer ? token : this.#maybeCompress(token, key, payload);
        return new EncodedEntry(stored, CacheReturnCode.Encrypted, undefined);
      }
      const inner = flags === CacheReturnCode.Integer ? payload : this.#maybeCompress(payload, key);
      const token = cipher.encrypt({ flags, payload: inner }, fullKey);
      return new EncodedEntry(token, CacheReturnCode.Encrypted, undefined);
    }
    const stored = flags === CacheReturnCode.Integer ? payload : this.#maybeCompress(payload, key);
    // Compressed bytes are inflated on read, under the reader's own limit: no text shortcut.
    return new EncodedEntry(stored, flags, stored === payload ? text : undefined);
  }

  /**
   * Compresses `bytes` when the options ask for it and it pays. `decides`: the payload whose size
   * decides (the plain payload when `bytes` is a cipher's token); it defaults to `bytes`.
   */
  #maybeCompress(bytes: Buffer, key: string, decides: Buffer = bytes): Buffer {
    const { compress, maxDecompressedBytes } = this.#options;
    const always = compress === true;
    const wanted = always || (typeof compress === 'number' && decides.byteLength >= compress);
    // Plain bytes that start like zlib would be mistaken for compressed data on read.
    if (!wanted && !looksLikeZlib(bytes)) return bytes;
    if (bytes.byteLength > maxDecompressedBytes) {
      throw new CacheValueError(
        `value is too large: ${bytes.byteLength} bytes before compression; readers inflate at most ${maxDecompressedBytes} (\`maxDecompressedBytes\`)`,
        key,
      );
    }
    const deflated = deflate(bytes);
    if (!always && deflated.byteLength >= bytes.byteLength && !looksLikeZlib(bytes)) return bytes;
    return deflated;
  }

  /**
   * Decodes a stored entry read under `fullKey`. Throws `CacheDecodeError` for anything that does
   * not decode cleanly; the client turns that into a miss plus a `warning` event.
   */
  decode(entry: StoredEntry, fullKey: string): unknown {
    const options = this.#options;
    let flags = entry.flags;
    const text = EncodedEntry.trustedText(entry);
    // Only where the bytes would be read as they are: a reader that insists on encryption still
    // refuses the entry below.
    if (text !== undefined && (options.cipher === undefined || options.acceptPlaintext)) {
      let value: unknown = text;
      if (flags !== CacheReturnCode.String) {
        value = options.frozen
          ? EncodedEntry.frozenJson(entry as EncodedEntry, text)
          : EncodedEntry.parseJson(entry as EncodedEntry, text);
      }
      return this.#deserialize(value, fullKey, flags);
    }
    const decoded = this.#decoded?.get(entry);
    if (decoded !== undefined && decoded.fullKey === fullKey) {
      return this.#deserialize(this.#memoized(decoded), fullKey, decoded.flags);
    }
    let bytes = this.#inflate(entry.value, fullKey, flags);
    if (flags === CacheReturnCode.Encrypted) {
      if (options.cipher === undefined) {
        throw new CacheDecodeError('item is encrypted and no encryption key is configured', {
          key: fullKey,
          flags,
        });
      }
      let plain: PlainItem;
      try {
        plain = options.cipher.decrypt(bytes, fullKey);
      } catch (error) {
        throw new CacheDecodeError(
          `item does not decrypt (${options.cipher.name}): ${(error as Error).message}`,
          {
            key: fullKey,
            flags,
            cause: error,
          },
        );
      }
      flags = plain.flags;
      if (flags === CacheReturnCode.Encrypted) {
        throw new CacheDecodeError('encrypted item claims to be encrypted again', {
          key: fullKey,
          flags,
        });
      }
      bytes = this.#inflate(plain.payload, fullKey, flags);
    } else if (options.cipher !== undefined && !options.acceptPlaintext) {
      throw new CacheDecodeError(
        'item is not encrypted but an encryption key is configured (set `acceptPlaintext: true` while migrating)',
        { key: fullKey, flags },
      );
    }
    const plain = toBytes(bytes);
    const value = decodePayload(plain, flags, fullKey);
    if (options.frozen) deepFreeze(value);
    if (this.#decoded !== undefined) this.#remember(entry, { fullKey, flags, plain, value });
    return this.#deserialize(value, fullKey, flags);
  }

  /** The value of an entry decoded before (`#decoded`): its text again, parsed or frozen. */
  #memoized(decoded: DecodedText): unknown {
    if (decoded.flags === CacheReturnCode.String) return decoded.text;
    // The value this decode froze is handed out again: nobody can have changed it.
    if (this.#options.frozen) return decoded.frozen;
    return decoded.needsReviver ? parseJsonSafely(decoded.text) : JSON.parse(decoded.text);
  }

  /** Keeps the text a string or JSON entry decoded to, for the next hit on the same entry. */
  #remember(
    entry: StoredEntry,
    decoded: { fullKey: string; flags: number; plain: Buffer; value: unknown },
  ): void {
    const { fullKey, flags, plain, value } = decoded;
    if (flags !== CacheReturnCode.String && flags !== CacheReturnCode.Json) return;
    const text = flags === CacheReturnCode.String ? (value as string) : plain.toString('utf8');
    (this.#decoded as WeakMap<StoredEntry, DecodedText>).set(entry, {
      fullKey,
      flags,
      text,
      needsReviver: flags === CacheReturnCode.Json && mayHoldPrototypeKeys(text),
      frozen: this.#options.frozen ? value : undefined,
    });
  }

  #deserialize(value: unknown, fullKey: string, flags: number): unknown {
    const deserializer = this.#options.deserializer;
    if (deserializer === undefined) return value;
    try {
      return deserializer(value);
    } catch (error) {
      throw new CacheDecodeError('the `deserializer` hook threw', {
        key: fullKey,
        flags,
        cause: error,
      });
    }
  }

  #inflate(bytes: Uint8Array, fullKey: string, flags: number): Uint8Array {
    if (!looksLikeZlib(bytes)) return bytes;
    try {
      return inflate(bytes, this.#options.maxDecompressedBytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new CacheDecodeError(
          `item inflates beyond ${this.#options.maxDecompressedBytes} bytes`,
          { key: fullKey, flags, cause: error },
        );
      }
      // Not zlib after all: another program's plain item that merely starts like a zlib header
      // (`x^2 + y^2`, flag 1). Q2 records no compression flag, so the bytes are read as they
      // are; the checks that follow (UTF-8, JSON, integer, authentication) still refuse a
      // damaged compressed item — zlib's default header (78 9C) is never valid UTF-8.
      return bytes;
    }
  }
}
