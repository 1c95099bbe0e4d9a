import { constants as bufferConstants } from 'node:buffer';
import type { CacheBackend } from '../backend/contract.js';
import { MAX_TIMER_MS } from '../backend/deadline.js';
import { createAesGcmCipher } from '../codec/aes-gcm-cipher.js';
import type { CacheCipher } from '../codec/cipher.js';
import { Codec, type Serializer } from '../codec/codec.js';
import { CacheConfigError, type CacheError } from '../errors.js';
import {
  checkSegment,
  DEFAULT_KEY_SEPARATOR,
  ILLEGAL_KEY_CHAR,
  LongKeys,
  type KeySpaceOptions,
} from '../keys/key-space.js';
import { checkLogger, type CacheLogger } from '../logger.js';
import { checkOptionNames } from '../option-names.js';
import { booleanOption, integerOption } from '../options.js';
import { optionSeconds, type Ttl } from '../ttl.js';
import { resolveLease, type LeaseOptions, type ResolvedLease } from './lease-options.js';
import { DEFAULT_RECENT_KEYS } from './recent-keys.js';
import { resolveLocalPath, type ResolvedLocalPath } from './recent-keys-sync.js';
import { checkJitter, type ResilienceOptions } from './resilience-options.js';
import { checkBusOption, type BusOption } from '../tier/bus-link.js';
import { resolveL1, type L1Options, type ResolvedL1 } from '../tier/l1-options.js';

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
   * What to do with a key the backend cannot take as it is. `'error'` throws `CacheKeyError` for a
   * full key over the backend's `maxKeyBytes` (250 by default) and for whitespace, control
   * characters, lone surrogates or a scope segment's `level=` start; `'hash'` stores a key that is
   * too long as a readable head plus `#` and its SHA-256 (other bad keys still throw);
   * `'hash-unsafe'` also hashes every other bad key, so any non-empty string is a key — use it for
   * keys built from user input.
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
   * Hand every caller of a hit the same deep-frozen value instead of a fresh copy. An entry kept
   * in this process (the memory backend, or an `l1` copy) is then decoded once and each later hit
   * returns that value, which skips `JSON.parse` on every hit. A caller that changes a value
   * gets a `TypeError` (in strict-mode code; sloppy code silently ignores the change) instead of
   * changing only its own copy. Values read from a remote backend without `l1` are frozen too, so
   * code behaves the same on every backend, but they are still decoded on every read. A
   * `deserializer` still runs on every hit; it gets the frozen value, and what it returns is
   * handed out as it is. The memory backend's `maxBytes` counts bytes and text, not the decoded
   * objects kept beside them. Values a caller passed in and values from a factory are never
   * frozen.
   * @default false (every hit returns a fresh copy)
   */
  readonly frozenValues?: boolean | undefined;
  /**
   * Deadline of every backend call, in milliseconds: a call that has not settled by then rejects
   * with `CacheTimeoutError`. Not needed for answers a backend gives synchronously (the memory
   * backend: they cannot hang), and not armed a second time for a backend that enforces a
   * deadline of its own no longer than this one (`capabilities.timeoutMs`, as the memcached and
   * Redis backends do). At most 2^31 − 1 (Node's timer limit).
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
   * A file that shares the recent keys with every process on the host that names the same file
   * (Q2's `local_path`): `cluster` workers, forked children, other services, the next run. Each
   * process records keys in memory and flushes them to the file in the background, at most
   * `localFlushMs` after a change; `bustRecent()` reads the file, so any process busts what any
   * other stored. Relative paths are resolved against the working directory at construction. See
   * the README, "Recent keys across processes".
   * @default undefined (recent keys stay in this process)
   */
  readonly localPath?: string | undefined;
  /**
   * Load the keys already in `localPath` into this process's recent keys at start (Q2's
   * `seed_from_file`), so `recentKeys()` lists the previous run's keys. `bustRecent()` reads the
   * file either way.
   * @default false
   */
  readonly seedFromFile?: boolean | undefined;
  /**
   * Longest delay, in milliseconds, from a recorded or removed key to the flush that writes it to
   * `localPath` (1 to 60000). Changes in the meantime are written together.
   * @default 100
   */
  readonly localFlushMs?: number | undefined;
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
  /**
   * What `getMany` and `setMany` do when part of a batch failed (one memcached server of several
   * down, a Redis Cluster node): `'return'` counts the failure (`stats().errors`), emits it as an
   * `error` event, and returns what the healthy part answered — the failed keys read as misses,
   * or are listed as not stored; `'throw'` rejects with the `CacheBatchError`, which carries the
   * partial result. `deleteMany` and `bustRecent` always throw: a delete that did not happen must
   * not look done.
   * @default 'return'
   */
  readonly partialBatches?: PartialBatches | undefined;
  /**
   * Leases for `getOrSet` misses (see {@link LeaseOptions}): `true` or options turn them on,
   * `false` keeps single-flight within the process only (one round trip less on a miss, no
   * protection across processes). A backend without `setIf` takes no leases whatever this says.
   * @default true ({ ttl: '5s', wait: '10s', onTimeout: 'compute' })
   */
  readonly lease?: boolean | LeaseOptions | undefined;
  /**
   * Spreads every write's TTL by up to ± this fraction (`0.1` = ±10 %) so entries written in one
   * burst do not all expire in the same second; `setMany` draws one TTL per call. From 0 to
   * below 1; a call's own `jitter` (`getOrSet`) wins.
   * @default 0
   */
  readonly jitter?: number | undefined;
  /**
   * Put the full key of one-key calls in the `stowage:*` tracing channels' context (`key`), and so
   * in spans. Off by default: keys may hold user ids or emails.
   * @default false
   */
  readonly traceKeys?: boolean | undefined;
  /**
   * Where warnings (`warn`) and backend errors a call absorbed (`error`: a `getOrSet` without its
   * own `onError`, a cached function without its own `onError`) are logged, one string per
   * line, keys left out: `console`, pino, winston or Q2's request logger. Without it they reach
   * only the `warning`/`error` events (and the decorator's one-time process warnings).
   * @default undefined (not logged)
   */
  readonly logger?: CacheLogger | undefined;
  /**
   * An in-process tier in front of a remote backend: `true` for the defaults, or
   * `{ maxEntries, maxBytes, ttl }` (see {@link L1Options}). Repeat reads are answered from
   * process memory; a write or delete by this process drops its copy at once, other processes'
   * changes reach it through `bus`, and without a bus a copy may be stale for up to `l1.ttl`
   * after another process changed the key. See the README, "Tiers".
   * @default undefined (no L1: every read is a round trip)
   */
  readonly l1?: boolean | L1Options | undefined;
  /**
   * The invalidation bus that keeps the L1s of every process coherent: a bus instance
   * (`createRedisBus({ url })` from `@stowage/bus-redis`, or your own `CacheBus`) or
   * `{ url, channel? }`, for which `@stowage/bus-redis` is loaded. The client starts it, closes it
   * on `close()`, and serves copies only while its subscription is live. Needs `l1`.
   * @default undefined (no bus)
   */
  readonly bus?: BusOption | undefined;
}

