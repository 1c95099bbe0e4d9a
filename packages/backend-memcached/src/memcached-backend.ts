import {
  CacheBackendError,
  CacheConfigError,
  CacheError,
  CacheErrorCode,
  CacheKeyError,
  CacheValueError,
  MAX_TTL_SECONDS,
  MEMCACHED_MAX_KEY_BYTES,
  type BackendCapabilities,
  type BackendLimits,
  type BackendUrlOptions,
  type BackendWrite,
  type CacheBackend,
  type StoredEntry,
  DEFAULT_MAX_VALUE_BYTES as CORE_DEFAULT_MAX_VALUE_BYTES,
  redactUrl,
} from '@stowage/core';
import { integerOption } from '@stowage/core/backend';
import { Breaker, type BreakerState } from './breaker.js';
import {
  AckRequest,
  CounterRequest,
  GetManyRequest,
  CompareDeleteRequest,
  GetRequest,
  KeyRequest,
  SetAndReadRequest,
  SetManyRequest,
  StoreRequest,
} from './commands.js';
import { Connection } from './connection.js';
import { FrameWriter, inlineValueBytes } from './frame-writer.js';
import { HashRing } from './hash-ring.js';
import { HEADER_BYTES, NO_AUTOVIVIFY, Opcode } from './protocol.js';
import { FailureKind, failureError, type Request, type RequestInfo } from './request.js';

/** Default per-call deadline, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 1000;
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

/** memcached reads an expiration above 30 days as an absolute Unix time. */
const RELATIVE_TTL_LIMIT = 30 * 24 * 3600;
const MAX_FLAGS = 0xffffffff;
const MAX_DELTA = 2n ** 64n - 1n;
// Whitespace, C0/C1 control characters (NUL and DEL included) and lone surrogates: the same rule
// as @stowage/core's keys, so a key the client accepts is never refused here and vice versa.
const ILLEGAL_KEY_CHAR = /[\s\p{Cc}\p{Cs}]/u; // \p{Cc}: U+0000–U+001F and U+007F–U+009F
/** Room in a response frame for the key and extras beside the largest value. */
const FRAME_SLACK_BYTES = 1024;

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
   * Largest value in bytes; larger values are refused with `CacheValueError` before any I/O, and
   * a server answer larger than this (plus 1 KiB for key and extras) is treated as a protocol
   * error. Match it to the server's `-I`: item size minus 512.
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
  /**
   * Called with failures the backend absorbed instead of throwing: a server's share of a
   * `getMany` (its keys read as misses) or a `setMany` that was never sent (its keys are returned
   * as not stored) while other servers answered. Errors thrown by the hook are ignored.
   * @default undefined
   */
  readonly onError?: ((error: CacheBackendError) => void) | undefined;
}

/** A parsed server address. */
interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

interface Node {
  readonly address: string;
  readonly connection: Connection;
  readonly breaker: Breaker;
}

/** A single-key request being built. */
interface Prepared {
  readonly keyBytes: number;
  readonly node: Node;
  readonly writer: FrameWriter;
  readonly base: number;
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

// Node fires a timer above 2^31 − 1 ms after 1 ms, so larger deadlines would time out at once.
const MAX_TIMER_MS = 2 ** 31 - 1;

function credential(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new CacheConfigError(`\`${name}\` must be a non-empty string`);
  }
  return value;
}

/**
 * memcached's expiration for a TTL in seconds: fractions round up (0.2 s → 1 s, never 0, which
 * means "no expiry"), and a TTL over 30 days becomes an absolute Unix time, because memcached
 * would read the number itself as a timestamp in 1970 and store the item already expired.
 */
export function toExpiration(ttlSeconds: number, nowMs: number = Date.now()): number {
  if (
    typeof ttlSeconds !== 'number' ||
    !Number.isFinite(ttlSeconds) ||
    ttlSeconds < 0 ||
    ttlSeconds > MAX_TTL_SECONDS
  ) {
    throw new CacheValueError(
      `\`ttl\` must be a number of seconds from 0 to ${MAX_TTL_SECONDS}; got ${String(ttlSeconds)}`,
    );
  }
  if (ttlSeconds === 0) return 0;
  const seconds = Math.ceil(ttlSeconds);
  return seconds <= RELATIVE_TTL_LIMIT ? seconds : Math.floor(nowMs / 1000) + seconds;
}

