import type { Awaitable, BackendWrite, CacheBackend, StoredEntry } from '../backend/contract.js';
import { createAesGcmCipher } from '../codec/aes-gcm-cipher.js';
import type { CacheCipher } from '../codec/cipher.js';
import { Codec, type Serializer } from '../codec/codec.js';
import { constants as bufferConstants } from 'node:buffer';
import { MAX_TIMER_MS, toCacheError, withDeadline, type CallInfo } from '../backend/deadline.js';
import {
  CacheConfigError,
  CacheError,
  CacheErrorCode,
  CacheKeyError,
  CacheScopeError,
  CacheValueError,
  CacheWriteError,
  isCacheError,
} from '../errors.js';
import {
  CacheEvents,
  type CacheEventName,
  type CacheListener,
  type CacheOperation,
  type CacheStats,
} from '../events.js';
import {
  checkSegment,
  DEFAULT_KEY_SEPARATOR,
  KeySpace,
  LongKeys,
  type CacheScope,
  type ScopeSegment,
} from '../keys/key-space.js';
import { sameEntry } from '../bytes.js';
import { ILLEGAL_KEY_CHAR } from '../keys/key-space.js';
import { integerOption } from '../options.js';
import { WriteQuarantine } from './quarantine.js';
import { DEFAULT_RECENT_KEYS, RecentKeysStack, type RecentKey } from './recent-keys.js';
import { StorageLevel } from '../storage-level.js';
import { toTtlSeconds, type Ttl } from '../ttl.js';

/** Default per-call deadline, in milliseconds (Q2's one-second socket timeout). */
export const DEFAULT_TIMEOUT_MS = 1000;
/** Default compression threshold, in bytes: payloads at least this large are zlib-compressed. */
export const DEFAULT_COMPRESS_THRESHOLD = 1024;
/** Default limit on inflated payloads, in bytes (16 MiB). */
export const DEFAULT_MAX_DECOMPRESSED_BYTES: number = 16 * 1024 * 1024;
/** Default quarantine after an indeterminate write, in milliseconds. */
export const DEFAULT_QUARANTINE_MS = 5000;

/** Options of {@link CacheClient}. */
export interface CacheClientOptions<T = unknown> {
  /** Where entries are stored: a backend instance (`createMemoryBackend()`, …). */
  readonly backend: CacheBackend;
  /**
   * Prefix of every key (Q2's `CACHE['PREFIX']`), joined to the key by `keySeparator`. Must not
   * contain the separator, whitespace or control characters.
   * @default '' (no prefix)
   */
  readonly prefix?: string | undefined;
  /**
   * Separator between prefix, scope segment and key. `''` reproduces Q2's raw concatenation (only
   * for sharing keys with Python services: without a separator, `12` + `3x` and `123` + `x` collide).
   * @default ':'
   */
  readonly keySeparator?: string | undefined;
  /**
   * What to do with a full key over the backend's `maxKeyBytes` (250 by default): `'error'` throws
   * `CacheKeyError`; `'hash'` stores it as a readable head plus `#` and its SHA-256.
   * @default 'error'
   */
  readonly longKeys?: LongKeys | undefined;
  /** The service name used by `scoped(StorageLevel.Service)` when the scope gives none. */
  readonly service?: string | undefined;
  /**
   * zlib compression: `true` compresses every payload (Q2's behaviour), `false` never, a number
   * compresses payloads of at least that many bytes when that makes them smaller. Integers are
   * never compressed, so memcached's `incr` keeps working on them.
   * @default 1024 (bytes)
   */
  readonly compress?: boolean | number | undefined;
  /**
   * Turns on AES-256-GCM encryption with this key (key id 0): 32 raw bytes, or a passphrase from
   * which a key is derived with scrypt. For key rotation or Fernet, pass `cipher` instead.
   * @default undefined (no encryption)
   */
  readonly encryptionKey?: string | Uint8Array | undefined;
  /** A cipher (`createAesGcmCipher({ keys })`, `createFernetCipher(…)`, or your own). */
  readonly cipher?: CacheCipher | undefined;
  /**
   * With encryption on, also read items that are not encrypted (written before encryption was
   * turned on). Off by default: an unencrypted item then reads as a miss plus a `warning`.
   * @default false
   */
  readonly acceptPlaintext?: boolean | undefined;
  /**
   * Largest payload, in bytes, that a read inflates; a larger one (a decompression bomb) is read
   * as a miss. Writes that compress a larger payload are refused. At most
   * `buffer.constants.MAX_LENGTH`.
   * @default 16777216 (16 MiB)
   */
  readonly maxDecompressedBytes?: number | undefined;
  /** Runs before encoding on every write; must return a string, number, bigint or JSON value. */
  readonly serializer?: ((value: T) => unknown) | undefined;
  /** Runs after decoding on every hit (never on a miss or a default). */
  readonly deserializer?: ((value: unknown) => T) | undefined;
  /**
   * Deadline of every backend call, in milliseconds: a call that has not settled by then rejects
   * with `CacheTimeoutError`. Not applied to in-process backends, which cannot hang, and not
   * armed a second time for a backend that enforces a deadline of its own no longer than this one
   * (`capabilities.timeoutMs`, as the memcached and Redis backends do). At most 2^31 − 1 (Node's
   * timer limit).
   * @default 1000
   */
  readonly timeoutMs?: number | undefined;
  /**
   * TTL of writes that give none: seconds or a string with a unit (`'5m'`). `0` means no expiry.
   * @default 0
   */
  readonly defaultTtl?: Ttl | undefined;
  /**
   * How many recent keys to remember for `recentKeys()` and `bustRecent()`; `0` or `false`
   * turns tracking off.
   * @default 100
   */
  readonly recentKeys?: number | false | undefined;
  /**
   * How long, in milliseconds, a key whose write failed indeterminately (timed out) stays in
   * doubt. Meanwhile this process reads the key as a miss unless the server holds exactly what
   * this process wrote and saw confirmed since; when the window ends, the write in doubt is
   * removed with a compare-and-delete (a newer write by anyone survives). The client never
   * writes an older value back. `0` turns it off. At most 2^31 − 1.
   * @default 5000
   */
  readonly quarantineMs?: number | undefined;
  /**
   * Whether `close()` also closes the backend.
   * @default true
   */
  readonly ownsBackend?: boolean | undefined;
  /** Clock in epoch milliseconds, for recent-key expiry and quarantine (tests inject one). @default Date.now */
  readonly now?: (() => number) | undefined;
}

/** Options of a single write. */
export interface SetOptions {
  /** Time to live: seconds, or a string with a unit (`'30s'`). `0` = no expiry. @default the client's `defaultTtl` */
  readonly ttl?: Ttl | undefined;
  /**
   * Skip the read-back that confirms the server holds exactly what was written (Q2's
   * `skip_integrity_check`). Saves a round trip, useful for large values.
   * @default false
   */
  readonly skipIntegrityCheck?: boolean | undefined;
}

/** Options of {@link CacheClient.setMany}. */
export interface SetManyOptions {
  /** Time to live of every entry. @default the client's `defaultTtl` */
  readonly ttl?: Ttl | undefined;
}