/** See {@link CacheClientOptions.partialBatches}. */
export type PartialBatches = 'return' | 'throw';

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
export interface SetManyOptions extends NoReplyOptions {
  /** Time to live of every entry. @default the client's `defaultTtl` */
  readonly ttl?: Ttl | undefined;
}

/**
 * Q2's `noreply`, on `set`, `setMany`, `deleteMany` and `flushAll`: resolve `undefined` as soon as
 * the command is sent instead of waiting for the server's answer. The command is the same and
 * goes out at once, in order with later calls on the same client (a `get` right after it reads
 * what it wrote, on memcached and Redis alike); the answer is still read and checked, and a
 * failure is reported the way absorbed errors are (the `error` event, the `logger`, the write
 * quarantine for a write in doubt) instead of being thrown. A `set` with `noreply` skips the
 * integrity check (nobody waits for its verdict). Errors found before anything is sent — a bad
 * key, value or TTL, a closed client — still reject.
 */
export interface NoReplyOptions {
  /** Resolve once sent, without waiting for the server. @default false */
  readonly noreply?: boolean | undefined;
}

/** Options of {@link CacheClient.deleteMany}. */
export type DeleteManyOptions = NoReplyOptions;

/** Options of {@link CacheClient.getOrSet}. */
export interface GetOrSetOptions<V = unknown> extends SetOptions, ResilienceOptions {
  /**
   * Stores the factory's result only when this returns `true` (the result is returned either
   * way; a stale copy being refreshed is deleted). Not called for `undefined`.
   * @default every result but `undefined` is stored
   */
  readonly cacheIf?: ((value: V) => boolean) | undefined;
  /**
   * `false` (default): a backend failure is reported (`onError`, `error` event) and the factory
   * runs anyway — the cache fails open. `true`: backend errors are thrown.
   * @default false
   */
  readonly strict?: boolean | undefined;
  /** Called with backend errors that were not thrown because `strict` is off. */
  readonly onError?: ((error: CacheError) => void) | undefined;
  /**
   * This call's lease, over the client's `lease` option: `false` skips it, options override
   * the client's fields.
   * @default the client's `lease`
   */
  readonly lease?: boolean | LeaseOptions | undefined;
  /**
   * `false`: this call neither joins nor is joined by concurrent calls for the key in this
   * process, and does not wait for another caller's lease (it runs the factory and stores
   * nothing when the key is leased). It still stores only under its own lease.
   * @default true
   */
  readonly singleFlight?: boolean | undefined;
  /**
   * The caller has just read the key and missed: skip the read and go straight to the lease
   * (saves a round trip). Safe when wrong: a key that holds a value makes the lease's `add`
   * fail, and the value is read and returned.
   * @default false
   */
  readonly afterMiss?: boolean | undefined;
}

