import { isUtf8 } from 'node:buffer';
import type { StoredEntry } from '../backend/contract.js';
import { toBytes } from '../bytes.js';
import { CacheReturnCode } from './cache-return-code.js';
import type { CacheCipher, PlainItem } from './cipher.js';
import { CacheDecodeError, CacheValueError } from '../errors.js';
import { mayHoldPrototypeKeys, parseJsonSafely } from './json.js';
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
}

const LONE_SURROGATE = /\p{Cs}/u;
const INTEGER_TEXT = /^-?\d+ *$/; // memcached's decr pads a shrinking number with spaces

/** What {@link findLossy} found: where (built on the way back up, so a clean walk allocates nothing) and what. */
interface Lossy {
  path: string;
  readonly what: string;
}

/**
 * Finds what JSON would silently change at any depth of a value that `JSON.stringify` accepted
 * (so it has no cycles): a `Map` or `Set` (becomes `{}`), binary data (a `Buffer` becomes
 * `{type:'Buffer',data:[…]}`, a typed array an object of indexes), a non-finite number (becomes
 * `null`). Returns where and what (`.rows[2].tags`, `a Set`), or `undefined`. Objects with a
 * `toJSON` method (a `Date`) chose their JSON form and are not entered.
 */
function findLossy(value: unknown): Lossy | undefined {
  if (typeof value === 'number')
    return Number.isFinite(value) ? undefined : { path: '', what: String(value) };
  if (typeof value !== 'object' || value === null) return undefined;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null && !Array.isArray(value)) {
    if (
      value instanceof Map ||
      value instanceof Set ||
      ArrayBuffer.isView(value) ||
      value instanceof ArrayBuffer
    )
      return { path: '', what: `a ${describe(value)}` };
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'object' && typeof item !== 'number') continue;
      const found = findLossy(item);
      if (found !== undefined) {
        found.path = `[${i}]${found.path}`;
        return found;
      }
    }
    return undefined;
  }
  // `for…in` walks what JSON walks on plain objects without allocating a key array; inherited
  // enumerable properties (rare, and skipped by JSON) are filtered out.
  for (const name in value) {
    if (!Object.hasOwn(value, name)) continue;
    const item: unknown = (value as Record<string, unknown>)[name];
    if (typeof item !== 'object' && typeof item !== 'number') continue;
    const found = findLossy(item);
    if (found !== undefined) {
      found.path = `.${name}${found.path}`;
      return found;
    }
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

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
}

/**
 * Bytes an in-process store keeps alive by holding `entry`: its value, plus the text an entry of
 * this codec carries (see `EncodedEntry`). The memory backend sizes entries with it.
 */
export function retainedBytes(entry: StoredEntry): number {
  const text = EncodedEntry.trustedText(entry);
  return entry.value.byteLength + (text === undefined ? 0 : text.length);
}

/** The JSON text of an object, or `CacheValueError` for one JSON would refuse or change. */
function jsonOf(input: object | null, key: string): string {
  let text: string | undefined;
  if (
    input instanceof Map ||
    input instanceof Set ||
    ArrayBuffer.isView(input) ||
    input instanceof ArrayBuffer
  ) {
    throw new CacheValueError(
      `value is not cacheable: a ${describe(input)} does not survive JSON; convert it or pass a \`serializer\``,
      key,
    );
  }
  try {
    text = JSON.stringify(input);
  } catch (error) {
    throw new CacheValueError(
      `value is not cacheable: ${(error as Error).message.split('\n')[0] ?? 'JSON.stringify failed'}`,
      key,
      { cause: error },
    );
  }
  if (text === undefined)
    throw new CacheValueError('value is not cacheable: it has no JSON form', key);
  // Checked after stringify, which has refused cycles and bigints already.
  const lossy = findLossy(input);
  if (lossy !== undefined) {
    throw new CacheValueError(
      `value is not cacheable: value${lossy.path} is ${lossy.what}, which does not survive JSON; convert it or pass a \`serializer\``,
      key,
    );
  }
  return text;
}