/** Options of {@link CacheClient.getOrSet}. */
export interface GetOrSetOptions extends SetOptions {
  /**
   * `false` (default): a backend failure is reported (`onError`, `error` event) and the factory
   * runs anyway — the cache fails open. `true`: backend errors are thrown.
   * @default false
   */
  readonly strict?: boolean | undefined;
  /** Called with backend errors that were not thrown because `strict` is off. */
  readonly onError?: ((error: CacheError) => void) | undefined;
}

/** Options of {@link CacheClient.flushAll}. */
export interface FlushOptions {
  /** Seconds to wait before flushing (memcached's `flush_all <delay>`). @default 0 */
  readonly delaySeconds?: number | undefined;
}

/**
 * A list of caller keys: an array, a `Set` or any iterable of strings — but not a string, which
 * is an iterable of its characters (`deleteMany('abc')` would delete `a`, `b` and `c`).
 */
export type KeyList<K> = K extends string ? never : K;

/** Throws `CacheKeyError` for a bare string where a list of keys belongs. */
function checkKeyList(keys: unknown, what: string): void {
  if (typeof keys === 'string') {
    throw new CacheKeyError(
      `${what} takes a list of keys, not a string (a string would be read as its characters); wrap it: ['${keys.length > 40 ? `${keys.slice(0, 40)}…` : keys}']`,
    );
  }
  if (typeof keys !== 'object' || keys === null || !(Symbol.iterator in keys)) {
    throw new CacheKeyError(`${what} takes an array or another iterable of keys`);
  }
}

/** Entries for {@link CacheClient.setMany}: an object, a `Map`, or any iterable of pairs. */
export type SetManyEntries<T> =
  Readonly<Record<string, T>> | ReadonlyMap<string, T> | Iterable<readonly [string, T]>;

const MISS: unique symbol = Symbol('miss');
const MAX_DELTA = 2n ** 64n - 1n;

/** True when a failed write may still have reached the server. */
function isIndeterminate(error: CacheError): boolean {
  return (error as { indeterminate?: unknown }).indeterminate === true;
}

function isPromise<V>(value: Awaitable<V>): value is Promise<V> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * A rejected promise with `error` as it was thrown. The public methods are not `async` (an
 * in-process answer then resolves without extra ticks), so they turn throws into this.
 */
function rejection<R>(error: unknown): Promise<R> {
  // What was thrown is passed on unchanged, as an async function would reject with it.
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
  return Promise.reject(error);
}

function toEntryPairs<T>(entries: SetManyEntries<T>): Array<readonly [string, T]> {
  if (typeof entries === 'string') {
    throw new CacheValueError(
      '`entries` must be an object, a Map or an iterable of [key, value] pairs, not a string',
    );
  }
  if (entries instanceof Map) return [...(entries as ReadonlyMap<string, T>)];
  if (typeof entries === 'object' && entries !== null && Symbol.iterator in entries) {
    return [...(entries as Iterable<readonly [string, T]>)];
  }
  if (typeof entries !== 'object' || entries === null) {
    throw new CacheValueError(
      '`entries` must be an object, a Map or an iterable of [key, value] pairs',
    );
  }
  return Object.entries(entries);
}

/** What a `getOrSet` flight checks before it stores its factory's result. */
interface FlightState {
  /** Set when this process wrote or deleted the key after the flight's read began. */
  superseded: boolean;
}

/** One `getOrSet` flight: the promise concurrent callers share, and its state. */
interface Flight {
  readonly promise: Promise<unknown>;
  readonly state: FlightState;
}

/** State shared by a client and every client scoped from it. */
class SharedState<T> {
  readonly backend: CacheBackend;
  readonly codec: Codec;
  readonly recent: RecentKeysStack;
  readonly events: CacheEvents;
  readonly stats: CacheStats = {
    hits: 0,
    misses: 0,
    sets: 0,
    setFailures: 0,
    deletes: 0,
    errors: 0,
    decodeErrors: 0,
    integrityFailures: 0,
    listenerErrors: 0,
  };
  /** `getOrSet` flights of this process by full key (single-flight). */
  readonly inflight = new Map<string, Flight>();
  readonly quarantine: WriteQuarantine | undefined;
  readonly timeoutMs: number;
  readonly defaultTtlSeconds: number;
  readonly service: string | undefined;
  readonly ownsBackend: boolean;
  readonly now: () => number;
  /**
   * Whether backend calls need the client's own deadline timer: not for in-process backends,
   * nor for backends that enforce a deadline no longer than the client's (`capabilities.timeoutMs`).
   */
  readonly timed: boolean;
  readonly maxValueBytes: number;
  closed = false;
  closing: Promise<void> | undefined;
  /** Removes this client's listener for the backend's own warnings (see `CacheBackend.onWarning`). */
  readonly detachWarnings: (() => void) | undefined;