/** What {@link CacheClient.getEntry} found. `expiresAt`: epoch milliseconds, known for entries written with `grace`. */
export type CacheEntry<V> =
  | { readonly status: 'hit'; readonly value: V; readonly expiresAt?: number | undefined }
  | { readonly status: 'stale'; readonly value: V; readonly expiresAt: number }
  | { readonly status: 'notFound' }
  | { readonly status: 'miss' };

/** Options of {@link CacheClient.flushAll}. */
export interface FlushOptions extends NoReplyOptions {
  /** Seconds to wait before flushing (memcached's `flush_all <delay>`). @default 0 */
  readonly delaySeconds?: number | undefined;
}

/**
 * A list of caller keys: an array, a `Set` or any iterable of strings — but not a string, which
 * is an iterable of its characters (`deleteMany('abc')` would delete `a`, `b` and `c`).
 */
export type KeyList<K> = K extends string ? never : K;

/** The client's options, checked and with their defaults: what {@link ClientCore} is built from. */
export interface ResolvedClientOptions {
  readonly backend: CacheBackend;
  readonly codec: Codec;
  readonly keys: KeySpaceOptions;
  readonly timeoutMs: number;
  readonly defaultTtlSeconds: number;
  readonly service: string | undefined;
  readonly ownsBackend: boolean;
  readonly now: () => number;
  readonly recentKeys: number;
  /** The shared recent-keys file, or `undefined` without `localPath`. */
  readonly localPath: ResolvedLocalPath | undefined;
  readonly quarantineMs: number;
  readonly partialBatches: PartialBatches;
  readonly lease: ResolvedLease | false;
  readonly jitter: number;
  readonly traceKeys: boolean;
  readonly logger: CacheLogger | undefined;
  /** The L1 tier, or `undefined` without one. */
  readonly l1: ResolvedL1 | undefined;
  /** The L1's bus, or `undefined`. */
  readonly bus: BusOption | undefined;
}

/**
 * Every option {@link CacheClientOptions} has, for the unknown-option check. A mapped type, so an
 * option added to the interface and not here (or the reverse) is a compile error.
 */
export const CLIENT_OPTION_NAMES: { readonly [K in keyof CacheClientOptions<unknown>]-?: true } = {
  backend: true,
  prefix: true,
  keySeparator: true,
  longKeys: true,
  service: true,
  compress: true,
  encryptionKey: true,
  cipher: true,
  acceptPlaintext: true,
  maxDecompressedBytes: true,
  serializer: true,
  deserializer: true,
  frozenValues: true,
  timeoutMs: true,
  defaultTtl: true,
  recentKeys: true,
  localPath: true,
  seedFromFile: true,
  localFlushMs: true,
  quarantineMs: true,
  ownsBackend: true,
  now: true,
  partialBatches: true,
  lease: true,
  jitter: true,
  traceKeys: true,
  logger: true,
  l1: true,
  bus: true,
};

/**
 * Checks every option and applies the defaults, or throws `CacheConfigError` naming the option.
 * Pure: no I/O, nothing started.
 */
