import { createHash } from 'node:crypto';
import { CacheConfigError, CacheKeyError, CacheScopeError } from '../errors.js';
import { StorageLevel } from '../storage-level.js';

/** What the client does with a full key longer than the backend's `maxKeyBytes`. */
export const LongKeys = {
  /** Throw `CacheKeyError` (the default). */
  Error: 'error',
  /** Replace it by a readable head plus `#` and the SHA-256 of the whole key. */
  Hash: 'hash',
  /**
   * Like `'hash'`, and also hash every key no backend could take as it is: whitespace, control
   * characters, lone surrogates, a scope segment's `level=` start. Any non-empty string is then a
   * valid key, so keys built from user input cannot fail or reach another scope.
   */
  HashUnsafe: 'hash-unsafe',
} as const;

/** One of the {@link LongKeys} values. */
export type LongKeys = (typeof LongKeys)[keyof typeof LongKeys];

/** memcached's key limit, in UTF-8 bytes; every bundled backend enforces it by default. */
export const MEMCACHED_MAX_KEY_BYTES = 250;

/** The default separator between key segments. */
export const DEFAULT_KEY_SEPARATOR = ':';

/**
 * Characters no key, prefix, separator or scope id may hold: whitespace (ASCII and Unicode), C0
 * and C1 control characters including NUL and DEL, and lone UTF-16 surrogates (`\p{Cs}` matches
 * only unpaired halves in `u` mode). memcached's text protocol reads a space or CRLF as a command
 * boundary, and two different lone surrogates encode to the same UTF-8 bytes (U+FFFD), so two
 * keys would collide. One rule for the client and every backend: a key the client accepts is
 * never refused by a backend, and vice versa.
 */
export const ILLEGAL_KEY_CHAR: RegExp = /[\s\p{Cc}\p{Cs}]/u;
const HASH_SUFFIX_BYTES = 65; // '#' + 64 hex digits
const HASHED_SHAPE = /#[0-9a-f]{64}$/;
const ILLEGAL_KEY_CHARS = new RegExp(ILLEGAL_KEY_CHAR.source, 'gu');
// Hashes of unsafe keys hash the UTF-16 code units behind this tag: lossless where UTF-8 is not
// (every lone surrogate encodes to U+FFFD), and no legal key's UTF-8 starts with NUL, so an unsafe
// key's digest input never equals a long key's.
const UNSAFE_DIGEST_TAG = Buffer.from('\0utf16le\0', 'latin1');
// `stowage-tag=` starts the key of a tag's version (tags/tag-versions.ts): no caller key is one.
const RESERVED_STARTS: readonly string[] = [...Object.values(StorageLevel), 'stowage-tag'].map(
  (name) => `${name}=`,
);

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
 * The longest end of `value` that is also a start of `separator` (`''` when none). With `'::'`,
 * a segment `acme:` followed by the separator reads `acme:::`, which also starts `acme` + `'::'`
 * + `':…'`: a segment must not end with the start of the separator.
 */
function overlapWithSeparator(value: string, separator: string): string {
  for (let length = Math.min(separator.length - 1, value.length); length > 0; length--) {
    const end = value.slice(value.length - length);
    if (separator.startsWith(end)) return end;
  }
  return '';
}

/** What {@link checkSegment} checks a segment against. */
export interface SegmentRule {
  /** What the segment is, for the message (`` `prefix` ``, `stack id`). */
  readonly what: string;
  /** The key separator. */
  readonly separator: string;
  /** Makes the error to throw. @default a `CacheConfigError` */
  readonly makeError?: ((message: string) => Error) | undefined;
}

/**
 * Checks a prefix, scope id or separator at construction time: it must be a non-empty string
 * with no whitespace, control characters or lone surrogates; it must not contain the separator
 * (which would make `a:b` + `c` and `a` + `b:c` the same key) nor end with the start of it (with
 * `'::'`, `acme:` + `::` + `x` and `acme` + `::` + `:x` would be the same key). Together these
 * make the first separator after a segment always the one that ends it, so no two scopes or keys
 * can produce the same full key.
 */