  constructor(options: CacheClientOptions<T>) {
    const backend = options.backend as CacheBackend | undefined;
    if (typeof backend !== 'object' || backend === null || typeof backend.get !== 'function') {
      throw new CacheConfigError(
        '`backend` must be a cache backend (for example `createMemoryBackend()`)',
      );
    }
    this.backend = backend;
    this.maxValueBytes = backend.limits.maxValueBytes;
    this.now = options.now ?? Date.now;
    this.timeoutMs = integerOption(options.timeoutMs, 'timeoutMs', DEFAULT_TIMEOUT_MS, {
      max: MAX_TIMER_MS,
    });
    const backendTimeoutMs: unknown = backend.capabilities.timeoutMs;
    this.timed = !(
      typeof backendTimeoutMs === 'number' &&
      backendTimeoutMs > 0 &&
      backendTimeoutMs <= this.timeoutMs
    );
    try {
      this.defaultTtlSeconds = toTtlSeconds(options.defaultTtl ?? 0, 'defaultTtl');
    } catch (error) {
      throw new CacheConfigError((error as Error).message);
    }
    this.ownsBackend = options.ownsBackend ?? true;
    this.service = options.service;

    const compress = options.compress ?? DEFAULT_COMPRESS_THRESHOLD;
    if (
      typeof compress !== 'boolean' &&
      (typeof compress !== 'number' || !Number.isInteger(compress) || compress < 0)
    ) {
      throw new CacheConfigError(
        '`compress` must be true, false or a threshold in bytes (an integer ≥ 0)',
      );
    }
    if (options.cipher !== undefined && options.encryptionKey !== undefined) {
      throw new CacheConfigError('pass either `encryptionKey` or `cipher`, not both');
    }
    let cipher = options.cipher;
    if (
      cipher !== undefined &&
      (typeof cipher.encrypt !== 'function' || typeof cipher.decrypt !== 'function')
    ) {
      throw new CacheConfigError('`cipher` must have `encrypt` and `decrypt` methods');
    }
    if (options.encryptionKey !== undefined) {
      // An empty key must not silently turn encryption off: the caller asked for it.
      const key: unknown = options.encryptionKey;
      if (
        (typeof key !== 'string' && !(key instanceof Uint8Array)) ||
        key.length === 0 ||
        (typeof key === 'string' && key.trim() === '')
      ) {
        throw new CacheConfigError(
          '`encryptionKey` must be a non-blank string or bytes; leave it out to store values unencrypted',
        );
      }
      cipher = createAesGcmCipher({ keys: { id: 0, key: options.encryptionKey } });
    }
    this.codec = new Codec({
      compress,
      cipher,
      acceptPlaintext: options.acceptPlaintext ?? false,
      maxDecompressedBytes: integerOption(
        options.maxDecompressedBytes,
        'maxDecompressedBytes',
        DEFAULT_MAX_DECOMPRESSED_BYTES,
        {
          max: bufferConstants.MAX_LENGTH,
        },
      ),
      serializer: options.serializer as Serializer | undefined,
      deserializer: options.deserializer,
    });

    const recentSize =
      options.recentKeys === false ? 0 : (options.recentKeys ?? DEFAULT_RECENT_KEYS);
    this.recent = new RecentKeysStack(
      integerOption(recentSize, 'recentKeys', DEFAULT_RECENT_KEYS, { min: 0 }),
      this.now,
    );
    this.events = new CacheEvents(() => {
      this.stats.listenerErrors++;
    });
    this.detachWarnings = backend.onWarning?.((warning) => {
      const error = isCacheError(warning.error)
        ? warning.error
        : toCacheError(warning.error, this.info(warning.operation, warning.key, false));
      this.warn('backend', warning.operation as CacheOperation, undefined, warning.key, error);
    });
    const quarantineMs = integerOption(
      options.quarantineMs,
      'quarantineMs',
      DEFAULT_QUARANTINE_MS,
      {
        min: 0,
        max: MAX_TIMER_MS,
      },
    );
    this.quarantine =
      quarantineMs === 0
        ? undefined
        : new WriteQuarantine(quarantineMs, {
            // Compare-and-delete where the backend has it, so a newer write by anyone survives;
            // otherwise delete outright: a miss is always safe.
            delete: async (fullKey, expected) =>
              this.call('quarantine', fullKey, true, () =>
                expected !== undefined && backend.deleteIf !== undefined
                  ? backend.deleteIf(fullKey, expected)
                  : backend.delete(fullKey),
              ),
            onGiveUp: (fullKey, error) => {
              this.warn(
                'quarantine',
                'quarantine',
                undefined,
                fullKey,
                toCacheError(error, this.info('quarantine', fullKey, true)),
              );
            },
          });
  }

  /**
   * A write or delete of `fullKey` by this process is about to be sent. The `getOrSet` flight in
   * progress for it read the key before that: later callers must not join it (they would get a
   * value older than their own write, or a value their own delete removed), and it must not
   * store its factory's result over the newer write or the delete (issue 10, the soak).
   */
  supersede(fullKey: string): void {
    const flight = this.inflight.get(fullKey);
    if (flight === undefined) return;
    flight.state.superseded = true;
    this.inflight.delete(fullKey);
  }

  /** {@link SharedState.supersede} for every key (`flushAll`). */
  supersedeAll(): void {
    for (const flight of this.inflight.values()) flight.state.superseded = true;
    this.inflight.clear();
  }

  /**
   * A pending backend answer with the client's deadline on it when the backend needs one (remote
   * backends); otherwise the promise itself. Callers map a rejection with `failed`.
   */
  guard<R>(
    pending: Promise<R>,
    operation: string,
    key: string | undefined,
    write: boolean,
  ): Promise<R> {
    if (!this.timed) return pending;
    return withDeadline(pending, this.timeoutMs, this.info(operation, key, write));
  }

  info(operation: string, key: string | undefined, write: boolean): CallInfo {
    return { backend: this.backend.name, operation, key, write };
  }

  /**
   * Calls the backend: converts anything thrown into a Stowage error and, for remote backends,
   * applies the deadline. Returns synchronously when the backend did. `write` marks calls that
   * change the server (deletes and touches too): their failures are indeterminate.
   */
  call<R>(
    operation: string,
    key: string | undefined,
    write: boolean,
    run: () => Awaitable<R>,
  ): Awaitable<R> {
    let result: Awaitable<R>;
    try {
      result = run();
    } catch (error) {
      // Thrown before a request was pending: nothing is in flight that could still land.
      throw toCacheError(error, this.info(operation, key, false));
    }
    if (!isPromise(result)) return result;
    const info = this.info(operation, key, write);
    if (!this.timed)
      return result.catch((error: unknown) => Promise.reject(toCacheError(error, info)));
    return withDeadline(result, this.timeoutMs, info);
  }

  warn(
    kind: 'decode' | 'integrity' | 'quarantine' | 'backend',
    operation: CacheOperation,
    key: string | undefined,
    fullKey: string | undefined,
    error: CacheError,
  ): void {
    if (kind === 'decode') this.stats.decodeErrors++;
    else if (kind === 'integrity') this.stats.integrityFailures++;
    if (this.events.has('warning'))
      this.events.emit('warning', { kind, operation, key, fullKey, error });
  }

  /**
   * Counts and reports a failed call and returns the Stowage error to throw. `written`: the entry
   * a failed write sent; when the failure is indeterminate (the bytes may still land) the key is
   * quarantined with it.
   */
  failed(
    operation: CacheOperation,
    key: string | undefined,
    error: unknown,
    fullKey?: string,
    written?: StoredEntry,
  ): CacheError {
    const write = written !== undefined;
    const cacheError = toCacheError(error, this.info(operation, fullKey, write));
    this.stats.errors++;
    if (this.events.has('error')) this.events.emit('error', { operation, key, error: cacheError });
    if (write && fullKey !== undefined && isIndeterminate(cacheError)) {
      this.quarantine?.begin(fullKey, written);
    }
    return cacheError;
  }

  timing(
    operation: CacheOperation,
    started: number,
    keys: number,
    outcome: 'hit' | 'miss' | 'ok' | 'error',
  ): void {
    this.events.emit('timing', {
      operation,
      durationMs: performance.now() - started,
      keys,
      outcome,
    });
  }
}

/** Passed by `scoped()` to build a client that shares its parent's state; not constructible outside. */
class ScopedInit<T> {
  readonly #brand = true;
  readonly shared: SharedState<T>;
  readonly keys: KeySpace;

  constructor(shared: SharedState<T>, keys: KeySpace) {
    this.shared = shared;
    this.keys = keys;
  }

  static is(value: unknown): value is ScopedInit<unknown> {
    return typeof value === 'object' && value !== null && #brand in value;
  }
}

/**
 * The cache client (Q2's `Q2CacheClient`): prefixes and scopes keys, encodes values with Q2's
 * flags, compresses and encrypts them, checks writes, remembers recent keys, and puts a deadline
 * on every backend call.
 *
 * Reads of items that do not decode (foreign flags, corrupt data, failed authentication) are
 * misses plus a `warning` event; backend failures are thrown as `CacheBackendError` /
 * `CacheTimeoutError`; bad input is thrown before any I/O.
 *
 * @example
 * const cache = new CacheClient({ backend: createMemoryBackend(), prefix: 'billing' });
 * await cache.set('rates', { eur: 1.08 }, { ttl: '5m' });
 * const rates = await cache.get('rates');
 */
