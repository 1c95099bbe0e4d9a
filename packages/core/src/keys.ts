import { createHash } from 'node:crypto';
import { CacheConfigError, CacheKeyError, CacheScopeError } from './errors.js';
import { StorageLevel } from './storage-level.js';

/** What the client does with a full key longer than the backend's `maxKeyBytes`. */
export const LongKeys = {
  /** Throw `CacheKeyError` (the default). */
  Error: 'error',
  /** Replace it by a readable head plus `#` and the SHA-256 of the whole key, so user input is safe. */
  Hash: 'hash',
} as const;

/** One of the {@link LongKeys} values. */
export type LongKeys = (typeof LongKeys)[keyof typeof LongKeys];

/** memcached's key limit, in UTF-8 bytes; every bundled backend enforces it by default. */
export const MEMCACHED_MAX_KEY_BYTES = 250;

/** The default separator between key segments. */
export const DEFAULT_KEY_SEPARATOR = ':';

// Whitespace (ASCII and Unicode), C0 and C1 control characters including NUL and DEL, and lone
// UTF-16 surrogates (`\p{Cs}` only matches unpaired halves in `u` mode). memcached's text protocol
// would read a space or CRLF as a command boundary, and two different lone surrogates encode to
// the same UTF-8 bytes (U+FFFD), so two keys would collide.
const ILLEGAL_KEY_CHAR = /[\s\p{Cc}\p{Cs}]/u;
const HASH_SUFFIX_BYTES = 65; // '#' + 64 hex digits
const HASHED_SHAPE = /#[0-9a-f]{64}$/;
const RESERVED_STARTS: readonly string[] = Object.values(StorageLevel).map((name) => `${name}=`);

function describeIllegal(text: string): string {
  const match = ILLEGAL_KEY_CHAR.exec(text);
  if (match === null) return 'an illegal character';
  const code = match[0].codePointAt(0) ?? 0;
  if (code >= 0xd800 && code <= 0xdfff) return 'a lone UTF-16 surrogate (not well-formed)';
  if (/\s/u.test(match[0]))
    return `whitespace (U+${code.toString(16).toUpperCase().padStart(4, '0')})`;
  return `a control character (U+${code.toString(16).toUpperCase().padStart(4, '0')})`;
}

/** Byte length of a string in UTF-8, skipping the count when the answer cannot exceed `limit`. */
function exceedsBytes(text: string, limit: number): boolean {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short strings need no count.
  return text.length * 3 > limit && Buffer.byteLength(text, 'utf8') > limit;
}

/**
 * Checks a prefix, scope id or separator at construction time: it must be a non-empty string
 * with no whitespace, control characters or lone surrogates, and must not contain the separator
 * (which would make `a:b` + `c` and `a` + `b:c` the same key).
 */
export function checkSegment(
  value: unknown,
  what: string,
  separator: string,
  makeError: (message: string) => Error = (message) => new CacheConfigError(message),
): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw makeError(`${what} must be a non-empty string`);
  }
  if (ILLEGAL_KEY_CHAR.test(value)) {
    throw makeError(`${what} contains ${describeIllegal(value)}`);
  }
  if (separator.length > 0 && value.includes(separator)) {
    throw makeError(`${what} must not contain the key separator '${separator}'`);
  }
  return value;
}

/** The scope ids a scoped client may use. */
export interface CacheScope {
  /** The service name, for `StorageLevel.Service`. Falls back to the client's `service` option. */
  readonly service?: string | undefined;
  /** The tenant (Q2 stack / customer key), for `StorageLevel.Stack`. */
  readonly stack?: string | undefined;
  /** The user session id, for `StorageLevel.Session`. */
  readonly session?: string | undefined;
}

/** Options of a {@link KeySpace}. */
export interface KeySpaceOptions {
  /** Client prefix; `''` for none. */
  readonly prefix: string;
  /** Separator between prefix, scope segment and key. */
  readonly separator: string;
  /** What to do with keys over `maxKeyBytes`. */
  readonly longKeys: LongKeys;
  /** Key limit in UTF-8 bytes. */
  readonly maxKeyBytes: number;
}

/**
 * Turns caller keys into full keys: `prefix`, then the scope segment (`stack=acme`), then the
 * caller's key, joined by the separator. Validation follows memcached's rules on every backend.
 */
export class KeySpace {
  /** Everything before the caller's key, separator included (`'app:stack=acme:'`), or `''`. */
  readonly head: string;
  /** The storage level of this key space, or `undefined` for the unscoped root. */
  readonly level: StorageLevel | undefined;
  /** The scope id of this key space, or `undefined` for the unscoped root. */
  readonly scopeId: string | undefined;
  readonly #options: KeySpaceOptions;
  readonly #reservedStarts: readonly string[];

