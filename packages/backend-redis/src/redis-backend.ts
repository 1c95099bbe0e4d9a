import {
  CacheBackendError,
  CacheConfigError,
  CacheDecodeError,
  CacheError,
  CacheTimeoutError,
  CacheValueError,
} from '@stowage/core';
import {
  closedError,
  transportError,
  ttlToMilliseconds,
  type BackendCapabilities,
  type BackendLimits,
  type BackendUrlOptions,
  type BackendWarning,
  type BackendWrite,
  type CacheBackend,
  type StoredEntry,
} from '@stowage/core/backend';
import type { CorkableStream, RedisArg, RedisClientLike } from './client-like.js';
import { groupBySlot } from './cluster-slot.js';
import { ConnectionWatch, NotConnectedError } from './connection-watch.js';
import { openClient, resolveRedisOptions, type RedisBackendOptions } from './redis-options.js';
import { COUNTER_SCRIPT, DELETE_IF_SCRIPT, type LuaScript } from './scripts.js';
import { encodeStored, HEADER_BYTES, readStored, StoredProblem } from './stored-format.js';

/** Operations that only read: their failures are never indeterminate. */
const READS: ReadonlySet<string> = new Set(['get', 'getMany']);

/** One call through `#run`: what it is, how it is sent and how its reply is read. */
interface RedisCall<T, R> {
  /** The backend method (`get`, `setMany`, …); every one but a read changes the server. */
  readonly operation: string;
  /** The backend's key, when the call concerns one. */
  readonly key: string | undefined;
  /** Sends the command(s); resolves the raw reply. */
  readonly send: () => Promise<T>;
  /** Turns the reply into the result. */
  readonly decode: (reply: T) => R;
  /** May turn an error into a result (`OOM` into `false`). */
  readonly recover?: ((error: unknown) => { readonly value: R } | undefined) | undefined;
}

const GLOB_SPECIAL = /[*?[\]\\]/g;
const TIMED_OUT = 'Command timed out';
const NOT_WRITABLE = "Stream isn't writeable";

/** A decimal counter value as the counter script returns it (anything else is a damaged reply). */
const DECIMAL_REPLY = /^-?\d{1,20}$/;

function isNoScript(error: unknown): boolean {
  return isReplyError(error) && (error as Error).message.startsWith('NOSCRIPT');
}

function isWrongType(error: unknown): boolean {
  return isReplyError(error) && (error as Error).message.startsWith('WRONGTYPE');
}

const same = <T>(value: T): T => value;
const nothing = (): undefined => undefined;
const noop = (): void => undefined;

/** True for the status reply `OK` (ioredis gives it as a Buffer to `callBuffer`). */
function isOk(reply: unknown): boolean {
  return Buffer.isBuffer(reply)
    ? reply.length === 2 && reply[0] === 0x4f && reply[1] === 0x4b
    : reply === 'OK';
}
const REFUSED = { value: false } as const;
const NOT_HELD = { value: undefined } as const;
// Redis refuses writes with OOM when maxmemory is reached without eviction: not stored.
const refusedWhenFull = (error: unknown): typeof REFUSED | undefined =>
  isOutOfMemory(error) ? REFUSED : undefined;
// A key holding a list, hash, … is not a cache entry: a miss, as MGET answers for it.
const nilWhenNotString = (error: unknown): null => {
  if (isWrongType(error)) return null;
  throw error;
};
const missWhenNotString = (error: unknown): typeof NOT_HELD | undefined =>
  isWrongType(error) ? NOT_HELD : undefined;

function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