export class CacheClient<T = unknown> {
  readonly #shared: SharedState<T>;
  readonly #keys: KeySpace;

  constructor(options: CacheClientOptions<T>) {
    if (ScopedInit.is(options)) {
      const init = options as unknown as ScopedInit<T>;
      this.#shared = init.shared;
      this.#keys = init.keys;
      return;
    }
    if (typeof options !== 'object' || options === null) {
      throw new CacheConfigError('options must be an object with at least `backend`');
    }
    const separator = options.keySeparator ?? DEFAULT_KEY_SEPARATOR;
    if (typeof separator !== 'string' || ILLEGAL_KEY_CHAR.test(separator)) {
      throw new CacheConfigError(
        '`keySeparator` must be a string without whitespace or control characters',
      );
    }
    const prefix = options.prefix ?? '';
    if (prefix !== '') checkSegment(prefix, '`prefix`', separator);
    if (options.service !== undefined) checkSegment(options.service, '`service`', separator);
    const longKeys = options.longKeys ?? LongKeys.Error;
    if (longKeys !== LongKeys.Error && longKeys !== LongKeys.Hash) {
      throw new CacheConfigError("`longKeys` must be 'error' or 'hash'");
    }
    this.#shared = new SharedState(options);
    this.#keys = new KeySpace({
      prefix,
      separator,
      longKeys,
      maxKeyBytes: this.#shared.backend.limits.maxKeyBytes,
    });
  }

  /** The backend this client stores into. */
  get backend(): CacheBackend {
    return this.#shared.backend;
  }

  /** Everything put before a caller's key: prefix and scope segment with separators (`'app:stack=acme:'`). */
  get keyPrefix(): string {
    return this.#keys.head;
  }

  /** The storage level of a scoped client, `undefined` for the root client. */
  get level(): StorageLevel | undefined {
    return this.#keys.level;
  }

  /** True when values are encrypted. */
  get encrypted(): boolean {
    return this.#shared.codec.encrypted;
  }

  /** Returns the full key a caller key maps to (validated; hashed if `longKeys: 'hash'`). */
  fullKey(key: string): string {
    return this.#keys.full(key);
  }

  /**
   * A client whose keys carry a scope segment: `StorageLevel.Service` (the service name),
   * `Stack` (a tenant) or `Session` (a user session). It shares the backend, settings, recent keys,
   * events and stats of this client. A Stack or Session level without its id throws
   * `CacheScopeError`: it never falls back to a broader scope. Scoping a scoped client replaces
   * its scope, with one exception that keeps tenants apart: a Session scope nests under its
   * tenant — `scope.stack` when given, else the tenant this client is scoped to — so its keys read
   * `prefix:stack=acme:session=s1:key`, and two tenants whose session ids coincide never share an
   * entry. Without a known tenant the key is `prefix:session=s1:key`.
   *
   * @example
   * const tenant = cache.scoped(StorageLevel.Stack, { stack: customerKey });
   */
  scoped(level: StorageLevel, scope?: CacheScope): CacheClient<T> {
    const resolved = KeySpace.resolveScope(level, scope, this.#shared.service);
    const separator = this.#keys.options.separator;
    const checkId = (value: unknown, segmentLevel: StorageLevel): string =>
      checkSegment(
        value,
        `${segmentLevel} id`,
        separator,
        (message) => new CacheScopeError(message, segmentLevel),
      );
    const segments: ScopeSegment[] = [];
    if (resolved.level === StorageLevel.Session) {
      // A session lives inside its tenant: two tenants whose session ids coincide must not share
      // entries. The tenant is the scope's `stack`, else the tenant this client is scoped to.
      const stack =
        scope?.stack !== undefined && scope.stack !== ''
          ? scope.stack
          : this.#keys.scope.find((segment) => segment.level === StorageLevel.Stack)?.id;
      if (stack !== undefined)
        segments.push({ level: StorageLevel.Stack, id: checkId(stack, StorageLevel.Stack) });
    }
    segments.push({ level: resolved.level, id: checkId(resolved.id, resolved.level) });
    let keys: KeySpace;
    try {
      keys = this.#keys.scoped(segments);
    } catch (error) {
      // The id is caller data (a tenant or session id), so a bad one is a scope error.
      throw new CacheScopeError((error as Error).message, resolved.level, { cause: error });
    }
    return new CacheClient<T>(new ScopedInit(this.#shared, keys) as never);
  }

  /** Subscribes to an event (`hit`, `miss`, `set`, `delete`, `warning`, `error`, `timing`); returns an unsubscribe function. */
  on<E extends CacheEventName>(event: E, listener: CacheListener<E>): () => void {
    return this.#shared.events.on(event, listener);
  }

  /** A snapshot of the counters shared by this client and its scoped clients. */
  stats(): CacheStats {
    return { ...this.#shared.stats };
  }

  #assertOpen(): void {
    if (this.#shared.closed)
      throw new CacheError(CacheErrorCode.Closed, 'the cache client is closed');
  }

  #ttl(ttl: Ttl | undefined): number {
    return ttl === undefined ? this.#shared.defaultTtlSeconds : toTtlSeconds(ttl);
  }

  #expiry(ttlSeconds: number): number | null {
    return ttlSeconds === 0 ? null : this.#shared.now() + ttlSeconds * 1000;
  }

  #encode(key: string, fullKey: string, value: unknown): StoredEntry {
    if (value === undefined) throw new CacheValueError('value is not cacheable: undefined', key);
    const entry = this.#shared.codec.encode(value, fullKey, key);
    if (entry.value.byteLength > this.#shared.maxValueBytes) {
      throw new CacheValueError(
        `value is too large: ${entry.value.byteLength} bytes after encoding, the backend's limit is ${this.#shared.maxValueBytes}`,
        key,
      );
    }
    return entry;
  }

  /** Decodes an entry; a failure is a miss plus a warning. */
  #decode(operation: CacheOperation, key: string, fullKey: string, entry: StoredEntry): unknown {
    try {
      return this.#shared.codec.decode(entry, fullKey);
    } catch (error) {
      this.#shared.warn('decode', operation, key, fullKey, error as CacheError);
      return MISS;
    }
  }

  /**
   * Reads one key: the decoded value or `MISS`, synchronously when the backend answered
   * synchronously (in-process backends), else a promise of it. Failures are thrown (or the promise
   * rejects) already counted and reported by `failed`.
   */
  #read(operation: CacheOperation, key: string, fullKey: string): unknown {
    const shared = this.#shared;
    const started = shared.events.has('timing') ? performance.now() : -1;
    let entry: Awaitable<StoredEntry | undefined>;
    try {
      entry = shared.backend.get(fullKey);
    } catch (error) {
      throw this.#callFailed(operation, key, fullKey, started, error);
    }
    if (isPromise(entry)) {
      return shared.guard(entry, operation, fullKey, false).then(
        (answer) => this.#received(operation, key, fullKey, started, answer),
        (error: unknown) => {
          throw this.#callFailed(operation, key, fullKey, started, error);
        },
      );
    }
    return this.#received(operation, key, fullKey, started, entry);
  }

  /**
   * Times, counts and reports a failed one-key call and returns the error to throw. `written`:
   * the entry of a failed write (which may still land, as `failed` records).
   */
  #callFailed(
    operation: CacheOperation,
    key: string,
    fullKey: string,
    started: number,
    error: unknown,
    written?: StoredEntry,
  ): CacheError {
    if (started >= 0) this.#shared.timing(operation, started, 1, 'error');
    return this.#shared.failed(operation, key, error, fullKey, written);
  }

  /** Decodes what a read found and does the bookkeeping of a hit or a miss. */
  #received(
    operation: CacheOperation,
    key: string,
    fullKey: string,
    started: number,
    found: StoredEntry | undefined,
  ): unknown {
    const shared = this.#shared;
    // A key in doubt after a timed-out write reads only what this process confirmed since.
    const quarantine = shared.quarantine;
    const entry =
      quarantine !== undefined && quarantine.size > 0 ? quarantine.admit(fullKey, found) : found;
    const value = entry === undefined ? MISS : this.#decode(operation, key, fullKey, entry);
    if (value === MISS) {
      shared.stats.misses++;
      if (shared.events.has('miss')) shared.events.emit('miss', { operation, key, fullKey });
    } else {
      shared.stats.hits++;
      shared.recent.record(fullKey, key, this.#keys.head, shared.codec.encrypted);
      if (shared.events.has('hit')) shared.events.emit('hit', { operation, key, fullKey });
    }
    if (started >= 0) shared.timing(operation, started, 1, value === MISS ? 'miss' : 'hit');
    return value;
  }

  /**
   * Reads a key. Resolves the value, or `defaultValue` (default `undefined`) on a miss. A stored
   * `null` is a hit. Items that do not decode are misses plus a `warning` event.
   *
   * @throws CacheKeyError for a bad key, before any I/O.
   * @throws CacheBackendError / CacheTimeoutError when the backend fails.
   */
  get(key: string): Promise<T | undefined>;
  get<D>(key: string, defaultValue: D): Promise<T | D>;
  get<D>(key: string, defaultValue?: D): Promise<T | D | undefined> {
    // Not `async`: an in-process answer resolves without the extra promises and ticks of an async
    // function awaiting another; every failure still surfaces as a rejection, never a throw.
    let read: unknown;
    try {
      this.#assertOpen();
      read = this.#read('get', key, this.#keys.full(key));
    } catch (error) {
      return rejection(error);
    }
    if (isPromise(read)) {
      return read.then((value) => (value === MISS ? defaultValue : (value as T)));
    }
    return Promise.resolve(read === MISS ? defaultValue : (read as T));
  }

  /**
   * Reads many keys in as few round trips as the backend allows. Resolves a `Map` from the
   * caller's keys to values, in the order given; misses are left out. One bad key fails the whole
   * call before anything is sent.
   */
  getMany<K extends Iterable<string>>(keys: KeyList<K>): Promise<Map<string, T>> {
    const shared = this.#shared;
    const callerKeys: string[] = [];
    const fullKeys: string[] = [];
    let started = -1;
    let entries: Awaitable<ReadonlyArray<StoredEntry | undefined>>;
    try {
      this.#assertOpen();
      checkKeyList(keys, '`getMany`');
      const list = Array.isArray(keys) ? (keys as readonly string[]) : [...(keys as K)];
      // A short list is deduplicated by scanning it (a decorated call reads 2 keys); a Set only
      // pays off for longer ones.
      const seen = list.length > 8 ? new Set<string>() : undefined;
      for (const key of list) {
        if (seen === undefined ? callerKeys.includes(key) : seen.has(key)) continue;
        seen?.add(key);
        callerKeys.push(key);
        fullKeys.push(this.#keys.full(key));
      }
      if (fullKeys.length === 0) return Promise.resolve(new Map<string, T>());
      if (shared.events.has('timing')) started = performance.now();
      try {
        entries = shared.backend.getMany(fullKeys);
      } catch (error) {
        throw this.#getManyFailed(fullKeys.length, started, error);
      }
    } catch (error) {
      return rejection(error);
    }
    if (isPromise(entries)) {
      return shared.guard(entries, 'getMany', undefined, false).then(
        (answer) => this.#gotMany(callerKeys, fullKeys, started, answer),
        (error: unknown) => {
          throw this.#getManyFailed(fullKeys.length, started, error);
        },
      );
    }
    try {
      return Promise.resolve(this.#gotMany(callerKeys, fullKeys, started, entries));
    } catch (error) {
      return rejection(error);
    }
  }

  #getManyFailed(keys: number, started: number, error: unknown): CacheError {
    if (started >= 0) this.#shared.timing('getMany', started, keys, 'error');
    return this.#shared.failed('getMany', undefined, error);
  }

  #gotMany(
    callerKeys: readonly string[],
    fullKeys: readonly string[],
    started: number,
    entries: ReadonlyArray<StoredEntry | undefined>,
  ): Map<string, T> {
    const shared = this.#shared;
    const quarantine = shared.quarantine;
    const result = new Map<string, T>();
    let hits = 0;
    for (let i = 0; i < fullKeys.length; i++) {
      const key = callerKeys[i] as string;
      const fullKey = fullKeys[i] as string;
      const entry =
        quarantine !== undefined && quarantine.size > 0
          ? quarantine.admit(fullKey, entries[i])
          : entries[i];
      const value = entry === undefined ? MISS : this.#decode('getMany', key, fullKey, entry);
      if (value === MISS) {
        shared.stats.misses++;
        if (shared.events.has('miss'))
          shared.events.emit('miss', { operation: 'getMany', key, fullKey });
        continue;
      }
      hits++;
      shared.stats.hits++;
      shared.recent.record(fullKey, key, this.#keys.head, shared.codec.encrypted);
      if (shared.events.has('hit'))
        shared.events.emit('hit', { operation: 'getMany', key, fullKey });
      result.set(key, value as T);
    }
    if (started >= 0) shared.timing('getMany', started, fullKeys.length, hits > 0 ? 'hit' : 'miss');
    return result;
  }

  /**
   * Writes one entry; the integrity check compares a read-back with what was sent. Settles
   * without extra ticks when the backend answers synchronously; never throws (rejects).
   */
  #write(
    operation: CacheOperation,
    key: string,
    fullKey: string,
    entry: StoredEntry,
    ttlSeconds: number,
    verify: boolean,
  ): Promise<boolean> {
    const shared = this.#shared;
    const backend = shared.backend;
    const started = shared.events.has('timing') ? performance.now() : -1;
    let answer: Awaitable<boolean | StoredEntry | undefined>;
    try {
      if (!verify) answer = backend.set(fullKey, entry, ttlSeconds);
      else if (backend.setAndRead !== undefined)
        answer = backend.setAndRead(fullKey, entry, ttlSeconds);
      else return this.#writeThenRead(operation, key, fullKey, entry, ttlSeconds, started);
    } catch (error) {
      // Thrown before a request was pending: nothing is in flight that could still land.
      return rejection(this.#callFailed(operation, key, fullKey, started, error));
    }
    if (isPromise(answer)) {
      return shared.guard(answer, operation, fullKey, true).then(
        (result) =>
          this.#written(operation, key, fullKey, entry, ttlSeconds, verify, started, result),
        (error: unknown) => {
          throw this.#callFailed(operation, key, fullKey, started, error, entry);
        },
      );
    }
    try {
      return Promise.resolve(
        this.#written(operation, key, fullKey, entry, ttlSeconds, verify, started, answer),
      );
    } catch (error) {
      return rejection(error);
    }
  }

  /** The integrity check on a backend without `setAndRead`: `set`, then `get` when it stored. */
  async #writeThenRead(
    operation: CacheOperation,
    key: string,
    fullKey: string,
    entry: StoredEntry,
    ttlSeconds: number,
    started: number,
  ): Promise<boolean> {
    const shared = this.#shared;
    const backend = shared.backend;
    let readBack: StoredEntry | undefined;
    try {
      const pendingSet = shared.call(operation, fullKey, true, () =>
        backend.set(fullKey, entry, ttlSeconds),
      );
      const wrote = isPromise(pendingSet) ? await pendingSet : pendingSet;
      if (wrote) {
        const pendingGet = shared.call(operation, fullKey, false, () => backend.get(fullKey));
        readBack = isPromise(pendingGet) ? await pendingGet : pendingGet;
      }
    } catch (error) {
      throw this.#callFailed(operation, key, fullKey, started, error, entry);
    }
    return this.#written(operation, key, fullKey, entry, ttlSeconds, true, started, readBack);
  }

  /**
   * The bookkeeping of an answered write. `result` is what `set` resolved, or with `verify` what
   * was read back, which must be the bytes and flags that were sent.
   */
  #written(
    operation: CacheOperation,
    key: string,
    fullKey: string,
    entry: StoredEntry,
    ttlSeconds: number,
    verify: boolean,
    started: number,
    result: boolean | StoredEntry | undefined,
  ): boolean {
    const shared = this.#shared;
    let stored: boolean;
    if (!verify) {
      stored = result as boolean;
    } else {
      const readBack = result as StoredEntry | undefined;
      stored = sameEntry(readBack, entry);
      if (!stored) {
        shared.warn(
          'integrity',
          operation,
          key,
          fullKey,
          new CacheError(
            CacheErrorCode.Write,
            readBack === undefined
              ? 'integrity check failed: the server does not hold the value after the write'
              : 'integrity check failed: the server holds different bytes than were written',
          ),
        );
      }
    }
    if (stored) {
      shared.stats.sets++;
      shared.recent.record(
        fullKey,
        key,
        this.#keys.head,
        shared.codec.encrypted,
        this.#expiry(ttlSeconds),
      );
      shared.quarantine?.confirm(fullKey, entry);
    } else {
      shared.stats.setFailures++;
      // The server holds something else (or nothing): nothing this process can vouch for.
      shared.quarantine?.confirm(fullKey, undefined);
    }
    if (shared.events.has('set')) shared.events.emit('set', { operation, key, fullKey, stored });
    if (started >= 0) shared.timing(operation, started, 1, stored ? 'ok' : 'error');
    return stored;
  }

  /**
   * Stores a value. Resolves `true` when the server holds it — by default confirmed by reading it
   * back (the integrity check; `skipIntegrityCheck: true` skips the read-back) — and `false` when
   * the server refused it or the check failed (a `warning` event says why).
   *
   * @throws CacheKeyError / CacheValueError for a bad key, value or TTL, before any I/O.
   * @throws CacheBackendError / CacheTimeoutError when the backend fails (`indeterminate: true`).
   */
  set(key: string, value: T, options?: SetOptions): Promise<boolean> {
    let fullKey: string;
    let ttlSeconds: number;
    let entry: StoredEntry;
    try {
      this.#assertOpen();
      fullKey = this.#keys.full(key);
      ttlSeconds = this.#ttl(options?.ttl);
      entry = this.#encode(key, fullKey, value);
    } catch (error) {
      return rejection(error);
    }
    this.#shared.supersede(fullKey);
    return this.#write(
      'set',
      key,
      fullKey,
      entry,
      ttlSeconds,
      options?.skipIntegrityCheck !== true,
    );
  }

  /**
   * Stores a value with the integrity check and resolves the same value (Q2's `set_and_return`).
   *
   * @throws CacheWriteError when the write is not confirmed.
   */
  async setAndReturn<V extends T>(
    key: string,
    value: V,
    options?: Omit<SetOptions, 'skipIntegrityCheck'>,
  ): Promise<V> {
    const stored = await this.set(key, value, { ttl: options?.ttl });
    if (!stored) throw new CacheWriteError(`failed to set cache key '${key}'`, key);
    return value;
  }

  /**
   * Stores many entries in one pipelined call, without the integrity check. Resolves the caller
   * keys that were **not** stored (`[]` when all were). Every key and value is checked before
   * anything is sent.
   */
  async setMany(entries: SetManyEntries<T>, options?: SetManyOptions): Promise<string[]> {
    this.#assertOpen();
    const shared = this.#shared;
    const ttlSeconds = this.#ttl(options?.ttl);
    const byFullKey = new Map<string, { key: string; entry: StoredEntry }>();
    for (const [key, value] of toEntryPairs(entries)) {
      const fullKey = this.#keys.full(key);
      byFullKey.delete(fullKey); // the last write of a key wins, in its last position
      byFullKey.set(fullKey, { key, entry: this.#encode(key, fullKey, value) });
    }
    if (byFullKey.size === 0) return [];
    const writes: BackendWrite[] = [];
    for (const [fullKey, { entry }] of byFullKey) writes.push({ key: fullKey, entry });
    const timed = shared.events.has('timing');
    const started = timed ? performance.now() : 0;
    let failedFullKeys: readonly string[];
    for (const fullKey of byFullKey.keys()) shared.supersede(fullKey);
    try {
      const pending = shared.call('setMany', undefined, true, () =>
        shared.backend.setMany(writes, ttlSeconds),
      );
      failedFullKeys = isPromise(pending) ? await pending : pending;
    } catch (error) {
      if (timed) shared.timing('setMany', started, writes.length, 'error');
      const failure = shared.failed('setMany', undefined, error);
      if (isIndeterminate(failure) && shared.quarantine !== undefined) {
        for (const [fullKey, { entry }] of byFullKey) shared.quarantine.begin(fullKey, entry);
      }
      throw failure;
    }
    const failed = new Set(failedFullKeys);
    const expiry = this.#expiry(ttlSeconds);
    const failedKeys: string[] = [];
    for (const [fullKey, { key, entry }] of byFullKey) {
      const stored = !failed.has(fullKey);
      if (stored) {
        shared.stats.sets++;
        shared.recent.record(fullKey, key, this.#keys.head, shared.codec.encrypted, expiry);
        shared.quarantine?.confirm(fullKey, entry);
      } else {
        shared.stats.setFailures++;
        shared.quarantine?.confirm(fullKey, undefined);
        failedKeys.push(key);
      }
      if (shared.events.has('set'))
        shared.events.emit('set', { operation: 'setMany', key, fullKey, stored });
    }
    if (timed)
      shared.timing('setMany', started, writes.length, failedKeys.length === 0 ? 'ok' : 'error');
    return failedKeys;
  }

  /** Stores a value only if the key holds nothing. Resolves `false` when it already exists. */
  async add(key: string, value: T, options?: Pick<SetOptions, 'ttl'>): Promise<boolean> {
    this.#assertOpen();
    const shared = this.#shared;
    const fullKey = this.#keys.full(key);
    const ttlSeconds = this.#ttl(options?.ttl);
    const entry = this.#encode(key, fullKey, value);
    let added: boolean;
    shared.supersede(fullKey);
    try {
      const pending = shared.call('add', fullKey, true, () =>
        shared.backend.add(fullKey, entry, ttlSeconds),
      );
      added = isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw shared.failed('add', key, error, fullKey, entry);
    }
    if (added) {
      shared.stats.sets++;
      shared.recent.record(
        fullKey,
        key,
        this.#keys.head,
        shared.codec.encrypted,
        this.#expiry(ttlSeconds),
      );
      shared.quarantine?.confirm(fullKey, entry);
    }
    if (shared.events.has('set'))
      shared.events.emit('set', { operation: 'add', key, fullKey, stored: added });
    return added;
  }

  /** Gives an existing entry a new TTL. Resolves `false` on a miss. */
  async touch(key: string, ttl: Ttl): Promise<boolean> {
    this.#assertOpen();
    const shared = this.#shared;
    const fullKey = this.#keys.full(key);
    const ttlSeconds = toTtlSeconds(ttl);
    try {
      const pending = shared.call('touch', fullKey, true, () =>
        shared.backend.touch(fullKey, ttlSeconds),
      );
      const touched = isPromise(pending) ? await pending : pending;
      // A touch changes no bytes: what this process confirmed in a quarantine stays confirmed.
      if (touched) shared.recent.setExpiry(fullKey, this.#expiry(ttlSeconds));
      return touched;
    } catch (error) {
      throw shared.failed('touch', key, error, fullKey);
    }
  }

  /**
   * Adds `delta` to a counter stored as an integer (`set(key, 0)` or `add(key, 0)`), atomically
   * on the server. Resolves the new value, or `undefined` when the key does not exist. With a
   * `number` delta the result is a `number`; pass a `bigint` delta for counters beyond 2^53.
   * Counters need unencrypted values. Range and wrap-around follow the backend (memcached:
   * unsigned 64-bit, wraps; Redis: signed 64-bit).
   */
  async incr(key: string, delta?: number): Promise<number | undefined>;
  async incr(key: string, delta: bigint): Promise<bigint | undefined>;
  async incr(key: string, delta: number | bigint = 1): Promise<number | bigint | undefined> {
    return this.#count('incr', key, delta);
  }

  /**
   * Subtracts `delta` from a counter; otherwise as {@link CacheClient.incr}. On memcached and the
   * memory backend a counter stops at 0; on Redis it goes negative.
   */
  async decr(key: string, delta?: number): Promise<number | undefined>;
  async decr(key: string, delta: bigint): Promise<bigint | undefined>;
  async decr(key: string, delta: number | bigint = 1): Promise<number | bigint | undefined> {
    return this.#count('decr', key, delta);
  }

  async #count(
    operation: 'incr' | 'decr',
    key: string,
    delta: number | bigint,
  ): Promise<number | bigint | undefined> {
    this.#assertOpen();
    const shared = this.#shared;
    const fullKey = this.#keys.full(key);
    const asNumber = typeof delta === 'number';
    if (
      asNumber
        ? !Number.isSafeInteger(delta) || delta < 0
        : typeof delta !== 'bigint' || delta < 0n || delta > MAX_DELTA
    ) {
      throw new CacheValueError(
        `\`delta\` must be an integer from 0 to 2^64 − 1; got ${String(delta)}`,
        key,
      );
    }
    if (shared.codec.encrypted) {
      throw new CacheValueError(
        `${operation} needs an unencrypted integer; this client encrypts its values (use a client without encryption for counters)`,
        key,
      );
    }
    const big = BigInt(delta);
    let result: bigint | undefined;
    shared.supersede(fullKey);
    try {
      const pending = shared.call(operation, fullKey, true, () =>
        shared.backend[operation](fullKey, big),
      );
      result = isPromise(pending) ? await pending : pending;
    } catch (error) {
      // A counter is never quarantined: a late increment is applied once, it resurrects nothing.
      throw shared.failed(operation, key, error, fullKey);
    }
    // The count changed the bytes: a quarantined key reads as a miss until its window ends.
    shared.quarantine?.confirm(fullKey, undefined);
    if (result === undefined || !asNumber) return result;
    if (result > BigInt(Number.MAX_SAFE_INTEGER) || result < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new CacheValueError(
        `counter '${key}' is now ${result}, beyond Number.MAX_SAFE_INTEGER; pass a bigint delta to read it exactly`,
        key,
      );
    }
    return Number(result);
  }

  /** Deletes a key. Resolves `true` when it existed. */
  async delete(key: string): Promise<boolean> {
    this.#assertOpen();
    const shared = this.#shared;
    const fullKey = this.#keys.full(key);
    let deleted: boolean;
    shared.supersede(fullKey);
    try {
      const pending = shared.call('delete', fullKey, true, () => shared.backend.delete(fullKey));
      deleted = isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw shared.failed('delete', key, error, fullKey);
    }
    shared.recent.removeSafe(fullKey);
    shared.quarantine?.confirm(fullKey, undefined);
    shared.stats.deletes++;
    if (shared.events.has('delete'))
      shared.events.emit('delete', { operation: 'delete', keys: [key] });
    return deleted;
  }

  /**
   * Deletes many keys in one pipelined call. Resolves `true` (Q2's `delete_many`); an empty list
   * does no I/O. One bad key fails the call before anything is sent.
   */
  async deleteMany<K extends Iterable<string>>(keys: KeyList<K>): Promise<boolean> {
    this.#assertOpen();
    checkKeyList(keys, '`deleteMany`');
    const shared = this.#shared;
    const callerKeys = [...new Set(keys as K)];
    const fullKeys = callerKeys.map((key) => this.#keys.full(key));
    if (fullKeys.length === 0) return true;
    for (const fullKey of fullKeys) shared.supersede(fullKey);
    try {
      const pending = shared.call('deleteMany', undefined, true, () =>
        shared.backend.deleteMany(fullKeys),
      );
      if (isPromise(pending)) await pending;
    } catch (error) {
      throw shared.failed('deleteMany', undefined, error);
    }
    for (const fullKey of fullKeys) {
      shared.recent.removeSafe(fullKey);
      shared.quarantine?.confirm(fullKey, undefined);
    }
    shared.stats.deletes += fullKeys.length;
    if (shared.events.has('delete'))
      shared.events.emit('delete', { operation: 'deleteMany', keys: callerKeys });
    return true;
  }

  /**
   * Removes **everything on the server** — every service's and tenant's keys (memcached
   * `flush_all`, Redis `FLUSHDB`) — and forgets the recent keys. To remove only what this client
   * stored, use {@link CacheClient.bustRecent}.
   */
  async flushAll(options?: FlushOptions): Promise<boolean> {
    this.#assertOpen();
    const shared = this.#shared;
    const delay = options?.delaySeconds ?? 0;
    if (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0) {
      throw new CacheValueError(`\`delaySeconds\` must be an integer ≥ 0; got ${String(delay)}`);
    }
    if (delay > 0 && !shared.backend.capabilities.delayedFlush) {
      throw new CacheValueError(`the ${shared.backend.name} backend cannot delay a flush`);
    }
    try {
      shared.supersedeAll();
      const pending = shared.call('flushAll', undefined, true, () => shared.backend.flush(delay));
      if (isPromise(pending)) await pending;
    } catch (error) {
      throw shared.failed('flushAll', undefined, error);
    }
    shared.recent.clear();
    shared.quarantine?.confirmAllDeleted();
    return true;
  }

  /**
   * The keys this client stored or found recently, oldest first, expired ones left out. A scoped
   * client lists only keys of its own scope.
   */
  recentKeys(): RecentKey[] {
    const all = this.#shared.recent.list();
    if (this.#keys.level === undefined) return all;
    const head = this.#keys.head;
    return all.filter((entry) => entry.prefix === head);
  }

  /**
   * Deletes the remembered recent keys of this client (of its scope, for a scoped client) with one
   * `deleteMany` — never a server flush — and forgets them. Resolves how many keys were deleted.
   */
  async bustRecent(): Promise<number> {
    this.#assertOpen();
    const shared = this.#shared;
    const entries = this.recentKeys();
    if (entries.length === 0) return 0;
    const fullKeys = entries.map((entry) => entry.fullKey);
    for (const fullKey of fullKeys) shared.supersede(fullKey);
    try {
      const pending = shared.call('bustRecent', undefined, true, () =>
        shared.backend.deleteMany(fullKeys),
      );
      if (isPromise(pending)) await pending;
    } catch (error) {
      throw shared.failed('bustRecent', undefined, error);
    }
    for (const entry of entries) {
      shared.recent.removeSafe(entry);
      // Like deleteMany: a quarantined key has no value this process can vouch for any more.
      shared.quarantine?.confirm(entry.fullKey, undefined);
    }
    shared.stats.deletes += fullKeys.length;
    if (shared.events.has('delete')) {
      shared.events.emit('delete', {
        operation: 'bustRecent',
        keys: entries.map((entry) => entry.key),
      });
    }
    return entries.length;
  }

  /**
   * Returns the cached value of `key`, or runs `factory`, stores its result and returns it.
   * Concurrent calls for the same key in this process share one factory run (single-flight).
   * Backend failures fail open by default: they are reported through `onError` and the `error`
   * event, and the factory's result is returned; `strict: true` throws them instead. A factory
   * that resolves `undefined` is not stored. Factory errors are thrown and not cached.
   */
  getOrSet<V extends T>(
    key: string,
    factory: () => V | Promise<V>,
    options?: GetOrSetOptions,
  ): Promise<V> {
    let fullKey: string;
    let ttlSeconds: number;
    try {
      this.#assertOpen();
      if (typeof factory !== 'function')
        throw new CacheValueError('`factory` must be a function', key);
      fullKey = this.#keys.full(key);
      ttlSeconds = this.#ttl(options?.ttl);
    } catch (error) {
      return rejection(error);
    }
    const inflight = this.#shared.inflight;
    const pending = inflight.get(fullKey);
    if (pending !== undefined) return pending.promise as Promise<V>;
    // A hit the backend answered synchronously resolves at once: no factory runs, so there is no
    // flight for concurrent callers to share.
    let read: unknown;
    let failure: { error: unknown } | undefined;
    try {
      read = this.#read('getOrSet', key, fullKey);
    } catch (error) {
      failure = { error };
    }
    if (failure === undefined && read !== MISS && !isPromise(read))
      return Promise.resolve(read as V);
    const state: FlightState = { superseded: false };
    const run = this.#getOrSet(key, fullKey, ttlSeconds, factory, options, read, failure, state);
    const flight: Flight = {
      state,
      promise: run.finally(() => {
        // A superseded flight is no longer in the map; a newer one may be.
        if (inflight.get(fullKey) === flight) inflight.delete(fullKey);
      }),
    };
    inflight.set(fullKey, flight);
    return flight.promise as Promise<V>;
  }

  /** The rest of `getOrSet` once the read started: wait for it, then run the factory on a miss. */
  async #getOrSet<V extends T>(
    key: string,
    fullKey: string,
    ttlSeconds: number,
    factory: () => V | Promise<V>,
    options: GetOrSetOptions | undefined,
    read: unknown,
    failure: { error: unknown } | undefined,
    flight: FlightState,
  ): Promise<V> {
    const strict = options?.strict === true;
    const report = (error: unknown): void => {
      if (strict) throw error;
      if (options?.onError !== undefined && isCacheError(error)) {
        try {
          options.onError(error);
        } catch {
          this.#shared.stats.listenerErrors++;
        }
      }
    };
    let cached: unknown = MISS;
    let readFailed = failure !== undefined;
    if (failure !== undefined) {
      report(failure.error);
    } else {
      try {
        cached = await read;
      } catch (error) {
        readFailed = true;
        report(error);
      }
    }
    if (cached !== MISS) return cached as V;
    const value = await factory();
    // After a failed read the backend is down or slow: a write would only add its own deadline
    // to the caller's wait (and likely fail the same way), so the result is returned unstored.
    // This process wrote or deleted the key since the read: its write stands, not this result.
    if (value === undefined || readFailed || flight.superseded) return value;
    let entry: StoredEntry;
    try {
      entry = this.#encode(key, fullKey, value);
    } catch (error) {
      report(error);
      return value;
    }
    try {
      await this.#write(
        'getOrSet',
        key,
        fullKey,
        entry,
        ttlSeconds,
        options?.skipIntegrityCheck !== true,
      );
    } catch (error) {
      report(error);
    }
    return value;
  }

  /**
   * Closes the client: later calls reject with code `E_CACHE_CLOSED`, quarantine timers stop, and
   * the backend is closed when the client owns it (`ownsBackend`, default true). Idempotent.
   * On a scoped client it does nothing: scoped clients share their root's backend, so only the
   * root closes it (`await using tenant = cache.scoped(…)` in a request handler is safe).
   */
  async close(): Promise<void> {
    if (this.#keys.level !== undefined) return;
    const shared = this.#shared;
    if (shared.closing !== undefined) return shared.closing;
    shared.closed = true;
    shared.quarantine?.clear();
    shared.detachWarnings?.();
    shared.closing = (async () => {
      if (!shared.ownsBackend) return;
      try {
        const pending = shared.backend.close();
        if (isPromise(pending)) await pending;
      } catch (error) {
        throw toCacheError(error, shared.info('close', undefined, false));
      }
    })();
    return shared.closing;
  }

  /** `await using cache = …` closes the client at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
