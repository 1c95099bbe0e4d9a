import { isUtf8 } from 'node:buffer';
import { CacheDecodeError, CacheValueError } from '../errors.js';
import { CacheReturnCode } from './cache-return-code.js';
import { parseJsonSafely } from './json.js';

/**
 * The payload step of the codec: a value to Q2's flags and bytes, and back. Compression and
 * encryption are the codec's (`codec.ts`), around this.
 */

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
export interface Payload {
  readonly flags: number;
  readonly payload: Buffer;
  /** The payload as text (see `EncodedEntry`); `undefined` for integers. */
  readonly text: string | undefined;
}

/**
 * Encodes a (serialised) value by Q2's flags: strings are String, safe integers and bigints
 * Integer, everything else JSON. Throws `CacheValueError` for what JSON would lose or refuse.
 */
export function payloadOf(input: unknown, key: string): Payload {
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

/** Decodes a payload's bytes by its flags; throws `CacheDecodeError` for anything that does not decode cleanly. */
export function decodePayload(bytes: Buffer, flags: number, fullKey: string): unknown {
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