function ttlArgs(ttlSeconds: number): RedisArg[] {
  // Round up so a sub-millisecond TTL never becomes 0 (which means "no expiry").
  return ttlSeconds === 0 ? [] : ['px', ttlToMilliseconds(ttlSeconds)];
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * Redis backend over ioredis (5 or 6), standalone, Sentinel or Cluster. Stores each entry as one
 * Redis string: integers raw (so `INCRBY` works), everything else behind a 10-byte header with
 * the flags and a checksum bound to the key.
 *
 * - `get` = `GETRANGE` bounded by `maxValueBytes`, `getMany` = one such `GETRANGE` per key in
 *   one write, `set` = `SET … PX`, `setMany` = one pipeline of `SET … PX`,
 *   `setAndRead` = `SET` + `GETRANGE` in one round trip, `add` = `SET NX`, `touch` =
 *   `PEXPIRE`/`PERSIST`, `delete`/`deleteMany` = `UNLINK`, `deleteIf` = a compare-and-delete
 *   script, `incr`/`decr` = a script around `INCRBY`/`DECRBY` that leaves a missing key missing
 *   and works on digits stored with any flags;
 * - a read whose reply fails its checksum rejects with `CacheBackendError` and resets the
 *   connection (the reply stream is damaged or out of step); a value over `maxValueBytes` is a
 *   miss reported through `onWarning`;
 * - `clear()` = `SCAN MATCH <keyPrefix>*` + `UNLINK` in batches (never `KEYS`), `flush()` =
 *   `FLUSHDB ASYNC` — the whole database, every application's keys;
 * - every call settles within `timeoutMs`; nothing is queued while the connection is down, and
 *   an unreachable server fails calls at once until a background reconnect succeeds;
 * - on a Cluster, batch calls are split by hash slot and reassembled in order.
 */
export class RedisBackend implements CacheBackend {
  /** @inheritdoc */
  readonly name: string = 'redis';
  /**
   * @inheritdoc
   * `timeoutMs` is this backend's `timeoutMs`: every call but `clear()` settles by then (through
   * ioredis's `commandTimeout`, or the backend's own timer where that does not cover a call), so
   * a client whose own deadline is no shorter arms no second timer per call.
   */
  readonly capabilities: BackendCapabilities;
  /** @inheritdoc */
  readonly limits: BackendLimits;
  /** The namespace put before every key. */
  readonly keyPrefix: string;
  /** The per-call deadline, in milliseconds. */
  readonly timeoutMs: number;
  readonly #client: RedisClientLike;
  readonly #owned: boolean;
  readonly #cluster: boolean;
  readonly #watch: ConnectionWatch;
  /** Whether calls need the backend's own timer (ioredis's `commandTimeout` alone does not cover them). */
  readonly #ownTimer: boolean;
  readonly #batchSize: number;
  readonly #pattern: string;
  /** Largest stored value a read accepts, in bytes: `maxValueBytes` + the header. */
  readonly #maxStored: number;
  /** `#maxStored` as the last (inclusive) index of a `GETRANGE`, as text: built once, not per call. */
  readonly #rangeEnd: string;
  readonly #warningListeners = new Set<(warning: BackendWarning) => void>();
  #closing: Promise<void> | undefined;
  /** The socket corked for the current tick, if any (see `#cork`). */
  #corked: CorkableStream | undefined;
  readonly #uncork = (): void => {
    const stream = this.#corked;
    this.#corked = undefined;
    stream?.uncork();
  };

  constructor(options: RedisBackendOptions = {}) {
    const resolved = resolveRedisOptions(options);
    this.timeoutMs = resolved.timeoutMs;
    this.capabilities = {
      ttlPrecision: 'milliseconds',
      scopedClear: true,
      counters: 'signed64',
      delayedFlush: false,
      timeoutMs: this.timeoutMs,
    };
    this.limits = resolved.limits;
    this.#maxStored = this.limits.maxValueBytes + HEADER_BYTES;
    // GETRANGE's end is inclusive: up to #maxStored + 1 bytes, one more than any value we accept,
    // so a longer value shows as one byte too long without being fetched.
    this.#rangeEnd = String(this.#maxStored);
    this.#batchSize = resolved.batchSize;
    this.keyPrefix = resolved.keyPrefix;
    this.#pattern = `${resolved.keyPrefix.replace(GLOB_SPECIAL, '\\$&')}*`;
    const opened = openClient(options, resolved);
    this.#client = opened.client;
    this.#owned = opened.owned;
    this.#cluster = opened.cluster;
    this.#ownTimer = opened.ownTimer;
    this.#watch = new ConnectionWatch(this.#client, this.#owned);
  }

  /** The ioredis client in use (yours when you passed `client`). */
  get client(): RedisClientLike {
    return this.#client;
  }

  /** True when this backend opened its connection itself and will close it. */
  get ownsClient(): boolean {
    return this.#owned;
  }

  #full(key: string): string {
    return this.keyPrefix === '' ? key : this.keyPrefix + key;
  }

  /**
   * Maps anything a call threw to a Stowage error. `sent`: the command may have reached the
   * server; `write`: it changes the server.
   */
  #error(
    error: unknown,
    call: { operation: string; key: string | undefined; write: boolean; sent: boolean },
  ): CacheError {
    if (error instanceof CacheError) return error;
    const { operation, key, write } = call;
    const cause = error instanceof Error ? error : new Error(String(error));
    // Not connected, or not writable: nothing was sent.
    const sent =
      call.sent && !(cause instanceof NotConnectedError || cause.message.startsWith(NOT_WRITABLE));
    if (cause.message === TIMED_OUT) {
      return new CacheTimeoutError(
        `redis ${operation} did not answer within ${this.timeoutMs} ms`,
        {
          backend: this.name,
          operation,
          key,
          indeterminate: write && sent,
          timeoutMs: this.timeoutMs,
          cause,
        },
      );
    }
    return transportError({
      backend: this.name,
      operation,
      key,
      write,
      // A server error reply means the command was not applied: as good as not sent.
      sent: sent && !isReplyError(cause),
      message: `redis ${operation} failed: ${cause.message}`,
      cause,
    });
  }

  /**
   * Corks a standalone connection's socket until the end of the tick, so the commands the
   * application issues in one tick (64 concurrent `get`s, say) leave in one `writev` instead of
   * one system call each: on loopback that is 2–3× the throughput at 64 in flight and no cost at
   * 1. Unlike ioredis's auto-pipelining it changes nothing else — each command keeps its own
   * reply, timeout and error. A Cluster routes commands to node sockets and is left alone.
   */
  #cork(): void {
    if (this.#corked !== undefined || this.#cluster) return;
    const stream = this.#client.stream;
    if (typeof stream?.cork !== 'function') return;
    stream.cork();
    this.#corked = stream;
    process.nextTick(this.#uncork);
  }

  /**
   * Runs one call: only on a ready connection, within `timeoutMs`, errors mapped to Stowage's.
   * `decode` turns the reply into the result; `recover` may turn an error into a result (`OOM`
   * into `false`). The fast path (connection ready, ioredis's `commandTimeout` in force, one round
   * trip) adds no timer and one promise.
   */
  #run<T, R>(call: RedisCall<T, R>): Promise<R> {
    const { operation, key, send, decode, recover } = call;
    // Every operation but a read changes the server (deletes and touches too): its failure is
    // indeterminate when the command may have been sent — the one rule of the backend kit.
    const write = !READS.has(operation);
    if (this.#closing !== undefined) return Promise.reject(closedError('redis'));
    const fail = (error: unknown, sent: boolean): R => {
      const recovered = recover?.(error);
      if (recovered !== undefined) return recovered.value;
      throw this.#error(error, { operation, key, write, sent });
    };
    const gate = this.#watch.ready();
    // ioredis's `commandTimeout` bounds each command; a script call that has to send its source
    // after a NOSCRIPT bounds that second command itself (see `#eval`).
    if (gate === undefined && !this.#ownTimer) {
      let pending: Promise<T>;
      try {
        this.#cork();
        pending = send();
      } catch (error) {
        return Promise.reject(this.#error(error, { operation, key, write, sent: false }));
      }
      return pending.then(decode, (error: unknown) => fail(error, true));
    }
    return new Promise<R>((resolve, reject) => {
      let sent = false;
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(
          new CacheTimeoutError(
            `redis ${operation} did not ${sent ? 'answer' : 'get a ready connection'} within ${this.timeoutMs} ms`,
            {
              backend: this.name,
              operation,
              key,
              indeterminate: write && sent,
              timeoutMs: this.timeoutMs,
            },
          ),
        );
      }, this.timeoutMs);
      const start = (): Promise<T> => {
        // Gave up while waiting for the connection: never send late.
        if (settled) return Promise.reject(new NotConnectedError('the call was abandoned'));
        sent = true;
        this.#cork();
        return send();
      };
      (gate === undefined ? Promise.resolve().then(start) : gate.then(start))
        .then(decode, (error: unknown) => fail(error, sent))
        .then(
          (value) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(value);
          },
          (error: unknown) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            // Already a Stowage error (`fail` mapped it), unless `decode` threw.
            reject(this.#error(error, { operation, key, write, sent }));
          },
        );
    });
  }

  /**
   * Registers a listener for what the backend absorbs without failing a call — today a value
   * over `maxValueBytes` that a read treated as a miss (a `CacheDecodeError`). Returns a function
   * that removes the listener. A listener that throws is ignored: a report never fails a read.
   */
  onWarning(listener: (warning: BackendWarning) => void): () => void {
    this.#warningListeners.add(listener);
    return () => {
      this.#warningListeners.delete(listener);
    };
  }

  #warn(warning: BackendWarning): void {
    for (const listener of this.#warningListeners) {
      try {
        listener(warning);
      } catch {
        // A listener's bug must not turn a miss into a failed read.
      }
    }
  }

  /**
   * Reports a value over the limit, read as a miss. Its length is not known: the bounded
   * `GETRANGE` stopped one byte past the limit, which is the point.
   */
  #oversize(operation: string, key: string): undefined {
    if (this.#warningListeners.size === 0) return undefined;
    this.#warn({
      operation,
      key,
      error: new CacheDecodeError(
        `redis ${operation}: the value under '${key}' is more than ${this.#maxStored} bytes, over \`maxValueBytes\` (${this.limits.maxValueBytes}) plus the ${HEADER_BYTES}-byte header; read as a miss, and no more of it was fetched`,
        { key },
      ),
    });
    return undefined;
  }

  /**
   * Turns one read reply into an entry, or `undefined` for a miss. `full` is the Redis key the
   * reply must belong to (the checksum covers it), `key` the backend's key for reports.
   *
   * - nothing (nil, or the empty string `GETRANGE` answers for a missing key): a miss;
   * - a value longer than the limit (`GETRANGE` stops one byte past it): a miss plus a warning;
   * - a version-1 value (no checksum): a miss;
   * - a version-2 value that is truncated or fails its checksum, or a reply of a type no read
   *   answers: the reply stream is damaged or out of step, so the connection is reset and the
   *   call rejects (`#desync`) — never a hit.
   */
  #readReply(
    reply: unknown,
    at: { full: string; key: string; operation: string },
  ): StoredEntry | undefined {
    const { full, key, operation } = at;
    if (reply === null) return undefined;
    if (!Buffer.isBuffer(reply)) {
      throw this.#desync(operation, key, `a reply of type ${typeof reply}`);
    }
    if (reply.length === 0) return undefined;
    if (reply.length > this.#maxStored) return this.#oversize(operation, key);
    const read = readStored(reply, full);
    if (typeof read !== 'string') return read;
    if (read === StoredProblem.Legacy) return undefined;
    throw this.#desync(
      operation,
      key,
      read === StoredProblem.Checksum ? 'a value that fails its checksum' : 'a truncated value',
    );
  }

  /**
   * The connection delivered a reply that cannot be this call's (a value failing its checksum,
   * a reply of the wrong shape): bytes were dropped, inserted or changed on the way, and every
   * reply behind it on this connection may belong to another command. Drops the connection at
   * once — `destroy`, not ioredis's `disconnect`, which half-closes and would still hand the
   * replies already on their way to the commands waiting — and ioredis reconnects. Commands in
   * flight on it get no reply at all (ioredis drops them without resending,
   * `autoResendUnfulfilledCommands: false`) and reject by their deadline; commands sent later go
   * out on the new connection. Returns the error the call rejects with. On a Cluster every node
   * connection is dropped (which node answered is not known here).
   */
  #desync(operation: string, key: string | undefined, what: string): CacheError {
    const nodes = this.#cluster ? (this.#client.nodes?.('all') ?? []) : [this.#client];
    for (const node of nodes) {
      const stream = node.stream;
      if (typeof stream?.destroy === 'function') stream.destroy();
      else node.disconnect(true);
    }
    return new CacheBackendError(
      `redis ${operation} received ${what}${key === undefined ? '' : ` for '${key}'`}: the reply stream is damaged or out of step, so the connection was reset`,
      {
        backend: this.name,
        operation,
        key,
        // A write was sent; whether it was applied is unknown once replies cannot be trusted.
        indeterminate: !READS.has(operation),
      },
    );
  }

  /**
   * The reply to a `SET`: `OK`. Any other reply belongs to another command: the stream is out of
   * step (`#desync`).
   */
  #stored(reply: unknown, operation: string, key: string): true {
    if (isOk(reply)) return true;
    throw this.#desync(operation, key, 'a reply that is not a SET reply');
  }

  /** The reply to a `SET NX`: `OK`, or nil when the key exists; else as `#stored`. */
  #added(reply: unknown, key: string): boolean {
    return reply === null ? false : this.#stored(reply, 'add', key);
  }

  /** An integer reply (`UNLINK`, `PEXPIRE`, a script's count); anything else is `#desync`. */
  #integer(reply: unknown, operation: string, key: string | undefined): number {
    if (typeof reply === 'number') return reply;
    throw this.#desync(operation, key, 'a reply that is not an integer');
  }

  /**
   * Runs a script: `EVALSHA`, then — when the server does not have it (first use, after a
   * restart or `SCRIPT FLUSH`) — `EVAL` with the source, bounded by what is left of the call's
   * `timeoutMs` since `started` (ioredis's `commandTimeout` would give it a whole one more).
   */
  #eval(script: LuaScript, args: readonly RedisArg[], started: number): Promise<unknown> {
    return this.#client.callBuffer('evalsha', script.sha, ...args).catch((error: unknown) => {
      if (!isNoScript(error)) throw error;
      const left = this.timeoutMs - (performance.now() - started);
      if (left <= 0) throw new Error(TIMED_OUT);
      const full = this.#client.callBuffer('eval', script.source, ...args);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(TIMED_OUT)), left);
      });
      full.catch(noop); // rejected after the deadline won: nobody awaits it
      return Promise.race([full, late]).finally(() => clearTimeout(timer));
    });
  }

  /**
   * @inheritdoc
   * `GETRANGE key 0 <maxValueBytes + header>`: never more than the limit crosses the network.
   */
  get(key: string): Promise<StoredEntry | undefined> {
    const full = this.#full(key);
    return this.#run({
      operation: 'get',
      key,
      send: () => this.#client.callBuffer('getrange', full, '0', this.#rangeEnd),
      decode: (reply) => this.#readReply(reply, { full, key, operation: 'get' }),
      recover: missWhenNotString,
    });
  }

  /**
   * @inheritdoc
   * One bounded `GETRANGE` per key, all sent in the same write (one round trip; on a Cluster,
   * one write per node). A key holding another Redis type is a miss, as `MGET` answers. Not
   * `MGET`, which has no bound; not a Lua script reading each key the same way either: every value
   * would then pass through Lua, which measured about 4× `MGET`'s server CPU against 1.4× for
   * plain `GETRANGE`s, and Redis's one thread is shared by every client (see the README).
   */
  getMany(keys: readonly string[]): Promise<Array<StoredEntry | undefined>> {
    if (keys.length === 0) return Promise.resolve([]);
    const full = keys.map((key) => this.#full(key));
    return this.#run({
      operation: 'getMany',
      key: undefined,
      send: () => {
        const pending = full.map((k) =>
          this.#client.callBuffer('getrange', k, '0', this.#rangeEnd),
        );
        // No handler per key on the hot path: only when a key turns out not to be a string are
        // the replies, all already in flight, collected again with that key as a miss.
        return Promise.all(pending).catch((error: unknown) => {
          if (!isWrongType(error)) throw error;
          return Promise.all(pending.map((reply) => reply.catch(nilWhenNotString)));
        });
      },
      decode: (replies) =>
        replies.map((reply, i) =>
          this.#readReply(reply, {
            full: full[i] as string,
            key: keys[i] as string,
            operation: 'getMany',
          }),
        ),
    });
  }

  /**
   * Positions of `keys` in batches of at most `batchSize` that one multi-key command may carry:
   * on a Cluster, each batch lies in one hash slot (multi-key commands cannot cross slots).
   */
  #batches(keys: readonly string[]): number[][] {
    const groups = this.#cluster
      ? [...groupBySlot(keys).values()]
      : [Array.from({ length: keys.length }, (_, i) => i)];
    const batches: number[][] = [];
    for (const group of groups) {
      if (group.length <= this.#batchSize) batches.push(group);
      else batches.push(...chunk(group, this.#batchSize));
    }
    return batches;
  }

  /** @inheritdoc */
  set(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    const full = this.#full(key);
    if (entry.value.byteLength > this.limits.maxValueBytes) return this.#refuseLarge(key, full);
    const stored = encodeStored(entry, full);
    return this.#run({
      operation: 'set',
      key,
      send: () => this.#client.callBuffer('set', full, stored, ...ttlArgs(ttlSeconds)),
      decode: (reply) => this.#stored(reply, 'set', key),
      recover: refusedWhenFull,
    });
  }

  /**
   * Refuses a value over `maxValueBytes` and removes the key's old value, as memcached does after
   * an oversized SET, so no stale value outlives the failed write.
   */
  #refuseLarge(key: string, full: string): Promise<false> {
    return this.#run({
      operation: 'set',
      key,
      send: () => this.#client.callBuffer('unlink', full),
      decode: () => false as const,
    });
  }

  /**
   * @inheritdoc
   * `SET` and a bounded `GETRANGE` sent together: one round trip. The read-back is checked like
   * any read (checksum, limit): a damaged one rejects, as an indeterminate write, and resets the
   * connection.
   */
  setAndRead(
    key: string,
    entry: StoredEntry,
    ttlSeconds: number,
  ): Promise<StoredEntry | undefined> {
    const full = this.#full(key);
    if (entry.value.byteLength > this.limits.maxValueBytes) {
      return this.#refuseLarge(key, full).then(() => undefined);
    }
    const stored = encodeStored(entry, full);
    return this.#run({
      operation: 'set',
      key,
      send: () => {
        // Both commands leave in the same tick on the same connection: one round trip.
        const write = this.#client.callBuffer('set', full, stored, ...ttlArgs(ttlSeconds));
        const read = this.#client.callBuffer('getrange', full, '0', this.#rangeEnd);
        return write.then(
          (reply) => {
            if (!isOk(reply)) {
              read.catch(noop); // its connection is being dropped: nobody awaits it any more
              this.#stored(reply, 'set', key);
            }
            return read;
          },
          (error: unknown) => {
            read.catch(noop);
            throw error;
          },
        );
      },
      decode: (reply) => this.#readReply(reply, { full, key, operation: 'set' }),
      recover: (error) => (isOutOfMemory(error) ? NOT_HELD : undefined),
    });
  }

  /** @inheritdoc */
  setMany(writes: readonly BackendWrite[], ttlSeconds: number): Promise<string[]> {
    if (writes.length === 0) return Promise.resolve([]);
    const ttl = ttlArgs(ttlSeconds);
    const keys = writes.map((write) => this.#full(write.key));
    const values = writes.map((write, i) =>
      write.entry.value.byteLength > this.limits.maxValueBytes
        ? undefined
        : encodeStored(write.entry, keys[i] as string),
    );
    return this.#run({
      operation: 'setMany',
      key: undefined,
      send: async () => {
        let failed: Set<number> | undefined;
        // One pipeline; `positions` (a Cluster slot's share) or every write in order.
        const send = async (positions?: readonly number[]): Promise<void> => {
          const count = positions === undefined ? keys.length : positions.length;
          const at = (j: number): number =>
            positions === undefined ? j : (positions[j] as number);
          const pipeline = this.#client.pipeline();
          for (let j = 0; j < count; j++) {
            const i = at(j);
            const value = values[i];
            if (value === undefined) pipeline.callBuffer('unlink', keys[i] as string);
            else pipeline.callBuffer('set', keys[i] as string, value, ...ttl);
          }
          const replies = await pipeline.exec();
          if (replies === null) throw new Error('the pipeline was discarded');
          for (let j = 0; j < count; j++) {
            const i = at(j);
            const reply = replies[j];
            const error =
              reply === undefined ? new Error('no reply for a pipelined SET') : reply[0];
            if (values[i] !== undefined && error === null) {
              // `OK`, or the stream is out of step (reset, and the call is indeterminate).
              const key = (writes[i] as BackendWrite).key;
              this.#stored((reply as [Error | null, unknown])[1], 'setMany', key);
              continue;
            }
            // A command that timed out or lost its connection may still be applied: the whole
            // call is then indeterminate. A server error reply means this key was not stored.
            if (error !== null && !isReplyError(error)) throw error;
            (failed ??= new Set()).add(i);
          }
        };
        if (this.#cluster) await Promise.all([...groupBySlot(keys).values()].map(send));
        else await send();
        if (failed === undefined) return [];
        // Each failed key once, in the caller's order.
        const failedKeys = new Set<string>();
        for (const i of [...failed].sort((a, b) => a - b)) {
          failedKeys.add((writes[i] as BackendWrite).key);
        }
        return [...failedKeys];
      },
      decode: same,
    });
  }

  /** @inheritdoc */
  add(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    const full = this.#full(key);
    if (entry.value.byteLength > this.limits.maxValueBytes) return Promise.resolve(false);
    const stored = encodeStored(entry, full);
    return this.#run({
      operation: 'add',
      key,
      send: () => this.#client.callBuffer('set', full, stored, 'nx', ...ttlArgs(ttlSeconds)),
      decode: (reply) => this.#added(reply, key),
      recover: refusedWhenFull,
    });
  }

  /** @inheritdoc */
  touch(key: string, ttlSeconds: number): Promise<boolean> {
    const full = this.#full(key);
    return this.#run({
      operation: 'touch',
      key,
      send: () => {
        if (ttlSeconds !== 0) {
          return this.#client.callBuffer('pexpire', full, ttlToMilliseconds(ttlSeconds));
        }
        // PERSIST answers 0 both for a missing key and for one without a TTL; EXISTS tells them
        // apart. Same connection, same tick: one round trip.
        const persist = this.#client.callBuffer('persist', full);
        const exists = this.#client.callBuffer('exists', full);
        return persist.then(
          () => exists,
          (error: unknown) => {
            exists.catch(noop);
            throw error;
          },
        );
      },
      decode: (reply) => this.#integer(reply, 'touch', key) === 1,
    });
  }

  /** @inheritdoc */
  incr(key: string, delta: bigint): Promise<bigint | undefined> {
    return this.#count('incr', key, delta);
  }

  /** @inheritdoc */
  decr(key: string, delta: bigint): Promise<bigint | undefined> {
    return this.#count('decr', key, delta);
  }

  /**
   * The counter script (see `COUNTER_SCRIPT`): raw integers through `INCRBY`/`DECRBY`, decimal
   * payloads behind the header (a String `'7'`) through the same commands with the header, flags
   * and TTL kept and a new checksum, all atomically on the server.
   */
  #count(operation: 'incr' | 'decr', key: string, delta: bigint): Promise<bigint | undefined> {
    const full = this.#full(key);
    const args: RedisArg[] = [
      1,
      full,
      operation === 'incr' ? 'INCRBY' : 'DECRBY',
      delta.toString(),
    ];
    return this.#run({
      operation,
      key,
      send: () =>
        this.#eval(COUNTER_SCRIPT, args, performance.now()).catch((error: unknown) => {
          if (
            isReplyError(error) &&
            /not an integer|out of range|overflow/i.test((error as Error).message)
          ) {
            throw new CacheValueError(
              `cannot ${operation === 'incr' ? 'increment' : 'decrement'} '${key}': the stored value is not a signed 64-bit decimal integer, or the result would overflow`,
              key,
              { cause: error },
            );
          }
          throw error;
        }),
      decode: (reply) => {
        if (reply === null || reply === undefined || reply === false) return undefined;
        const text = Buffer.isBuffer(reply) ? reply.toString('latin1') : undefined;
        // The script answers decimal text only: anything else came from a damaged stream.
        if (text === undefined || !DECIMAL_REPLY.test(text)) {
          throw this.#desync(operation, key, 'a counter reply that is not a decimal');
        }
        return BigInt(text);
      },
    });
  }

  /** @inheritdoc */
  delete(key: string): Promise<boolean> {
    const full = this.#full(key);
    return this.#run({
      operation: 'delete',
      key,
      send: () => this.#client.callBuffer('unlink', full),
      decode: (reply) => this.#integer(reply, 'delete', key) > 0,
    });
  }

  /**
   * @inheritdoc
   * One script: unlinks the key only while it holds exactly `expected` in the stored format
   * (header, checksum, flags and payload, or the raw digits of an integer), so a newer write by
   * anyone survives.
   */
  deleteIf(key: string, expected: StoredEntry): Promise<boolean> {
    const full = this.#full(key);
    const args: RedisArg[] = [1, full, encodeStored(expected, full)];
    return this.#run({
      operation: 'deleteIf',
      key,
      send: () => this.#eval(DELETE_IF_SCRIPT, args, performance.now()),
      decode: (reply) => this.#integer(reply, 'deleteIf', key) === 1,
    });
  }

  /** @inheritdoc */
  deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return Promise.resolve();
    const full = keys.map((key) => this.#full(key));
    return this.#run({
      operation: 'deleteMany',
      key: undefined,
      send: async () => {
        await Promise.all(
          this.#batches(full).map((positions) =>
            this.#client.callBuffer('unlink', ...positions.map((i) => full[i] as string)),
          ),
        );
      },
      decode: nothing,
    });
  }

  /** The connections that hold data: the client itself, or every Cluster master. */
  #dataNodes(): RedisClientLike[] {
    if (!this.#cluster) return [this.#client];
    const masters = this.#client.nodes?.('master') ?? [];
    if (masters.length === 0) throw new NotConnectedError('the cluster has no reachable master');
    return masters;
  }

  /**
   * Removes every key that starts with `keyPrefix` — and only those, whoever else shares the
   * database — with `SCAN MATCH` and `UNLINK` in batches of `batchSize`, on every Cluster master.
   * Never `KEYS`. Each step has the `timeoutMs` deadline; the whole call takes as many steps as
   * the database needs. Throws `CacheConfigError` when `keyPrefix` is empty.
   */
  async clear(): Promise<void> {
    if (this.keyPrefix === '') {
      throw new CacheConfigError(
        'the redis backend has no `keyPrefix`, so clear() would remove every key in the database; set `keyPrefix`, or use flush() to empty the database on purpose',
      );
    }
    const nodes = await this.#run({
      operation: 'clear',
      key: undefined,
      send: () => Promise.resolve(this.#dataNodes()),
      decode: same,
    });
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await this.#run({
          operation: 'clear',
          key: undefined,
          send: async () => {
            const reply = (await node.callBuffer(
              'scan',
              cursor,
              'match',
              this.#pattern,
              'count',
              this.#batchSize,
            )) as [Buffer, Buffer[]];
            return [reply[0].toString('latin1'), reply[1]] as const;
          },
          decode: same,
        });
        cursor = next;
        if (found.length === 0) continue;
        // Multi-key commands cannot cross slots on a Cluster node.
        const groups = this.#cluster ? [...groupBySlot(found).values()] : [found.map((_, i) => i)];
        await this.#run({
          operation: 'clear',
          key: undefined,
          send: () =>
            Promise.all(
              groups.map((group) =>
                node.callBuffer('unlink', ...group.map((i) => found[i] as Buffer)),
              ),
            ),
          decode: nothing,
        });
      } while (cursor !== '0');
    }
  }

  /**
   * Empties the **whole database** with `FLUSHDB ASYNC` — every application's keys, not only this
   * backend's namespace (on a Cluster: every master). Redis cannot delay a flush: `delaySeconds`
   * must be 0.
   */
  flush(delaySeconds: number): Promise<void> {
    if (delaySeconds !== 0) {
      return Promise.reject(
        new CacheValueError('the redis backend cannot delay a flush; `delaySeconds` must be 0'),
      );
    }
    return this.#run({
      operation: 'flush',
      key: undefined,
      send: async () => {
        await Promise.all(this.#dataNodes().map((node) => node.callBuffer('flushdb', 'async')));
      },
      decode: nothing,
    });
  }

  /**
   * Closes the connection the backend opened — after pending replies, for at most `timeoutMs` —
   * and detaches from a client you passed without closing it. Idempotent; later calls reject
   * with a `CacheError` of code `E_CACHE_CLOSED`.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#watch.detach();
    this.#closing = this.#owned ? this.#shutdown() : Promise.resolve();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const client = this.#client;
    if (client.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.quit().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    // quit() may be stuck on a frozen server, and a lazy or reconnecting client has nothing to
    // quit: drop the socket and stop reconnecting.
    client.disconnect();
  }
}

function isOutOfMemory(error: unknown): boolean {
  return isReplyError(error) && (error as Error).message.startsWith('OOM');
}

/**
 * Creates a Redis backend. Opens no connection: the first call connects.
 *
 * @example
 * const cache = new CacheClient({
 *   backend: createRedisBackend({ url: 'redis://cache:6379/0', keyPrefix: 'billing:' }),
 * });
 */
export function createRedisBackend(options?: RedisBackendOptions): RedisBackend {
  return new RedisBackend(options);
}

/**
 * Creates a Redis backend from a `redis://` or `rediss://` URL, for `getCache`:
 * `redis://[user:password@]host[:port][/db][?keyPrefix=…&maxKeyBytes=…&maxValueBytes=…]`.
 * Opens no connection. A URL with several hosts is refused rather than reduced to its first one:
 * a Cluster or Sentinel needs `createRedisBackend({ clusterNodes })` or `redisOptions.sentinels`.
 */
export function createBackendFromUrl(url: URL | string, options?: BackendUrlOptions): RedisBackend {
  const hosts = options?.hosts;
  if (hosts !== undefined && hosts.length > 1) {
    throw new CacheConfigError(
      `a redis:// URL names one server; got ${hosts.length} (${hosts.join(', ')}). For a Redis Cluster or Sentinel, create the backend with \`createRedisBackend({ clusterNodes })\` or \`redisOptions.sentinels\` and pass it as \`backend\``,
    );
  }
  return new RedisBackend({ url, timeoutMs: options?.timeoutMs });
}