  constructor(options: KeySpaceOptions, level?: StorageLevel, scopeId?: string) {
    this.#options = options;
    this.level = level;
    this.scopeId = scopeId;
    const segments: string[] = [];
    if (options.prefix !== '') segments.push(options.prefix);
    if (level !== undefined && scopeId !== undefined) segments.push(`${level}=${scopeId}`);
    this.head = segments.length === 0 ? '' : segments.join(options.separator) + options.separator;
    // On the unscoped root, a key such as `stack=acme:balance` would land in tenant acme's space.
    this.#reservedStarts = level === undefined ? RESERVED_STARTS : [];
    // A prefix `stack=acme` would give the root's key `x` the full key of tenant acme's `x`.
    const reserved = RESERVED_STARTS.find((start) => options.prefix.startsWith(start));
    if (reserved !== undefined) {
      throw new CacheConfigError(
        `\`prefix\` must not start with '${reserved}': that form is reserved for scope segments`,
      );
    }
    const headRoom = options.maxKeyBytes - Buffer.byteLength(this.head, 'utf8');
    if (headRoom < 1 || (options.longKeys === LongKeys.Hash && headRoom <= HASH_SUFFIX_BYTES)) {
      throw new CacheConfigError(
        `prefix and scope '${this.head}' leave no room for keys within ${options.maxKeyBytes} bytes`,
      );
    }
  }

  /** Returns a key space for `level` with the same options, replacing any scope this one had. */
  scoped(level: StorageLevel, id: string): KeySpace {
    return new KeySpace(this.#options, level, id);
  }

  /** The options this key space was built with. */
  get options(): KeySpaceOptions {
    return this.#options;
  }

  /**
   * Returns the full key for a caller key, or throws `CacheKeyError` naming what is wrong. Runs
   * before any I/O.
   */
  full(key: unknown): string {
    if (typeof key !== 'string') {
      throw new CacheKeyError(`key must be a string; got ${key === null ? 'null' : typeof key}`);
    }
    if (key.length === 0) throw new CacheKeyError('key must not be empty', key);
    if (ILLEGAL_KEY_CHAR.test(key))
      throw new CacheKeyError(`key contains ${describeIllegal(key)}`, key);
    for (const reserved of this.#reservedStarts) {
      if (key.startsWith(reserved)) {
        throw new CacheKeyError(
          `key must not start with '${reserved}' on an unscoped client: that form is reserved for scope segments`,
          key,
        );
      }
    }
    const full = this.head + key;
    const { maxKeyBytes, longKeys } = this.#options;
    if (longKeys === LongKeys.Hash) {
      // A literal key shaped like a hashed one is hashed too, so nobody can name a hashed entry.
      if (exceedsBytes(full, maxKeyBytes) || HASHED_SHAPE.test(full))
        return hashKey(full, maxKeyBytes);
      return full;
    }
    if (exceedsBytes(full, maxKeyBytes)) {
      throw new CacheKeyError(
        `key is too long: ${Buffer.byteLength(full, 'utf8')} bytes with prefix and scope, the limit is ${maxKeyBytes} (set \`longKeys: 'hash'\` to hash long keys)`,
        key,
      );
    }
    return full;
  }

  /** Builds a scope key space from a level and scope ids, or throws `CacheScopeError`. */
  static resolveScope(
    level: unknown,
    scope: CacheScope | undefined,
    defaultService: string | undefined,
  ): { level: StorageLevel; id: string } {
    const makeError = (message: string): Error => new CacheScopeError(message, String(level));
    let id: unknown;
    switch (level) {
      case StorageLevel.Service:
        id = scope?.service ?? defaultService;
        if (id === undefined || id === '') {
          throw makeError('Service level needs `scope.service` or the client option `service`');
        }
        break;
      case StorageLevel.Stack:
        id = scope?.stack;
        if (id === undefined || id === null || id === '') {
          throw makeError(
            'Stack level needs `scope.stack` (the tenant id); it never falls back to a broader scope',
          );
        }
        break;
      case StorageLevel.Session:
        id = scope?.session;
        if (id === undefined || id === null || id === '') {
          throw makeError(
            'Session level needs `scope.session` (the session id); it never falls back to a broader scope',
          );
        }
        break;
      default:
        throw makeError(
          `unknown storage level '${String(level)}'; use StorageLevel.Service, Stack or Session`,
        );
    }
    return { level, id: id as string };
  }
}

/** Replaces a full key by a readable head, `#`, and the SHA-256 hex digest of the whole key. */
export function hashKey(full: string, maxKeyBytes: number): string {
  const digest = createHash('sha256').update(full, 'utf8').digest('hex');
  const room = maxKeyBytes - HASH_SUFFIX_BYTES;
  let head = full;
  if (exceedsBytes(head, room)) {
    // Cut at a code point boundary so the head stays well-formed UTF-8.
    const bytes = Buffer.from(full, 'utf8');
    let end = room;
    while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
    head = bytes.subarray(0, end).toString('utf8');
  }
  return `${head}#${digest}`;
}