/** Frames per server for a batch: indexes into the caller's list. */
function groupBy<T>(items: readonly T[], locate: (item: T) => number): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  items.forEach((item, index) => {
    const node = locate(item);
    const group = groups.get(node);
    if (group === undefined) groups.set(node, [index]);
    else group.push(index);
  });
  return groups;
}

/**
 * The memcached backend: memjs's connection objects, hardened (see the README), under a command
 * layer that speaks the binary protocol itself.
 *
 * - flags travel in memcached's own item flags, so other clients (pymemcache, …) see Q2's codes;
 * - `getMany`, `setMany` and `deleteMany` are one round trip per server (quiet commands + `noop`);
 * - keys are spread over servers by ketama-style consistent hashing;
 * - every call has its own deadline and settles by it; each server has a circuit breaker;
 * - keys, values, TTLs and deltas are checked before anything is sent.
 */
export class MemcachedBackend implements CacheBackend {
  /** @inheritdoc */
  readonly name: string = 'memcached';
  /**
   * @inheritdoc
   * `timeoutMs` is this backend's `timeoutMs`: every request fails by its deadline (one timer per
   * connection), so a client whose own deadline is no shorter arms no second timer per call.
   */
  readonly capabilities: BackendCapabilities;
  /** @inheritdoc */
  readonly limits: BackendLimits;
  /** The server addresses, `host:port`, in configuration order. */
  readonly servers: readonly string[];
  readonly #nodes: readonly Node[];
  readonly #ring: HashRing | undefined;
  readonly #prefix: string;
  readonly #prefixBytes: number;
  readonly #timeoutMs: number;
  readonly #onError: ((error: CacheBackendError) => void) | undefined;
  #closed = false;