export function checkSegment(value: unknown, rule: SegmentRule): string {
  const { what, separator } = rule;
  const makeError = rule.makeError ?? ((message: string) => new CacheConfigError(message));
  if (typeof value !== 'string' || value.length === 0) {
    throw makeError(`${what} must be a non-empty string`);
  }
  if (ILLEGAL_KEY_CHAR.test(value)) {
    throw makeError(`${what} contains ${describeIllegal(value)}`);
  }
  if (separator.length > 0 && value.includes(separator)) {
    throw makeError(`${what} must not contain the key separator '${separator}'`);
  }
  const overlap = overlapWithSeparator(value, separator);
  if (overlap !== '') {
    throw makeError(
      `${what} must not end with '${overlap}', the start of the key separator '${separator}'`,
    );
  }
  return value;
}

/**
 * One scope segment as it appears in a full key. With a separator: `level=id`. With the empty
 * separator (Q2's raw concatenation) nothing would mark where the id ends, so the id carries its
 * UTF-8 length: `stack=4.acme` — `12` + `3x` and `123` + `x` cannot collide.
 */
function scopeSegment(level: StorageLevel, id: string, separator: string): string {
  return separator === '' ? `${level}=${Buffer.byteLength(id, 'utf8')}.${id}` : `${level}=${id}`;
}

/** One level of a key space's scope: `{ level: 'stack', id: 'acme' }`. */
export interface ScopeSegment {
  /** The storage level. */
  readonly level: StorageLevel;
  /** The scope id (tenant, session or service name). */
  readonly id: string;
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
 * Turns caller keys into full keys: `prefix`, then the scope segments (`stack=acme`, or
 * `stack=acme:session=s1` for a session of a known tenant), then the caller's key, joined by the
 * separator. Validation follows memcached's rules on every backend.
 *
 * The key space is unambiguous for every separator the options accept: a full key can be split
 * back into exactly one (scope, key) pair, because segments never contain the separator or end
 * with its start, the empty separator length-prefixes scope ids, and no caller key may start with
 * a scope segment's `level=` form.
 */
export class KeySpace {
  /** Everything before the caller's key, separator included (`'app:stack=acme:'`), or `''`. */
  readonly head: string;
  /** The storage level of this key space (its innermost segment), or `undefined` for the root. */
  readonly level: StorageLevel | undefined;
  /** The scope id of the innermost segment, or `undefined` for the unscoped root. */
  readonly scopeId: string | undefined;
  /** Every scope segment, outermost first (`[]` for the root). */
  readonly scope: readonly ScopeSegment[];
  readonly #options: KeySpaceOptions;

  constructor(options: KeySpaceOptions, scope: readonly ScopeSegment[] = []) {
    this.#options = options;
    this.scope = scope;
    const innermost = scope.at(-1);
    this.level = innermost?.level;
    this.scopeId = innermost?.id;
    const segments: string[] = [];
    if (options.prefix !== '') segments.push(options.prefix);
    for (const segment of scope)
      segments.push(scopeSegment(segment.level, segment.id, options.separator));
    this.head = segments.length === 0 ? '' : segments.join(options.separator) + options.separator;
    // A prefix `stack=acme` would give the root's key `x` the full key of tenant acme's `x`.
    const reserved = RESERVED_STARTS.find((start) => options.prefix.startsWith(start));
    if (reserved !== undefined) {
      throw new CacheConfigError(
        `\`prefix\` must not start with '${reserved}': that form is reserved for scope segments`,
      );
    }
    const headRoom = options.maxKeyBytes - Buffer.byteLength(this.head, 'utf8');
    if (headRoom < 1 || (options.longKeys !== LongKeys.Error && headRoom <= HASH_SUFFIX_BYTES)) {
      throw new CacheConfigError(
        `prefix and scope '${this.head}' leave no room for keys within ${options.maxKeyBytes} bytes`,
      );
    }
  }

