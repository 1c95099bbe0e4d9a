import {
  CacheConfigError,
  DEFAULT_MAX_VALUE_BYTES as CORE_DEFAULT_MAX_VALUE_BYTES,
  DEFAULT_TIMEOUT_MS,
} from '@stowage/core';
import {
  ILLEGAL_KEY_CHAR,
  integerOption,
  MAX_TIMER_MS,
  MEMCACHED_MAX_KEY_BYTES,
} from '@stowage/core/backend';
import { KeyDistribution } from './key-distribution.js';

/** Default per-call deadline, in milliseconds: the client's default, `DEFAULT_TIMEOUT_MS`. */
export { DEFAULT_TIMEOUT_MS };
/**
 * Default largest value, in bytes: core's `DEFAULT_MAX_VALUE_BYTES` (1 MiB − 512), the same on
 * every bundled backend, so a value the memory backend accepts in a unit test is one production
 * memcached stores too.
 */
export const DEFAULT_MAX_VALUE_BYTES: number = CORE_DEFAULT_MAX_VALUE_BYTES;
/** Default consecutive failures that open a server's breaker. */
export const DEFAULT_BREAKER_THRESHOLD = 3;
/** Default first open period of a breaker, in milliseconds. */
export const DEFAULT_BREAKER_COOLDOWN_MS = 1000;
/** Default longest open period of a breaker, in milliseconds. */
export const DEFAULT_BREAKER_MAX_COOLDOWN_MS = 10_000;
/** memcached's default port. */
export const DEFAULT_PORT = 11211;
/** Default key distribution over several servers: ketama-style consistent hashing. */
export const DEFAULT_DISTRIBUTION: KeyDistribution = KeyDistribution.Ketama;

/** Options of {@link createMemcachedBackend}. */
export interface MemcachedBackendOptions {
  /**
   * The servers, as `'host:port'` (port defaults to 11211; IPv6 as `'[::1]:11211'`): an array,
   * or one string with commas (`'10.0.0.5:11211,10.0.0.6:11211'`). Keys are spread over them by
   * consistent hashing. Required: the `MEMCACHIER_SERVERS`/`MEMCACHE_SERVERS` environment
   * variables memjs would read are ignored.
   */
  readonly servers: string | readonly string[];
  /**
   * How keys are spread over several servers (one server holds every key whatever this says).
   * Every client sharing the servers must spread keys the same way.
   *
   * - `'ketama'`: ketama-style consistent hashing, 160 points per server (MD5 of `host:port-i`),
   *   the key hashed with `keyPrefix`. For servers only Stowage uses.
   * - `'pymemcache'`: what Python's `pymemcache.client.hash.HashClient` does by default
   *   (rendezvous hashing with murmur3 over `"host:port-key"`), so a Python service with a
   *   `HashClient` over the same servers, spelled the same way, finds every key where Stowage
   *   put it. `keyPrefix` is not hashed, as HashClient's `key_prefix` is not. A dead server's
   *   keys stay on it (misses), where HashClient by default moves them: see the README,
   *   "Key distribution".
   * @default 'ketama'
   */
  readonly distribution?: KeyDistribution | undefined;
  /**
   * Namespace put in front of every key on the wire, so several backends can share servers. Its
   * UTF-8 bytes count against memcached's 250-byte key limit: `limits.maxKeyBytes` is 250 minus
   * its length.
   * @default '' (none)
   */
  readonly keyPrefix?: string | undefined;
  /**
   * Deadline of every call, in milliseconds: a call that has no answer by then rejects with
   * `CacheTimeoutError`, and the connection it was waiting on is reset.
   * @default 1000
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Deadline of opening a connection (TCP connect plus SASL), in milliseconds. Calls still wait
   * no longer than `timeoutMs`; a slow handshake goes on for later calls.
   * @default 2 × timeoutMs
   */
  readonly connectTimeoutMs?: number | undefined;
  /**
   * Largest value in bytes; a larger value is refused (`set` resolves `false`) and the key's old
   * value deleted, as memcached does for an item over `-I`; a server answer larger than this
   * (plus 1 KiB for key and extras) is treated as a protocol error. Match it to the server's
   * `-I`: item size minus 512.
   * @default 1048064 (1 MiB − 512, for memcached's default `-I 1m`)
   */
  readonly maxValueBytes?: number | undefined;
  /**
   * SASL PLAIN user name. Read from this option only, never from `MEMCACHIER_USERNAME` or
   * `MEMCACHE_USERNAME`. memjs has no TLS: the password crosses the network in clear text.
   * @default undefined (no authentication)
   */
  readonly username?: string | undefined;
  /** SASL PLAIN password; see `username`. @default undefined */
  readonly password?: string | undefined;
  /**
   * Consecutive transport failures (refused, reset, timeout, protocol error) that open a
   * server's breaker. While open, calls for that server's keys fail at once.
   * @default 3
   */
  readonly breakerThreshold?: number | undefined;
  /**
   * How long a breaker stays open before one call probes the server, in milliseconds. Each failed
   * probe doubles it, up to `breakerMaxCooldownMs`; ±20 % jitter.
   * @default 1000
   */
  readonly breakerCooldownMs?: number | undefined;
  /** Longest open period of a breaker, in milliseconds. @default 10000 */
  readonly breakerMaxCooldownMs?: number | undefined;
}