/** A value's Q2 flags, its payload bytes, and for String and JSON entries the payload as text. */
interface Payload {
  readonly flags: number;
  readonly payload: Buffer;
  /** The payload as text (see `EncodedEntry`); `undefined` for integers. */
  readonly text: string | undefined;
}

/**
 * Encodes a (serialised) value by Q2's flags: strings are String, safe integers and bigints
 * Integer, everything else JSON. Throws `CacheValueError` for what JSON would lose or refuse.
 */
function payloadOf(input: unknown, key: string): Payload {
  let flags: number;
  let payload: Buffer;
  // The payload as text, for String and JSON entries (see EncodedEntry).
  let text: string | undefined;
  switch (typeof input) {
    case 'string':
      if (LONE_SURROGATE.test(input)) {
        // UTF-8 cannot carry a lone surrogate; JSON escapes it, so the string survives intact.
        flags = CacheReturnCode.Json;
        text = JSON.stringify(input);
      } else {
        flags = CacheReturnCode.String;
        text = input;
      }
      payload = Buffer.from(text, 'utf8');
      break;
    case 'number':
      if (!Number.isFinite(input)) {
        throw new CacheValueError(
          `value is not cacheable: ${String(input)} is not a finite number`,
          key,
        );
      }
      if (Number.isSafeInteger(input)) {
        flags = CacheReturnCode.Integer;
        payload = Buffer.from(String(input), 'latin1');
      } else {
        flags = CacheReturnCode.Json;
        text = JSON.stringify(input);
        payload = Buffer.from(text, 'latin1');
      }
      break;
    case 'bigint':
      flags = CacheReturnCode.Integer;
      payload = Buffer.from(input.toString(), 'latin1');
      break;
    case 'boolean':
      flags = CacheReturnCode.Json;
      text = input ? 'true' : 'false';
      payload = Buffer.from(text, 'latin1');
      break;
    case 'object':
      text = jsonOf(input, key);
      flags = CacheReturnCode.Json;
      payload = Buffer.from(text, 'utf8');
      break;
    default:
      throw new CacheValueError(`value is not cacheable: ${describe(input)}`, key);
  }
  return { flags, payload, text };
}

/**
 * Encodes values into stored entries and back, following Q2's flags: strings are
 * `CacheReturnCode.String`, safe integers and bigints `Integer`, everything else JSON. Then it
 * compresses (zlib) and encrypts as configured.
 */
export class Codec {
  readonly #options: CodecOptions;

  constructor(options: CodecOptions) {
    this.#options = options;
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
      const value =
        flags === CacheReturnCode.String
          ? text
          : EncodedEntry.parseJson(entry as EncodedEntry, text);
      return this.#deserialize(value, fullKey, flags);
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
    return this.#deserialize(decodePayload(toBytes(bytes), flags, fullKey), fullKey, flags);
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

function decodePayload(bytes: Buffer, flags: number, fullKey: string): unknown {
  switch (flags) {
    case CacheReturnCode.String:
      if (!isUtf8(bytes))
        throw new CacheDecodeError('string item is not valid UTF-8', { key: fullKey, flags });
      return bytes.toString('utf8');
    case CacheReturnCode.Json: {
      if (!isUtf8(bytes))
        throw new CacheDecodeError('JSON item is not valid UTF-8', { key: fullKey, flags });
      try {
        return parseJsonSafely(bytes.toString('utf8'));
      } catch (error) {
        throw new CacheDecodeError('JSON item does not parse', {
          key: fullKey,
          flags,
          cause: error,
        });
      }
    }
    case CacheReturnCode.Integer: {
      const text = bytes.toString('latin1');
      if (INTEGER_TEXT.test(text)) {
        const trimmed = text.trimEnd();
        const asNumber = Number(trimmed);
        return Number.isSafeInteger(asNumber) ? asNumber : BigInt(trimmed);
      }
      // Python's bool is an int, so a Python writer may store True/False under the integer flag.
      if (text === 'True') return true;
      if (text === 'False') return false;
      throw new CacheDecodeError('integer item is not a decimal integer', { key: fullKey, flags });
    }
    default:
      throw new CacheDecodeError(`unknown flags ${flags}`, { key: fullKey, flags });
  }
}
