import * as crypto from 'node:crypto';
import { CacheKeyError } from '../errors.js';

type OneShotHash = (algorithm: string, data: string, encoding: 'hex') => string;
const oneShot = (crypto as { hash?: OneShotHash }).hash;

/**
 * SHA-256 of `text` (UTF-8) in hex. `crypto.hash` (Node ≥ 20.12) hashes in one call, several
 * times faster than a Hash object for short input; a decorated call hashes its arguments on
 * every call.
 */
const sha256Hex: (text: string) => string =
  typeof oneShot === 'function'
    ? (text) => oneShot('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

const MAX_DEPTH = 64;
const UNSAFE_NAME_CHARS = /[\s\p{Cc}]/gu;

function fail(path: string, why: string): never {
  throw new CacheKeyError(`argument ${path} cannot be keyed safely: ${why}`);
}

// Four positional parameters: a recursive walk over every nested value, where an object per level
// would be allocated for each one.
function serialize(value: unknown, path: string, seen: Set<object>, depth: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (Number.isFinite(value)) return value === 0 ? '0' : String(value);
      // Tagged forms start with `~`, which no JSON string, number or literal can.
      return `~${String(value)}`;
    case 'bigint':
      return `~${value}n`;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return '~u';
    case 'function':
      return fail(path, 'it is a function');
    case 'symbol':
      return fail(path, 'it is a symbol');
    default:
      break;
  }
  if (value === null) return 'null';
  const object = value as object;
  if (depth > MAX_DEPTH) fail(path, `it is nested deeper than ${MAX_DEPTH} levels`);
  if (seen.has(object)) fail(path, 'it contains a cycle');
  seen.add(object);
  try {
    if (Array.isArray(object)) {
      const parts: string[] = [];
      for (let i = 0; i < object.length; i++)
        parts.push(serialize(object[i], `${path}[${i}]`, seen, depth + 1));
      return `[${parts.join(',')}]`;
    }
    if (object instanceof Date) {
      return Number.isNaN(object.getTime()) ? '~dInvalid' : `~d${object.toISOString()}`;
    }
    if (object instanceof Map) {
      const parts = [...object].map(
        ([k, v], i) =>
          `${serialize(k, `${path}<key ${i}>`, seen, depth + 1)}=>${serialize(v, `${path}<value ${i}>`, seen, depth + 1)}`,
      );
      return `~M[${parts.sort().join(',')}]`;
    }
    if (object instanceof Set) {
      const parts = [...object].map((item, i) =>
        serialize(item, `${path}<item ${i}>`, seen, depth + 1),
      );
      return `~S[${parts.sort().join(',')}]`;
    }
    if (object instanceof RegExp) return `~r${JSON.stringify(String(object))}`;
    if (ArrayBuffer.isView(object)) {
      const bytes = Buffer.from(object.buffer, object.byteOffset, object.byteLength);
      return `~b${object.constructor.name}:${bytes.toString('base64')}`;
    }
    const proto: unknown = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) {
      const toJSON = (object as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        return `~j${serialize(toJSON.call(object), path, seen, depth + 1)}`;
      }
      const name = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      return fail(
        path,
        `it is a ${name} instance (pass plain data, or give the class a toJSON method)`,
      );
    }
    const keys = Object.keys(object).sort();
    const parts: string[] = [];
    for (const key of keys) {
      const child = (object as Record<string, unknown>)[key];
      parts.push(`${JSON.stringify(key)}:${serialize(child, `${path}.${key}`, seen, depth + 1)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(object);
  }
}

/**
 * Serialises a value so that equal data always gives the same text, in any process: object keys
 * are sorted, `Date`, `Map`, `Set`, bigint, `undefined`, `NaN` and binary data get tagged forms.
 * Throws `CacheKeyError` for data that cannot be keyed safely: functions, symbols, cycles, class
 * instances without `toJSON`, nesting deeper than 64 levels.
 */
export function stableStringify(value: unknown): string {
  return serialize(value, '#0', new Set(), 0);
}

/**
 * A cache key for a call of `fn` with `args` (Q2's `cache_key`): the function's name, then `:`
 * and the first 32 hex digits of the SHA-256 of the stably serialised arguments (nothing when
 * there are none). The same arguments give the same key across processes and restarts; `this` is
 * never part of it. Throws `CacheKeyError` for arguments that cannot be keyed safely.
 *
 * @param fn - the function, or the name to use in its place (`'Rates.lookup'`).
 * @example
 * cacheKey('Rates.lookup', ['EUR', { day: '2026-11-25' }]); // 'Rates.lookup:5f0c…'
 */
export function cacheKey(
  fn: ((...args: never[]) => unknown) | string,
  args: readonly unknown[] = [],
): string {
  const rawName = typeof fn === 'string' ? fn : fn.name;
  const name = rawName === '' ? 'anonymous' : rawName.replace(UNSAFE_NAME_CHARS, '_');
  return args.length === 0 ? name : `${name}:${hashArgs(args)}`;
}

/**
 * The hash part of {@link cacheKey}: the first 32 hex digits of the SHA-256 of the stably
 * serialised arguments, or `''` when there are none. Throws `CacheKeyError` for arguments that
 * cannot be keyed safely. `@stowage/decorator` keys its entries with it.
 *
 * @example
 * hashArgs(['EUR']); // '5f0c…' (32 hex digits)
 */
export function hashArgs(args: readonly unknown[]): string {
  if (args.length === 0) return '';
  const only = args.length === 1 ? args[0] : undefined;
  if (typeof only === 'string' && only.length <= MAX_MEMO_TEXT) {
    // The most common call, one string argument (an id): its digest is memoised under the
    // argument itself, which skips building the serialised text.
    let digest = STRING_DIGESTS.get(only);
    if (digest === undefined) {
      digest = sha256Hex(`[${JSON.stringify(only)}]`).slice(0, 32);
      remember(STRING_DIGESTS, only, digest);
    }
    return digest;
  }
  let seen: Set<object> | undefined;
  let text = '[';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (i > 0) text += ',';
    // Strings, numbers, booleans… never fail and need no cycle tracking or error path.
    text +=
      typeof arg === 'string'
        ? JSON.stringify(arg)
        : serialize(arg, `#${i}`, (seen ??= new Set()), 1);
  }
  text += ']';
  return digestOf(text);
}

// Digests of recent arguments. Hot arguments repeat (the same record, the same tenant lookup),
// and a digest costs about a microsecond; a bounded map of short texts costs a lookup.
const DIGESTS = new Map<string, string>(); // by serialised argument list
const STRING_DIGESTS = new Map<string, string>(); // by the argument of a one-string call
const MAX_DIGESTS = 1024;
const MAX_MEMO_TEXT = 512;

function remember(memo: Map<string, string>, text: string, digest: string): void {
  if (memo.size >= MAX_DIGESTS) memo.delete(memo.keys().next().value as string);
  memo.set(text, digest);
}

/** The first 32 hex digits of the SHA-256 of `text`, from the memo when it was seen recently. */
function digestOf(text: string): string {
  if (text.length > MAX_MEMO_TEXT) return sha256Hex(text).slice(0, 32);
  let digest = DIGESTS.get(text);
  if (digest === undefined) {
    digest = sha256Hex(text).slice(0, 32);
    remember(DIGESTS, text, digest);
  }
  return digest;
}