/** A parsed server address. */
export interface ServerAddress {
  /** Host name or IP address; an IPv6 address without its brackets. */
  readonly host: string;
  /** TCP port, 1–65535. */
  readonly port: number;
}

function parseServer(text: string): ServerAddress {
  const trimmed = text.trim();
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]/@,]+))(?::(\d{1,5}))?$/.exec(trimmed);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? DEFAULT_PORT : Number(match[3]);
  if (match === null || host === undefined || port < 1 || port > 65_535) {
    throw new CacheConfigError(
      `\`servers\` entry '${text}' is not 'host:port' (port 1–65535; IPv6 as '[::1]:11211')`,
    );
  }
  return { host, port };
}

function parseServers(servers: unknown): ServerAddress[] {
  const list =
    typeof servers === 'string'
      ? servers.split(',')
      : Array.isArray(servers) && servers.every((entry) => typeof entry === 'string')
        ? servers
        : undefined;
  if (list === undefined || list.length === 0 || (list.length === 1 && list[0]?.trim() === '')) {
    throw new CacheConfigError(
      "`servers` must be a 'host:port' string or an array of them; memjs's environment variables are not read",
    );
  }
  const parsed = list.map(parseServer);
  const seen = new Set<string>();
  for (const server of parsed) {
    const name = `${server.host}:${server.port}`;
    if (seen.has(name)) throw new CacheConfigError(`\`servers\` lists ${name} twice`);
    seen.add(name);
  }
  if (parsed.length > 65_535) throw new CacheConfigError('`servers` lists more than 65535 servers');
  return parsed;
}

function credential(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new CacheConfigError(`\`${name}\` must be a non-empty string`);
  }
  return value;
}

/** The options of a memcached backend, checked and with their defaults. */
export interface ResolvedMemcachedOptions {
  /** The servers, in configuration order, each once. */
  readonly servers: readonly ServerAddress[];
  /** See {@link MemcachedBackendOptions.distribution}. */
  readonly distribution: KeyDistribution;
  /** See {@link MemcachedBackendOptions.keyPrefix}; `''` for none. */
  readonly keyPrefix: string;
  /** UTF-8 bytes of `keyPrefix`. */
  readonly prefixBytes: number;
  /** Largest key, in bytes: memcached's 250 less the prefix. */
  readonly maxKeyBytes: number;
  /** Largest value, in bytes. */
  readonly maxValueBytes: number;
  /** Per-call deadline, in milliseconds. */
  readonly timeoutMs: number;
  /** Deadline of TCP connect plus SASL, in milliseconds. */
  readonly connectTimeoutMs: number;
  /** SASL PLAIN credentials: both set, or both `undefined`. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Each server's circuit breaker: threshold in failures, periods in milliseconds. */
  readonly breaker: {
    readonly threshold: number;
    readonly cooldownMs: number;
    readonly maxCooldownMs: number;
  };
}