  constructor(options: MemcachedBackendOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new CacheConfigError('options must be an object with at least `servers`');
    }
    const addresses = parseServers(options.servers);
    const prefix = options.keyPrefix ?? '';
    if (typeof prefix !== 'string' || ILLEGAL_KEY_CHAR.test(prefix)) {
      throw new CacheConfigError(
        '`keyPrefix` must be a string without whitespace, control characters or lone surrogates',
      );
    }
    this.#prefix = prefix;
    this.#prefixBytes = Buffer.byteLength(prefix, 'utf8');
    const maxKeyBytes = MEMCACHED_MAX_KEY_BYTES - this.#prefixBytes;
    if (maxKeyBytes < 1) {
      throw new CacheConfigError(
        `\`keyPrefix\` is ${this.#prefixBytes} bytes and leaves no room for keys within memcached's ${MEMCACHED_MAX_KEY_BYTES}`,
      );
    }
    this.#timeoutMs = integerOption(options.timeoutMs, 'timeoutMs', DEFAULT_TIMEOUT_MS, {
      max: MAX_TIMER_MS,
    });
    this.capabilities = {
      ttlPrecision: 'seconds',
      scopedClear: false,
      counters: 'unsigned64',
      delayedFlush: true,
      timeoutMs: this.#timeoutMs,
    };
    const connectTimeoutMs = integerOption(
      options.connectTimeoutMs,
      'connectTimeoutMs',
      Math.min(2 * this.#timeoutMs, MAX_TIMER_MS),
      {
        max: MAX_TIMER_MS,
      },
    );
    const maxValueBytes = integerOption(
      options.maxValueBytes,
      'maxValueBytes',
      DEFAULT_MAX_VALUE_BYTES,
    );
    const username = credential(options.username, 'username');
    const password = credential(options.password, 'password');
    if ((username === undefined) !== (password === undefined)) {
      throw new CacheConfigError('pass both `username` and `password` for SASL, or neither');
    }
    const threshold = integerOption(
      options.breakerThreshold,
      'breakerThreshold',
      DEFAULT_BREAKER_THRESHOLD,
    );
    const cooldownMs = integerOption(
      options.breakerCooldownMs,
      'breakerCooldownMs',
      DEFAULT_BREAKER_COOLDOWN_MS,
      {
        max: MAX_TIMER_MS,
      },
    );
    const maxCooldownMs = integerOption(
      options.breakerMaxCooldownMs,
      'breakerMaxCooldownMs',
      Math.max(DEFAULT_BREAKER_MAX_COOLDOWN_MS, cooldownMs),
      { min: cooldownMs, max: MAX_TIMER_MS },
    );
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new CacheConfigError('`onError` must be a function');
    }
    this.#onError = options.onError;
    this.limits = { maxKeyBytes, maxValueBytes };

    this.#nodes = addresses.map((address) => {
      const breaker = new Breaker({
        threshold,
        cooldownMs,
        maxCooldownMs,
        now: () => performance.now(),
      });
      const connection = new Connection({
        host: address.host,
        port: address.port,
        username,
        password,
        timeoutMs: this.#timeoutMs,
        connectTimeoutMs,
        maxBodyBytes: maxValueBytes + FRAME_SLACK_BYTES,
        onFailure: (failure) => breaker.failure(failure.message),
        onSuccess: () => breaker.success(),
      });
      return { address: connection.address, connection, breaker };
    });
    this.servers = this.#nodes.map((node) => node.address);
    this.#ring = this.#nodes.length > 1 ? new HashRing(this.servers) : undefined;
  }

  // ---- checks (before any I/O) -----------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed)
      throw new CacheError(CacheErrorCode.Closed, 'the memcached backend is closed');
  }

  /** Validates a key; returns its UTF-8 length. */
  #keyBytes(key: unknown): number {
    if (typeof key !== 'string' || key.length === 0) {
      throw new CacheKeyError(
        'key must be a non-empty string',
        typeof key === 'string' ? key : undefined,
      );
    }
    if (ILLEGAL_KEY_CHAR.test(key)) {
      throw new CacheKeyError(
        'key contains whitespace, a control character or a lone surrogate',
        key,
      );
    }
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > this.limits.maxKeyBytes) {
      throw new CacheKeyError(
        `key is too long: ${bytes} bytes, the limit is ${this.limits.maxKeyBytes} (memcached's ${MEMCACHED_MAX_KEY_BYTES} less the ${this.#prefixBytes}-byte \`keyPrefix\`)`,
        key,
      );
    }
    return bytes;
  }

  #checkEntry(key: string, entry: StoredEntry): void {
    if (typeof entry !== 'object' || entry === null || !(entry.value instanceof Uint8Array)) {
      throw new CacheValueError('entry value must be a Uint8Array', key);
    }
    if (!Number.isInteger(entry.flags) || entry.flags < 0 || entry.flags > MAX_FLAGS) {
      throw new CacheValueError(
        `flags must be an unsigned 32-bit integer; got ${String(entry.flags)}`,
        key,
      );
    }
    if (entry.value.byteLength > this.limits.maxValueBytes) {
      throw new CacheValueError(
        `value is too large: ${entry.value.byteLength} bytes, the limit is ${this.limits.maxValueBytes} (\`maxValueBytes\`)`,
        key,
      );
    }
  }

  // ---- routing ----------------------------------------------------------------------------

  #locate(key: string): number {
    return this.#ring === undefined ? 0 : this.#ring.locate(this.#prefix + key);
  }

  #info(node: Node, operation: string, key: string | undefined, write: boolean): RequestInfo {
    return { operation, key, write, server: node.address, timeoutMs: this.#timeoutMs };
  }

  /** The error for a call refused by an open breaker (nothing was sent). */
  #downError(node: Node, info: RequestInfo): CacheError {
    return failureError(
      {
        kind: FailureKind.Down,
        message: `the server is marked down after repeated failures (last: ${node.breaker.lastFailure}); next attempt in ${node.breaker.retryInMs} ms`,
      },
      info,
      false,
    );
  }

  /** Sends `request` to `node` unless its breaker is open; returns the request's promise. */
  #send<T>(
    node: Node,
    request: Request<T>,
    base: number,
    frames: number,
    writer: FrameWriter,
  ): Promise<T> {
    if (!node.breaker.allow()) return Promise.reject(this.#downError(node, request.info));
    request.base = base;
    request.last = frames - 1;
    request.chunks = writer.finish();
    node.connection.send(request as Request<unknown>);
    return request.promise;
  }

  #report(error: unknown): void {
    if (this.#onError === undefined || !(error instanceof CacheBackendError)) return;
    try {
      this.#onError(error);
    } catch {
      // A failing hook must not turn a partial result into a failure, nor crash anything.
    }
  }

  // ---- single-key operations --------------------------------------------------------------

  /**
   * Checks `key`, picks its server, sizes a frame buffer for `frames` frames of that key plus
   * `moreBytes` (extras and inline values), and reserves their opaque values. With `closing`,
   * also room and an opaque for the `noop` that {@link MemcachedBackend.#sendBatch} appends
   * (requests whose answer carries a value). No I/O.
   */
  #prepare(key: string, frames: number, moreBytes: number, closing = false): Prepared {
    this.#assertOpen();
    const keyBytes = this.#keyBytes(key);
    const node = this.#nodes[this.#locate(key)] as Node;
    const writer = new FrameWriter(
      frames * (HEADER_BYTES + this.#prefixBytes + keyBytes) +
        moreBytes +
        (closing ? HEADER_BYTES : 0),
      this.#prefix,
      this.#prefixBytes,
    );
    return {
      keyBytes,
      node,
      writer,
      base: node.connection.reserve(closing ? frames + 1 : frames),
    };
  }

  /**
   * Sizes the frame buffer of one server's share of a batch (one frame per index, plus the
   * closing `noop`; `moreBytes(index)` adds extras and inline values) and reserves its opaques.
   */
  #prepareBatch(
    node: Node,
    indexes: readonly number[],
    keyBytes: readonly number[],
    moreBytes?: (index: number) => number,
  ): { writer: FrameWriter; base: number } {
    let size = HEADER_BYTES;
    for (const index of indexes) {
      size += HEADER_BYTES + this.#prefixBytes + (keyBytes[index] as number);
      if (moreBytes !== undefined) size += moreBytes(index);
    }
    const writer = new FrameWriter(size, this.#prefix, this.#prefixBytes);
    return { writer, base: node.connection.reserve(indexes.length + 1) };
  }

  /** Closes a batch with `noop` (whose answer ends it) and sends it. */
  #sendBatch<T>(
    node: Node,
    request: Request<T>,
    base: number,
    frames: number,
    writer: FrameWriter,
  ): Promise<T> {
    writer.frame(Opcode.Noop, base + frames, 0, -1, 0);
    return this.#send(node, request, base, frames + 1, writer);
  }

  /** @inheritdoc */
  async get(key: string): Promise<StoredEntry | undefined> {
    return this.#getk(key, 'get');
  }

  /** One `getk`; `onRequest` sees the request, whose CAS fields `deleteIf` reads. */
  #getk(
    key: string,
    operation: string,
    onRequest?: (request: GetRequest) => void,
  ): Promise<StoredEntry | undefined> {
    const { keyBytes, node, writer, base } = this.#prepare(key, 1, 0, true);
    writer.frame(Opcode.GetK, base, 0, keyBytes, 0);
    const keyOffset = writer.key(key, keyBytes);
    const info = this.#info(node, operation, key, false);
    const request = new GetRequest(info, writer, keyOffset, this.#prefixBytes + keyBytes);
    onRequest?.(request);
    return this.#sendBatch(node, request, base, 1, writer);
  }

  /** Writes a `set`/`add` frame (header, flags, expiration, key, value). */
  #storeFrame(
    prepared: Prepared,
    opcode: number,
    opaque: number,
    key: string,
    entry: StoredEntry,
    expiration: number,
  ): void {
    const { writer, keyBytes } = prepared;
    writer.frame(opcode, opaque, 8, keyBytes, entry.value.byteLength);
    writer.u32(entry.flags);
    writer.u32(expiration);
    writer.key(key, keyBytes);
    writer.value(entry.value);
  }

  #store(
    operation: 'set' | 'add',
    key: string,
    entry: StoredEntry,
    ttlSeconds: number,
  ): Promise<boolean> {
    this.#checkEntry(key, entry);
    const expiration = toExpiration(ttlSeconds);
    const prepared = this.#prepare(key, 1, 8 + inlineValueBytes(entry.value));
    const opcode = operation === 'set' ? Opcode.Set : Opcode.Add;
    this.#storeFrame(prepared, opcode, prepared.base, key, entry, expiration);
    const request = new StoreRequest(this.#info(prepared.node, operation, key, true));
    return this.#send(prepared.node, request, prepared.base, 1, prepared.writer);
  }

  /** @inheritdoc */
  async set(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    return this.#store('set', key, entry, ttlSeconds);
  }

  /** @inheritdoc */
  async add(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    return this.#store('add', key, entry, ttlSeconds);
  }

  /**
   * Stores an entry and reads it back in one round trip: a `set` and a `getk` pipelined on the
   * same connection, which memcached answers in order, so the read sees this write.
   */
  async setAndRead(
    key: string,
    entry: StoredEntry,
    ttlSeconds: number,
  ): Promise<StoredEntry | undefined> {
    this.#checkEntry(key, entry);
    const expiration = toExpiration(ttlSeconds);
    const prepared = this.#prepare(key, 2, 8 + inlineValueBytes(entry.value), true);
    const { keyBytes, node, writer, base } = prepared;
    this.#storeFrame(prepared, Opcode.Set, base, key, entry, expiration);
    writer.frame(Opcode.GetK, base + 1, 0, keyBytes, 0);
    const keyOffset = writer.key(key, keyBytes);
    const info = this.#info(node, 'setAndRead', key, true);
    const request = new SetAndReadRequest(info, writer, keyOffset, this.#prefixBytes + keyBytes);
    return this.#sendBatch(node, request, base, 2, writer);
  }

  /** @inheritdoc */
  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const expiration = toExpiration(ttlSeconds);
    const { keyBytes, node, writer, base } = this.#prepare(key, 1, 4);
    writer.frame(Opcode.Touch, base, 4, keyBytes, 0);
    writer.u32(expiration);
    writer.key(key, keyBytes);
    const request = new KeyRequest(this.#info(node, 'touch', key, false));
    return this.#send(node, request, base, 1, writer);
  }

  /** @inheritdoc */
  async incr(key: string, delta: bigint): Promise<bigint | undefined> {
    return this.#count('incr', key, delta);
  }

  /** @inheritdoc */
  async decr(key: string, delta: bigint): Promise<bigint | undefined> {
    return this.#count('decr', key, delta);
  }

  #count(operation: 'incr' | 'decr', key: string, delta: bigint): Promise<bigint | undefined> {
    if (typeof delta !== 'bigint' || delta < 0n || delta > MAX_DELTA) {
      throw new CacheValueError(
        `\`delta\` must be a bigint from 0 to 2^64 − 1; got ${String(delta)}`,
        key,
      );
    }
    const { keyBytes, node, writer, base } = this.#prepare(key, 1, 20, true);
    const opcode = operation === 'incr' ? Opcode.Increment : Opcode.Decrement;
    writer.frame(opcode, base, 20, keyBytes, 0);
    writer.u64(delta);
    writer.u64(0n); // initial value, unused: NO_AUTOVIVIFY keeps a missing key missing
    writer.u32(NO_AUTOVIVIFY);
    writer.key(key, keyBytes);
    // The client never retries or quarantines a counter; `indeterminate` still tells callers that
    // an increment that timed out may have happened.
    const request = new CounterRequest(this.#info(node, operation, key, true));
    return this.#sendBatch(node, request, base, 1, writer);
  }

  /** @inheritdoc */
  async delete(key: string): Promise<boolean> {
    const { keyBytes, node, writer, base } = this.#prepare(key, 1, 0);
    writer.frame(Opcode.Delete, base, 0, keyBytes, 0);
    writer.key(key, keyBytes);
    const request = new KeyRequest(this.#info(node, 'delete', key, true));
    return this.#send(node, request, base, 1, writer);
  }

  /**
   * Compare-and-delete with memcached's CAS: a `getk` reads the item and its CAS value; when the
   * bytes and flags are exactly `expected`, a `delete` carrying that CAS removes it — unless
   * anyone wrote the key in between (the server then answers `key exists` and keeps the newer
   * value). Two round trips; used when a write quarantine ends, not on the hot path.
   */
  async deleteIf(key: string, expected: StoredEntry): Promise<boolean> {
    let read: GetRequest | undefined;
    const held = await this.#getk(key, 'deleteIf', (request) => {
      read = request;
    });
    if (
      read === undefined ||
      held === undefined ||
      held.flags !== expected.flags ||
      Buffer.compare(held.value, expected.value) !== 0
    ) {
      return false;
    }
    const { keyBytes, node, writer, base } = this.#prepare(key, 1, 0);
    writer.frame(Opcode.Delete, base, 0, keyBytes, 0);
    // A server started with `-C` has no CAS values (0): the delete is then unconditional, which
    // still keeps the rule — the item held the write in doubt, and a miss is always safe.
    writer.cas(read.casHigh, read.casLow);
    writer.key(key, keyBytes);
    const request = new CompareDeleteRequest(this.#info(node, 'deleteIf', key, true));
    return this.#send(node, request, base, 1, writer);
  }

  // ---- batches: one round trip per server ---------------------------------------------------

  /**
   * Reads many keys with one round trip per server (`getkq` × n, then `noop`). A server that
   * fails or whose breaker is open turns its keys into misses, reported through `onError`, as long
   * as another server answered; when every server involved failed, the call rejects.
   */
  async getMany(keys: readonly string[]): Promise<Array<StoredEntry | undefined>> {
    this.#assertOpen();
    const results: Array<StoredEntry | undefined> = new Array<StoredEntry | undefined>(
      keys.length,
    ).fill(undefined);
    if (keys.length === 0) return results;
    const keyBytes = keys.map((key) => this.#keyBytes(key));
    // One frame per distinct key; duplicates are copied from their first occurrence.
    const first = new Map<string, number>();
    const unique: number[] = [];
    keys.forEach((key, index) => {
      if (!first.has(key)) {
        first.set(key, index);
        unique.push(index);
      }
    });
    const groups = groupBy(unique, (index) => this.#locate(keys[index] as string));
    const pending: Array<Promise<void>> = [];
    for (const [nodeIndex, indexes] of groups) {
      const node = this.#nodes[nodeIndex] as Node;
      const { writer, base } = this.#prepareBatch(node, indexes, keyBytes);
      const offsets: number[] = [];
      const lengths: number[] = [];
      indexes.forEach((index, frame) => {
        const bytes = keyBytes[index] as number;
        writer.frame(Opcode.GetKQ, base + frame, 0, bytes, 0);
        offsets.push(writer.key(keys[index] as string, bytes));
        lengths.push(this.#prefixBytes + bytes);
      });
      const request = new GetManyRequest(
        this.#info(node, 'getMany', undefined, false),
        writer,
        offsets,
        lengths,
        indexes,
        results,
      );
      pending.push(this.#sendBatch(node, request, base, indexes.length, writer));
    }
    const outcomes = await Promise.allSettled(pending);
    const failures = outcomes.filter((outcome) => outcome.status === 'rejected');
    if (failures.length === outcomes.length) throw failures[0]?.reason;
    for (const failure of failures) this.#report(failure.reason);
    if (first.size < keys.length) {
      keys.forEach((key, index) => {
        results[index] = results[first.get(key) as number];
      });
    }
    return results;
  }

  /**
   * Stores many entries with one round trip per server (`setq` × n, then `noop`); resolves the
   * keys the server refused. A server's share that was never sent (breaker open, connection
   * refused) is returned as not stored and reported through `onError`, as long as another server
   * answered. A share that may have reached the server before failing (timeout, reset) rejects
   * the call with `indeterminate: true`, so the client can quarantine those keys.
   */
  async setMany(writes: readonly BackendWrite[], ttlSeconds: number): Promise<string[]> {
    this.#assertOpen();
    if (writes.length === 0) return [];
    const keyBytes = writes.map((write) => this.#keyBytes(write.key));
    for (const write of writes) this.#checkEntry(write.key, write.entry);
    const expiration = toExpiration(ttlSeconds);
    const groups = groupBy(writes, (write) => this.#locate(write.key));
    const pending: Array<Promise<void>> = [];
    const failed: string[] = [];
    const notSent: Array<{ indexes: number[]; error: Error }> = [];
    let indeterminate: Error | undefined;
    for (const [nodeIndex, indexes] of groups) {
      const node = this.#nodes[nodeIndex] as Node;
      const { writer, base } = this.#prepareBatch(
        node,
        indexes,
        keyBytes,
        (index) => 8 + inlineValueBytes((writes[index] as BackendWrite).entry.value),
      );
      indexes.forEach((index, frame) => {
        const { key, entry } = writes[index] as BackendWrite;
        const bytes = keyBytes[index] as number;
        writer.frame(Opcode.SetQ, base + frame, 8, bytes, entry.value.byteLength);
        writer.u32(entry.flags);
        writer.u32(expiration);
        writer.key(key, bytes);
        writer.value(entry.value);
      });
      const request = new SetManyRequest(this.#info(node, 'setMany', undefined, true));
      pending.push(
        this.#sendBatch(node, request, base, indexes.length, writer).then(
          (refused) => {
            for (const frame of refused)
              failed.push((writes[indexes[frame] as number] as BackendWrite).key);
          },
          // Requests reject with Stowage errors only (see request.ts).
          (error: CacheBackendError) => {
            if (error.indeterminate) indeterminate ??= error;
            else notSent.push({ indexes, error });
          },
        ),
      );
    }
    await Promise.all(pending);
    if (indeterminate !== undefined) throw indeterminate;
    if (notSent.length === groups.size) throw (notSent[0] as { error: Error }).error;
    for (const { indexes, error } of notSent) {
      this.#report(error);
      for (const index of indexes) failed.push((writes[index] as BackendWrite).key);
    }
    return [...new Set(failed)];
  }

  /**
   * Deletes many keys with one round trip per server (`deleteq` × n, then `noop`). Any server's
   * failure rejects the call (after the others finished): a delete that may not have happened is
   * never hidden.
   */
  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#assertOpen();
    if (keys.length === 0) return;
    const keyBytes = keys.map((key) => this.#keyBytes(key));
    const groups = groupBy(keys, (key) => this.#locate(key));
    const pending: Array<Promise<void>> = [];
    for (const [nodeIndex, indexes] of groups) {
      const node = this.#nodes[nodeIndex] as Node;
      const { writer, base } = this.#prepareBatch(node, indexes, keyBytes);
      indexes.forEach((index, frame) => {
        const bytes = keyBytes[index] as number;
        writer.frame(Opcode.DeleteQ, base + frame, 0, bytes, 0);
        writer.key(keys[index] as string, bytes);
      });
      const request = new AckRequest(this.#info(node, 'deleteMany', undefined, true));
      pending.push(this.#sendBatch(node, request, base, indexes.length, writer));
    }
    await this.#all(pending);
  }

  /** Waits for every promise; rejects with the first failure once all have settled. */
  async #all(pending: ReadonlyArray<Promise<void>>): Promise<void> {
    const outcomes = await Promise.allSettled(pending);
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
  }

  // ---- server-wide ----------------------------------------------------------------------------

  /**
   * Flushes every server: memcached's `flush_all`, which removes **every** key on the servers,
   * not only this backend's `keyPrefix` (memcached cannot list keys).
   */
  async clear(): Promise<void> {
    return this.flush(0);
  }

  /** @inheritdoc */
  async flush(delaySeconds: number): Promise<void> {
    this.#assertOpen();
    if (!Number.isInteger(delaySeconds) || delaySeconds < 0 || delaySeconds >= RELATIVE_TTL_LIMIT) {
      throw new CacheValueError(
        `\`delaySeconds\` must be an integer from 0 to ${RELATIVE_TTL_LIMIT - 1}; got ${String(delaySeconds)}`,
      );
    }
    const pending = this.#nodes.map((node) => {
      const writer = new FrameWriter(HEADER_BYTES + 4, '', 0);
      const base = node.connection.reserve(1);
      writer.frame(Opcode.Flush, base, 4, -1, 0);
      // memcached (with CAS, the default) invalidates items up to `now + delay - 1`, so a delay
      // of 1 would flush at once; one more second makes the delay mean what the caller said.
      writer.u32(delaySeconds === 0 ? 0 : delaySeconds + 1);
      return this.#send(
        node,
        new AckRequest(this.#info(node, 'flush', undefined, true)),
        base,
        1,
        writer,
      );
    });
    await this.#all(pending);
  }

  /** Closes every connection; pending calls reject with a `Closed` error. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const node of this.#nodes) node.connection.close();
  }

  /** State of each server's breaker (`closed`, `open`, `probing`), keyed by `host:port`. */
  breakers(): Record<string, BreakerState> {
    const states: Record<string, BreakerState> = {};
    for (const node of this.#nodes) states[node.address] = node.breaker.state;
    return states;
  }

  /** The server (`host:port`) that holds `key`. */
  serverFor(key: string): string {
    this.#keyBytes(key);
    return (this.#nodes[this.#locate(key)] as Node).address;
  }
}

/**
 * Creates a memcached backend. Opens no connection: the first call connects.
 *
 * @example
 * const cache = new CacheClient({
 *   backend: createMemcachedBackend({ servers: ['10.0.0.5:11211', '10.0.0.6:11211'] }),
 * });
 */
export function createMemcachedBackend(options: MemcachedBackendOptions): MemcachedBackend {
  return new MemcachedBackend(options);
}

const URL_OPTIONS = [
  'keyPrefix',
  'connectTimeoutMs',
  'maxValueBytes',
  'breakerThreshold',
  'breakerCooldownMs',
  'breakerMaxCooldownMs',
] as const;

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    throw new CacheConfigError(
      `the ${what} in the memcached:// URL is not valid percent-encoding`,
      {
        cause: error,
      },
    );
  }
}

/** The parts of a `memcached://` URL. */
interface UrlParts {
  readonly servers: readonly string[] | string;
  readonly username: string;
  readonly password: string | undefined;
  readonly query: URLSearchParams;
}

function urlParts(url: URL | string, hosts: readonly string[] | undefined): UrlParts {
  if (typeof url !== 'string') {
    if (url.protocol !== 'memcached:') {
      throw new CacheConfigError(
        `the memcached backend needs a memcached:// URL; got ${url.protocol}//`,
      );
    }
    // memcached has no databases or paths: a path is a mistake (a Redis URL's `/0` copied over),
    // refused rather than silently ignored.
    if (url.pathname !== '' && url.pathname !== '/') {
      throw new CacheConfigError(
        `a memcached:// URL has no path; got '${url.pathname}' in '${redactUrl(url)}'`,
      );
    }
    // WHATWG URL holds one host; getCache passes a server list in `hosts`.
    return {
      servers: hosts !== undefined && hosts.length > 0 ? hosts : url.host,
      username: url.username,
      password: url.password === '' ? undefined : url.password,
      query: url.searchParams,
    };
  }
  const match = /^memcached:\/\/(?:([^@/?#]*)@)?([^/?#]*)\/?(?:\?([^#]*))?(?:#.*)?$/i.exec(
    url.trim(),
  );
  if (match === null) {
    throw new CacheConfigError(
      `the memcached backend needs a URL like memcached://host:11211,host2:11211 (no path); got '${redactUrl(url)}'`,
    );
  }
  const [, userinfo = '', servers = '', query = ''] = match;
  const colon = userinfo.indexOf(':');
  return {
    servers,
    username: colon < 0 ? userinfo : userinfo.slice(0, colon),
    password: colon < 0 ? undefined : userinfo.slice(colon + 1),
    query: new URLSearchParams(query),
  };
}

/**
 * Creates a memcached backend from a URL, for `getCache`:
 * `memcached://[user:password@]host[:port][,host[:port]…][?keyPrefix=app&maxValueBytes=…]`.
 * A WHATWG `URL` holds one host, so `getCache` passes the server list in `options.hosts`; a
 * string with the whole list is accepted too. The deadline comes from `options.timeoutMs`.
 */
export function createBackendFromUrl(
  url: URL | string,
  options?: Partial<BackendUrlOptions>,
): MemcachedBackend {
  const parts = urlParts(url, options?.hosts);
  const backendOptions: {
    -readonly [K in keyof MemcachedBackendOptions]: MemcachedBackendOptions[K];
  } = { servers: parts.servers, timeoutMs: options?.timeoutMs };
  if (parts.username !== '') {
    backendOptions.username = decode(parts.username, 'user name');
    backendOptions.password =
      parts.password === undefined ? undefined : decode(parts.password, 'password');
  }
  for (const [name, value] of parts.query) {
    if (!(URL_OPTIONS as readonly string[]).includes(name)) {
      throw new CacheConfigError(
        `unknown memcached:// option '${name}'; known: ${URL_OPTIONS.join(', ')}`,
      );
    }
    if (name === 'keyPrefix') {
      backendOptions.keyPrefix = value;
      continue;
    }
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed <= 0) {
      throw new CacheConfigError(
        `memcached:// option '${name}' must be a positive integer; got '${value}'`,
      );
    }
    (backendOptions as Record<string, unknown>)[name] = parsed;
  }
  return new MemcachedBackend(backendOptions);
}