export function resolveClientOptions<T>(options: CacheClientOptions<T>): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new CacheConfigError('options must be an object with at least `backend`');
  }
  checkOptionNames(options, CLIENT_OPTION_NAMES, 'CacheClient');
  const backend = options.backend as CacheBackend | undefined;
  if (typeof backend !== 'object' || backend === null || typeof backend.get !== 'function') {
    throw new CacheConfigError(
      '`backend` must be a cache backend (for example `createMemoryBackend()`)',
    );
  }
  const partialBatches = options.partialBatches ?? 'return';
  if (partialBatches !== 'return' && partialBatches !== 'throw') {
    throw new CacheConfigError("`partialBatches` must be 'return' or 'throw'");
  }
  const recentKeys = options.recentKeys === false ? 0 : (options.recentKeys ?? DEFAULT_RECENT_KEYS);
  const l1 = resolveL1(options.l1);
  const bus = checkBusOption(options.bus);
  if (bus !== undefined && l1 === undefined) {
    throw new CacheConfigError(
      '`bus` keeps L1 copies coherent and needs `l1` (for example `l1: true`)',
    );
  }
  return {
    backend,
    codec: resolveCodec(options),
    keys: resolveKeys(options, backend.limits.maxKeyBytes),
    timeoutMs: integerOption(options.timeoutMs, 'timeoutMs', DEFAULT_TIMEOUT_MS, {
      max: MAX_TIMER_MS,
    }),
    defaultTtlSeconds: optionSeconds(options.defaultTtl ?? 0, 'defaultTtl'),
    service: options.service,
    ownsBackend: options.ownsBackend ?? true,
    now: options.now ?? Date.now,
    recentKeys: integerOption(recentKeys, 'recentKeys', DEFAULT_RECENT_KEYS, { min: 0 }),
    localPath: resolveLocalPath(options, recentKeys),
    quarantineMs: integerOption(options.quarantineMs, 'quarantineMs', DEFAULT_QUARANTINE_MS, {
      min: 0,
      max: MAX_TIMER_MS,
    }),
    partialBatches,
    lease: resolveLease(options.lease, false),
    jitter: checkJitter(options.jitter),
    traceKeys: options.traceKeys === true,
    logger: checkLogger(options.logger),
    l1,
    bus,
  };
}

/** Prefix, separator, long keys and service name: the key space of the root client. */
function resolveKeys<T>(options: CacheClientOptions<T>, maxKeyBytes: number): KeySpaceOptions {
  const separator = options.keySeparator ?? DEFAULT_KEY_SEPARATOR;
  if (typeof separator !== 'string' || ILLEGAL_KEY_CHAR.test(separator)) {
    throw new CacheConfigError(
      '`keySeparator` must be a string without whitespace or control characters',
    );
  }
  const prefix = options.prefix ?? '';
  if (prefix !== '') checkSegment(prefix, { what: '`prefix`', separator });
  if (options.service !== undefined) {
    checkSegment(options.service, { what: '`service`', separator });
  }
  const longKeys = options.longKeys ?? LongKeys.Error;
  if (!Object.values(LongKeys).includes(longKeys)) {
    throw new CacheConfigError("`longKeys` must be 'error', 'hash' or 'hash-unsafe'");
  }
  return { prefix, separator, longKeys, maxKeyBytes };
}

/** The codec options of {@link CacheClientOptions}, for code that decodes without a client. */
export type CodecClientOptions<T> = Pick<
  CacheClientOptions<T>,
  | 'compress'
  | 'encryptionKey'
  | 'cipher'
  | 'acceptPlaintext'
  | 'maxDecompressedBytes'
  | 'serializer'
  | 'deserializer'
  | 'frozenValues'
>;

/** Compression, encryption and hooks: the codec. */
export function resolveCodec<T>(options: CodecClientOptions<T>): Codec {
  const compress = options.compress ?? DEFAULT_COMPRESS_THRESHOLD;
  if (
    typeof compress !== 'boolean' &&
    (typeof compress !== 'number' || !Number.isInteger(compress) || compress < 0)
  ) {
    throw new CacheConfigError(
      '`compress` must be true, false or a threshold in bytes (an integer ≥ 0)',
    );
  }
  return new Codec({
    compress,
    cipher: resolveCipher(options),
    acceptPlaintext: options.acceptPlaintext ?? false,
    maxDecompressedBytes: integerOption(
      options.maxDecompressedBytes,
      'maxDecompressedBytes',
      DEFAULT_MAX_DECOMPRESSED_BYTES,
      { max: bufferConstants.MAX_LENGTH },
    ),
    serializer: options.serializer as Serializer | undefined,
    deserializer: options.deserializer,
    frozen: booleanOption(options.frozenValues, 'frozenValues'),
  });
}

function resolveCipher<T>(options: CodecClientOptions<T>): CacheCipher | undefined {
  if (options.cipher !== undefined && options.encryptionKey !== undefined) {
    throw new CacheConfigError('pass either `encryptionKey` or `cipher`, not both');
  }
  const cipher = options.cipher;
  if (
    cipher !== undefined &&
    (typeof cipher.encrypt !== 'function' || typeof cipher.decrypt !== 'function')
  ) {
    throw new CacheConfigError('`cipher` must have `encrypt` and `decrypt` methods');
  }
  if (options.encryptionKey === undefined) return cipher;
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
  return createAesGcmCipher({ keys: { id: 0, key: options.encryptionKey } });
}