  /** Returns a key space with the same options and `scope`, replacing any scope this one had. */
  scoped(scope: readonly ScopeSegment[]): KeySpace {
    return new KeySpace(this.#options, scope);
  }

  /**
   * The key space of `level` with the ids of `scope` — the one scope resolver: a Stack or Session
   * level without its id throws `CacheScopeError` (never a broader scope), and a Session nests
   * under its tenant (`scope.stack`, else the tenant this key space is scoped to) so two tenants'
   * equal session ids never share an entry. Ids are caller data: a bad one is a scope error.
   */
  withScope(
    level: StorageLevel,
    scope: CacheScope | undefined,
    service: string | undefined,
  ): KeySpace {
    const resolved = KeySpace.resolveScope(level, scope, service);
    const separator = this.#options.separator;
    const checkId = (value: unknown, segmentLevel: StorageLevel): string =>
      checkSegment(value, {
        what: `${segmentLevel} id`,
        separator,
        makeError: (message) => new CacheScopeError(message, segmentLevel),
      });
    const segments: ScopeSegment[] = [];
    if (resolved.level === StorageLevel.Session) {
      const stack =
        scope?.stack !== undefined && scope.stack !== ''
          ? scope.stack
          : this.scope.find((segment) => segment.level === StorageLevel.Stack)?.id;
      if (stack !== undefined)
        segments.push({ level: StorageLevel.Stack, id: checkId(stack, StorageLevel.Stack) });
    }
    segments.push({ level: resolved.level, id: checkId(resolved.id, resolved.level) });
    try {
      return this.scoped(segments);
    } catch (error) {
      throw new CacheScopeError((error as Error).message, resolved.level, { cause: error });
    }
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
    const { maxKeyBytes, longKeys } = this.#options;
    if (ILLEGAL_KEY_CHAR.test(key)) {
      if (longKeys === LongKeys.HashUnsafe) return hashUnsafeKey(this.head, key, maxKeyBytes);
      throw new CacheKeyError(
        `key contains ${describeIllegal(key)} (set \`longKeys: 'hash-unsafe'\` to hash keys from user input)`,
        key,
      );
    }
    // On the root, `stack=acme:balance` would land in tenant acme's space; on a Stack client,
    // `session=s1:x` in the space of that tenant's session s1.
    // Every reserved form starts with 's' (service=, stack=, session=): most keys skip the check.
    const reserved = key.charCodeAt(0) === 0x73 ? reservedStartOf(key) : undefined;
    if (reserved !== undefined) {
      if (longKeys === LongKeys.HashUnsafe) return hashUnsafeKey(this.head, key, maxKeyBytes);
      throw new CacheKeyError(
        `key must not start with '${reserved}': that form is reserved for scope segments`,
        key,
      );
    }
    const full = this.head + key;
    if (longKeys !== LongKeys.Error) {
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
            'Stack level needs `scope.stack` (the tenant id; for a cached function, `stack` in its cache context); it never falls back to a broader scope',
          );
        }
        break;
      case StorageLevel.Session:
        id = scope?.session;
        if (id === undefined || id === null || id === '') {
          throw makeError(
            'Session level needs `scope.session` (the session id; for a cached function, `session` in its cache context); it never falls back to a broader scope',
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
  return withDigest(full, createHash('sha256').update(full, 'utf8').digest('hex'), maxKeyBytes);
}

/** The scope segment form (`stack=`, …) `key` starts with, or `undefined`. */
function reservedStartOf(key: string): string | undefined {
  for (const reserved of RESERVED_STARTS) if (key.startsWith(reserved)) return reserved;
  return undefined;
}

/**
 * The stored form of a caller key no backend could take (`longKeys: 'hash-unsafe'`): the key
 * space's head, a readable form of the key (each illegal character as `_`, a reserved start
 * behind a `_`), `#`, and the SHA-256 of the exact UTF-16 code units of head and key.
 */
function hashUnsafeKey(head: string, key: string, maxKeyBytes: number): string {
  let readable = key.replace(ILLEGAL_KEY_CHARS, '_');
  if (reservedStartOf(readable) !== undefined) readable = `_${readable}`;
  const digest = createHash('sha256')
    .update(UNSAFE_DIGEST_TAG)
    .update(head + key, 'utf16le')
    .digest('hex');
  return withDigest(head + readable, digest, maxKeyBytes);
}

/** `readable`, cut to fit, then `#` and the digest: at most `maxKeyBytes` UTF-8 bytes. */
function withDigest(readable: string, digest: string, maxKeyBytes: number): string {
  const room = maxKeyBytes - HASH_SUFFIX_BYTES;
  let head = readable;
  if (exceedsBytes(head, room)) {
    // Cut at a code point boundary so the head stays well-formed UTF-8.
    const bytes = Buffer.from(readable, 'utf8');
    let end = room;
    while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
    head = bytes.subarray(0, end).toString('utf8');
  }
  return `${head}#${digest}`;
}