/**
 * Checks every option and applies the defaults, or throws `CacheConfigError` naming the option.
 * Pure: opens nothing, reads no environment variable.
 */
export function resolveMemcachedOptions(
  options: MemcachedBackendOptions,
): ResolvedMemcachedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new CacheConfigError('options must be an object with at least `servers`');
  }
  const servers = parseServers(options.servers);
  const keyPrefix = options.keyPrefix ?? '';
  if (typeof keyPrefix !== 'string' || ILLEGAL_KEY_CHAR.test(keyPrefix)) {
    throw new CacheConfigError(
      '`keyPrefix` must be a string without whitespace, control characters or lone surrogates',
    );
  }
  const prefixBytes = Buffer.byteLength(keyPrefix, 'utf8');
  const maxKeyBytes = MEMCACHED_MAX_KEY_BYTES - prefixBytes;
  if (maxKeyBytes < 1) {
    throw new CacheConfigError(
      `\`keyPrefix\` is ${prefixBytes} bytes and leaves no room for keys within memcached's ${MEMCACHED_MAX_KEY_BYTES}`,
    );
  }
  const timeoutMs = integerOption(options.timeoutMs, 'timeoutMs', DEFAULT_TIMEOUT_MS, {
    max: MAX_TIMER_MS,
  });
  const username = credential(options.username, 'username');
  const password = credential(options.password, 'password');
  if ((username === undefined) !== (password === undefined)) {
    throw new CacheConfigError('pass both `username` and `password` for SASL, or neither');
  }
  if ((options as { onError?: unknown }).onError !== undefined) {
    throw new CacheConfigError(
      "`onError` was removed: a failed server's share of a batch now reaches the client as a CacheBatchError (counted in stats().errors and emitted as an `error` event); listen there",
    );
  }
  return {
    servers,
    distribution: resolveDistribution(options.distribution),
    keyPrefix,
    prefixBytes,
    maxKeyBytes,
    maxValueBytes: integerOption(options.maxValueBytes, 'maxValueBytes', DEFAULT_MAX_VALUE_BYTES),
    timeoutMs,
    connectTimeoutMs: integerOption(
      options.connectTimeoutMs,
      'connectTimeoutMs',
      Math.min(2 * timeoutMs, MAX_TIMER_MS),
      { max: MAX_TIMER_MS },
    ),
    username,
    password,
    breaker: resolveBreaker(options),
  };
}

const DISTRIBUTIONS: readonly unknown[] = Object.values(KeyDistribution);

function resolveDistribution(distribution: unknown): KeyDistribution {
  if (distribution === undefined) return DEFAULT_DISTRIBUTION;
  if (!DISTRIBUTIONS.includes(distribution)) {
    throw new CacheConfigError(
      `\`distribution\` must be one of ${DISTRIBUTIONS.map((name) => `'${String(name)}'`).join(', ')}; got ${typeof distribution === 'string' ? `'${distribution}'` : typeof distribution}`,
    );
  }
  return distribution as KeyDistribution;
}

function resolveBreaker(options: MemcachedBackendOptions): ResolvedMemcachedOptions['breaker'] {
  const threshold = integerOption(
    options.breakerThreshold,
    'breakerThreshold',
    DEFAULT_BREAKER_THRESHOLD,
  );
  const cooldownMs = integerOption(
    options.breakerCooldownMs,
    'breakerCooldownMs',
    DEFAULT_BREAKER_COOLDOWN_MS,
    { max: MAX_TIMER_MS },
  );
  const maxCooldownMs = integerOption(
    options.breakerMaxCooldownMs,
    'breakerMaxCooldownMs',
    Math.max(DEFAULT_BREAKER_MAX_COOLDOWN_MS, cooldownMs),
    { min: cooldownMs, max: MAX_TIMER_MS },
  );
  return { threshold, cooldownMs, maxCooldownMs };
}
