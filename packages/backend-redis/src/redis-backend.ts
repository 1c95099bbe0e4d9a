import { CacheConfigError, CacheValueError } from '@stowage/core';
import {
  closedError,
  ttlToMilliseconds,
  type BackendCapabilities,
  type BackendLimits,
  type BackendUrlOptions,
  type BackendWarning,
  type BackendWrite,
  type CacheBackend,
  type StoredEntry,
} from '@stowage/core/backend';
import { CallRunner } from './call-runner.js';
import { clearNamespace, namespacePattern } from './clear-namespace.js';
import type { RedisArg, RedisClientLike } from './client-like.js';
import {
  checkParts,
  commandBatches,
  keysAt,
  settleParts,
  type PartsOutcome,
} from './cluster-batch.js';
import { groupBySlot } from './cluster-slot.js';
import { openClient, resolveRedisOptions, type RedisBackendOptions } from './redis-options.js';
import { ReplyReader } from './reply-reader.js';
import {
  discardReply,
  ignoreRejection,
  isOk,
  isReplyError,
  isWrongType,
  missWhenFull,
  missWhenNotString,
  nilWhenNotString,
  notStoredWhenFull,
} from './replies.js';
import {
  COUNTER_SCRIPT,
  DELETE_IF_SCRIPT,
  runScript,
  SET_IF_SCRIPT,
  type LuaScript,
} from './scripts.js';
import { encodeStored } from './stored-format.js';

function ttlArgs(ttlSeconds: number): RedisArg[] {
  // Rounded up by the kit, so a sub-millisecond TTL never becomes 0 (which means "no expiry").
  return ttlSeconds === 0 ? [] : ['px', ttlToMilliseconds(ttlSeconds)];
}

/** A `setMany` laid out for the wire, shared by its pipelines. */
interface WriteBatch {
  /** The backend's keys, in the caller's order. */
  readonly keys: readonly string[];
  /** The same keys as Redis sees them, `keyPrefix` included. */
  readonly full: readonly string[];
  /** Each value in the stored format; `undefined` over `maxValueBytes` (sent as `UNLINK`). */
  readonly stored: ReadonlyArray<Buffer | undefined>;
  /** The `PX` arguments, or none for no expiry. */
  readonly ttl: readonly RedisArg[];
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
 *   script, `setIf` = a compare-and-set script that reads back (one round trip), `incr`/`decr` =
 *   a script around `INCRBY`/`DECRBY` that leaves a missing key missing and works on digits
 *   stored with any flags;
 * - a value over `maxValueBytes` is refused without throwing, and `set`, `setMany` and
 *   `setAndRead` then remove the key's old value (`add` leaves it alone);
 * - a read whose reply fails its checksum rejects with `CacheBackendError` and resets the
 *   connection (the reply stream is damaged or out of step); a value over `maxValueBytes` is a
 *   miss reported through `onWarning`;
 * - `clear()` = `SCAN MATCH <keyPrefix>*` + `UNLINK` in batches (never `KEYS`), `flush()` =
 *   `FLUSHDB ASYNC` — the whole database, every application's keys;
 * - every call settles within `timeoutMs`; nothing is queued while the connection is down, and
 *   an unreachable server fails calls at once until a background reconnect succeeds;
 * - on a Cluster, batch calls are split by hash slot and reassembled in order; when some nodes
 *   fail and others answer, `getMany`, `setMany` and `deleteMany` throw `CacheBatchError`
 *   carrying the answered part.
 */
export class RedisBackend implements CacheBackend {
  /** @inheritdoc */
  readonly name: string = 'redis';
  /**
   * @inheritdoc
   * `timeoutMs` is this backend's `timeoutMs`: every call but `clear()` settles by then (through
   * the backend's own deadline, one timer for the calls started together, or a caller's client's
   * `commandTimeout` when that is no longer), so a client whose own deadline is no shorter arms no
   * second timer per call.
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
  readonly #runner: CallRunner;
  readonly #batchSize: number;
  /** `SCAN MATCH` pattern of `clear()`: the prefix, glob characters escaped, then `*`. */
  readonly #pattern: string;
  readonly #replies: ReplyReader;
  /** The largest stored value as the last (inclusive) index of a `GETRANGE`, as text: built once. */
  readonly #rangeEnd: string;

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
    this.#batchSize = resolved.batchSize;
    this.keyPrefix = resolved.keyPrefix;
    this.#pattern = namespacePattern(resolved.keyPrefix);
    const opened = openClient(options, resolved);
    this.#client = opened.client;
    this.#owned = opened.owned;
    this.#cluster = opened.cluster;
    const runner = new CallRunner(opened, this.timeoutMs);
    this.#runner = runner;
    this.#replies = new ReplyReader({
      maxValueBytes: this.limits.maxValueBytes,
      desync: (operation, key, what) => runner.desync(operation, key, what),
    });
    // GETRANGE's end is inclusive: up to maxStored + 1 bytes, one more than any value accepted,
    // so a longer value shows as one byte too long without being fetched.
    this.#rangeEnd = String(this.#replies.maxStored);
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
   * Registers a listener for what the backend absorbs without failing a call — today a value
   * over `maxValueBytes` that a read treated as a miss (a `CacheDecodeError`). Returns a function
   * that removes the listener. A listener that throws is ignored: a report never fails a read.
   */
  onWarning(listener: (warning: BackendWarning) => void): () => void {
    return this.#replies.onWarning(listener);
  }

  /** `GETRANGE key 0 <maxValueBytes + header>`: never more than the limit crosses the network. */
  #getRange(full: string): Promise<unknown> {
    return this.#client.callBuffer('getrange', full, '0', this.#rangeEnd);
  }

  /**
   * `EVALSHA` of `script` (its source by `EVAL` after a `NOSCRIPT`), the fallback bounded by what
   * is left of the call's deadline. `args`: `numkeys`, the keys, then the arguments.
   */
  #script(script: LuaScript, args: readonly RedisArg[]): Promise<unknown> {
    return runScript({
      client: this.#client,
      script,
      args,
      timeoutMs: this.timeoutMs,
      startedAt: performance.now(),
    });
  }

  /** Throws for a batch whose parts did not all answer (see `checkParts`). */
  #checkParts(
    batch: Pick<PartsOutcome, 'operation' | 'keys' | 'full' | 'settled' | 'partial'>,
  ): void {
    const { operation } = batch;
    checkParts({
      ...batch,
      slots: this.#client.slots,
      toError: (reason) => this.#runner.error(reason, { operation, key: undefined, sent: true }),
    });
  }

  /** @inheritdoc */
  get(key: string): Promise<StoredEntry | undefined> {
    const full = this.#full(key);
    return this.#runner.run({
      operation: 'get',
      key,
      send: () => this.#getRange(full),
      decode: (reply) => this.#replies.entry(reply, { full, key, operation: 'get' }),
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
    if (keys.length === 0) return this.#runner.answer([]);
    const full = keys.map((key) => this.#full(key));
    if (this.#cluster) return this.#getManyInParts(keys, full);
    return this.#runner.run({
      operation: 'getMany',
      key: undefined,
      send: () => {
        const pending = full.map((k) => this.#getRange(k));
        // No handler per key on the hot path: only when a key turns out not to be a string are
        // the replies, all already in flight, collected again with that key as a miss.
        return Promise.all(pending).catch((error: unknown) => {
          if (!isWrongType(error)) throw error;
          return Promise.all(pending.map((reply) => reply.catch(nilWhenNotString)));
        });
      },
      decode: (replies) =>
        replies.map((reply, i) =>
          this.#replies.entry(reply, {
            full: full[i] as string,
            key: keys[i] as string,
            operation: 'getMany',
          }),
        ),
    });
  }

  /**
   * `getMany` on a Cluster: each key's `GETRANGE` is a part of its own, so a node that fails
   * fails only its keys, and the call throws `CacheBatchError` with the other keys' entries.
   */
  #getManyInParts(
    keys: readonly string[],
    full: readonly string[],
  ): Promise<Array<StoredEntry | undefined>> {
    return this.#runner.run({
      operation: 'getMany',
      key: undefined,
      send: () =>
        settleParts(
          full.map((k, i) => ({ positions: [i], done: this.#getRange(k).catch(nilWhenNotString) })),
        ),
      decode: (settled) => {
        const entries = new Array<StoredEntry | undefined>(keys.length).fill(undefined);
        for (const { positions, value } of settled.answered) {
          const i = positions[0] as number;
          const at = { full: full[i] as string, key: keys[i] as string, operation: 'getMany' };
          entries[i] = this.#replies.entry(value, at);
        }
        this.#checkParts({
          operation: 'getMany',
          keys,
          full,
          settled,
          partial: () => ({ entries }),
        });
        return entries;
      },
    });
  }

  /** @inheritdoc */
  set(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    const full = this.#full(key);
    if (entry.value.byteLength > this.limits.maxValueBytes) return this.#refuseLarge(key, full);
    const stored = encodeStored(entry, full);
    return this.#runner.run({
      operation: 'set',
      key,
      send: () => this.#client.callBuffer('set', full, stored, ...ttlArgs(ttlSeconds)),
      decode: (reply) => this.#replies.stored(reply, 'set', key),
      recover: notStoredWhenFull,
    });
  }

  /**
   * Refuses a value over `maxValueBytes` and removes the key's old value, as memcached does after
   * an oversized SET, so no stale value outlives the failed write.
   */
  #refuseLarge(key: string, full: string): Promise<false> {
    return this.#runner.run({
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
   * connection. A value over `maxValueBytes` resolves `undefined` and removes the old value.
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
    return this.#runner.run({
      operation: 'set',
      key,
      send: () => {
        // Both commands leave in the same tick on the same connection: one round trip.
        const write = this.#client.callBuffer('set', full, stored, ...ttlArgs(ttlSeconds));
        const read = this.#getRange(full);
        return write.then(
          (reply) => {
            if (!isOk(reply)) {
              read.catch(ignoreRejection); // its connection is being dropped: nobody awaits it
              this.#replies.stored(reply, 'set', key);
            }
            return read;
          },
          (error: unknown) => {
            read.catch(ignoreRejection); // the call fails with the write's error
            throw error;
          },
        );
      },
      decode: (reply) => this.#replies.entry(reply, { full, key, operation: 'set' }),
      recover: missWhenFull,
    });
  }

  /**
   * @inheritdoc
   * One pipeline of `SET … PX` (one per hash slot on a Cluster). A value over `maxValueBytes` is
   * sent as `UNLINK` instead: listed as not stored, and its old value is gone.
   */
  setMany(writes: readonly BackendWrite[], ttlSeconds: number): Promise<string[]> {
    if (writes.length === 0) return this.#runner.answer([]);
    const keys = writes.map((write) => write.key);
    const full = keys.map((key) => this.#full(key));
    const batch: WriteBatch = {
      keys,
      full,
      stored: writes.map((write, i) =>
        write.entry.value.byteLength > this.limits.maxValueBytes
          ? undefined
          : encodeStored(write.entry, full[i] as string),
      ),
      ttl: ttlArgs(ttlSeconds),
    };
    if (this.#cluster) return this.#setManyInParts(batch);
    return this.#runner.run({
      operation: 'setMany',
      key: undefined,
      send: () =>
        this.#pipelineSet(
          batch,
          Array.from({ length: keys.length }, (_, i) => i),
        ),
      decode: (refused) => keysAt(keys, refused),
    });
  }

  /**
   * `setMany` on a Cluster: one pipeline per hash slot, each a part. A node that fails fails only
   * its slots' writes: the call then throws `CacheBatchError` whose `notStored` lists them with
   * the keys refused elsewhere.
   */
  #setManyInParts(batch: WriteBatch): Promise<string[]> {
    const { keys, full } = batch;
    return this.#runner.run({
      operation: 'setMany',
      key: undefined,
      send: () =>
        settleParts(
          [...groupBySlot(full).values()].map((positions) => ({
            positions,
            done: this.#pipelineSet(batch, positions),
          })),
        ),
      decode: (settled) => {
        const refused = settled.answered.flatMap((part) => part.value);
        const partial = (failed: ReadonlySet<number>): { notStored: string[] } => ({
          notStored: keysAt(keys, [...refused, ...failed]),
        });
        this.#checkParts({ operation: 'setMany', keys, full, settled, partial });
        return keysAt(keys, refused);
      },
    });
  }

  /**
   * Sends the writes at `positions` as one pipeline — `SET … PX`, or `UNLINK` for a value over
   * the limit — and resolves the positions not stored: over the limit, or refused by the server
   * (an error reply such as `OOM`). A write that timed out or lost its connection rejects the
   * whole pipeline instead: it may have been applied, so the call is indeterminate.
   */
  async #pipelineSet(batch: WriteBatch, positions: readonly number[]): Promise<number[]> {
    const { keys, full, stored, ttl } = batch;
    const pipeline = this.#client.pipeline();
    for (const i of positions) {
      const value = stored[i];
      if (value === undefined) pipeline.callBuffer('unlink', full[i] as string);
      else pipeline.callBuffer('set', full[i] as string, value, ...ttl);
    }
    const replies = await pipeline.exec();
    if (replies === null) throw new Error('the pipeline was discarded');
    const refused: number[] = [];
    positions.forEach((i, j) => {
      const reply = replies[j];
      const error = reply === undefined ? new Error('no reply for a pipelined SET') : reply[0];
      if (error !== null && !isReplyError(error)) throw error;
      // `OK`, or the stream is out of step (reset, and the call is indeterminate).
      if (error === null && stored[i] !== undefined) {
        this.#replies.stored(reply?.[1], 'setMany', keys[i] as string);
      } else {
        refused.push(i);
      }
    });
    return refused;
  }

  /**
   * @inheritdoc
   * `SET … NX`. A value over `maxValueBytes` resolves `false` and leaves an existing value alone,
   * as memcached's `add` does.
   */
  add(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    if (entry.value.byteLength > this.limits.maxValueBytes) return this.#runner.answer(false);
    const full = this.#full(key);
    const stored = encodeStored(entry, full);
    return this.#runner.run({
      operation: 'add',
      key,
      send: () => this.#client.callBuffer('set', full, stored, 'nx', ...ttlArgs(ttlSeconds)),
      decode: (reply) => this.#replies.added(reply, key),
      recover: notStoredWhenFull,
    });
  }

  /**
   * @inheritdoc
   * `PTTL`: -2 (no such key) is `undefined`, -1 (no expiry) is `Infinity`. A read, so never
   * indeterminate; an L1 sends it beside the `GETRANGE` that fills a copy, in the same write.
   */
  ttlOf(key: string): Promise<number | undefined> {
    const full = this.#full(key);
    return this.#runner.run({
      operation: 'ttlOf',
      key,
      send: () => this.#client.callBuffer('pttl', full),
      decode: (reply) => {
        const ms = this.#replies.integer(reply, 'ttlOf', key);
        return ms === -2 ? undefined : ms === -1 ? Infinity : ms;
      },
    });
  }

  /** @inheritdoc */
  touch(key: string, ttlSeconds: number): Promise<boolean> {
    const full = this.#full(key);
    return this.#runner.run({
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
            exists.catch(ignoreRejection); // the call fails with PERSIST's error
            throw error;
          },
        );
      },
      decode: (reply) => this.#replies.integer(reply, 'touch', key) === 1,
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
    const command = operation === 'incr' ? 'INCRBY' : 'DECRBY';
    const args: RedisArg[] = [1, full, command, delta.toString()];
    return this.#runner.run({
      operation,
      key,
      send: () =>
        this.#script(COUNTER_SCRIPT, args).catch((error: unknown) => {
          const message = isReplyError(error) ? (error as Error).message : '';
          if (!/not an integer|out of range|overflow/i.test(message)) throw error;
          throw new CacheValueError(
            `cannot ${operation === 'incr' ? 'increment' : 'decrement'} '${key}': the stored value is not a signed 64-bit decimal integer, or the result would overflow`,
            key,
            { cause: error },
          );
        }),
      decode: (reply) => this.#replies.counter(reply, operation, key),
    });
  }

  /** @inheritdoc */
  delete(key: string): Promise<boolean> {
    const full = this.#full(key);
    return this.#runner.run({
      operation: 'delete',
      key,
      send: () => this.#client.callBuffer('unlink', full),
      decode: (reply) => this.#replies.integer(reply, 'delete', key) > 0,
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
    return this.#runner.run({
      operation: 'deleteIf',
      key,
      send: () => this.#script(DELETE_IF_SCRIPT, args),
      decode: (reply) => this.#replies.integer(reply, 'deleteIf', key) === 1,
    });
  }

  /**
   * @inheritdoc
   * One script, one round trip (see `SET_IF_SCRIPT`): it compares the stored bytes with
   * `expected` in the stored format, `SET`s `entry` with `PX` (no expiry for a TTL of 0) on
   * equality, and reads it back with the bounded `GETRANGE` of every read. The read-back passes
   * the checks of any read (checksum, limit): a damaged one rejects, as an indeterminate write,
   * and resets the connection. An `OOM` refusal resolves `undefined`, as `setAndRead` does.
   * A value over `maxValueBytes` runs the compare-and-delete instead: the key loses its value only
   * while it holds `expected`, and the call resolves `undefined` (`false` when the compare failed).
   */
  setIf(
    key: string,
    expected: StoredEntry,
    entry: StoredEntry,
    ttlSeconds: number,
  ): Promise<StoredEntry | false | undefined> {
    const full = this.#full(key);
    const held = encodeStored(expected, full);
    if (entry.value.byteLength > this.limits.maxValueBytes) {
      return this.#refuseLargeIf(key, full, held);
    }
    const args: RedisArg[] = [
      1,
      full,
      held,
      encodeStored(entry, full),
      // Rounded up by the kit, as `ttlArgs`: a sub-millisecond TTL never becomes 0 (no expiry).
      ttlToMilliseconds(ttlSeconds),
      this.#rangeEnd,
    ];
    return this.#runner.run({
      operation: 'setIf',
      key,
      send: () => this.#script(SET_IF_SCRIPT, args),
      decode: (reply) => this.#replies.compareSet(reply, { full, key, operation: 'setIf' }),
      recover: missWhenFull,
    });
  }

  /**
   * `setIf` of a value over `maxValueBytes`: refused, and — like `set` — the key's value removed,
   * but only while it holds `held` (the compare-and-delete script), so a lease that was lost
   * never deletes what a newer writer stored. `undefined` when it deleted, `false` otherwise.
   */
  #refuseLargeIf(key: string, full: string, held: Buffer): Promise<false | undefined> {
    return this.#runner.run({
      operation: 'setIf',
      key,
      send: () => this.#script(DELETE_IF_SCRIPT, [1, full, held]),
      decode: (reply) => (this.#replies.integer(reply, 'setIf', key) === 1 ? undefined : false),
    });
  }

  /**
   * @inheritdoc
   * `UNLINK` in batches of `batchSize`, sent together (per hash slot on a Cluster, where a node
   * that fails fails only its keys: `CacheBatchError` naming them).
   */
  deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return this.#runner.answer(undefined);
    const full = keys.map((key) => this.#full(key));
    const batches = commandBatches(full, { cluster: this.#cluster, batchSize: this.#batchSize });
    const unlink = (positions: readonly number[]): Promise<unknown> =>
      this.#client.callBuffer('unlink', ...positions.map((i) => full[i] as string));
    if (!this.#cluster) {
      return this.#runner.run({
        operation: 'deleteMany',
        key: undefined,
        send: () => Promise.all(batches.map(unlink)),
        decode: discardReply,
      });
    }
    return this.#runner.run({
      operation: 'deleteMany',
      key: undefined,
      send: () => settleParts(batches.map((positions) => ({ positions, done: unlink(positions) }))),
      decode: (settled) => {
        this.#checkParts({ operation: 'deleteMany', keys, full, settled, partial: () => ({}) });
      },
    });
  }

  /**
   * Removes every key that starts with `keyPrefix` — and only those, whoever else shares the
   * database — with `SCAN MATCH` and `UNLINK` in batches of `batchSize`, on every Cluster master
   * (see `clearNamespace`). Never `KEYS`. Each step has the `timeoutMs` deadline; the whole call
   * takes as many steps as the database needs. Throws `CacheConfigError` when `keyPrefix` is
   * empty.
   */
  async clear(): Promise<void> {
    if (this.#runner.closed) throw closedError(this.name);
    if (this.keyPrefix === '') {
      throw new CacheConfigError(
        'the redis backend has no `keyPrefix`, so clear() would remove every key in the database; set `keyPrefix`, or use flush() to empty the database on purpose',
      );
    }
    await clearNamespace({
      runner: this.#runner,
      pattern: this.#pattern,
      batchSize: this.#batchSize,
      cluster: this.#cluster,
    });
  }

  /**
   * Empties the **whole database** with `FLUSHDB ASYNC` — every application's keys, not only this
   * backend's namespace (on a Cluster: every master). Redis cannot delay a flush: `delaySeconds`
   * must be 0.
   */
  flush(delaySeconds: number): Promise<void> {
    if (delaySeconds !== 0 && !this.#runner.closed) {
      return Promise.reject(
        new CacheValueError('the redis backend cannot delay a flush; `delaySeconds` must be 0'),
      );
    }
    return this.#runner.run({
      operation: 'flush',
      key: undefined,
      send: async () => {
        await Promise.all(
          this.#runner.dataNodes().map((node) => node.callBuffer('flushdb', 'async')),
        );
      },
      decode: discardReply,
    });
  }

  /** `PING` on the connection (on a Cluster: every master), for health checks. */
  ping(): Promise<void> {
    return this.#runner.run({
      operation: 'ping',
      key: undefined,
      send: async () => {
        await Promise.all(this.#runner.dataNodes().map((node) => node.callBuffer('ping')));
      },
      decode: discardReply,
    });
  }

  /**
   * Closes the connection the backend opened — after pending replies, for at most `timeoutMs` —
   * and detaches from a client you passed without closing it. Idempotent; later calls reject
   * with `CacheClosedError` (code `E_CACHE_CLOSED`).
   */
  close(): Promise<void> {
    return this.#runner.close();
  }

  /**
   * The server (`host:port`) of a standalone client, for traces; `undefined` on a Cluster (the
   * slot's node can move) or when the client does not say.
   */
  serverFor(_key: string): string | undefined {
    if (this.#cluster) return undefined;
    const { host, port, path } = this.#client.options as {
      host?: unknown;
      port?: unknown;
      path?: unknown;
    };
    if (typeof path === 'string') return path;
    if (typeof host !== 'string') return undefined;
    return `${host}:${typeof port === 'number' ? port : 6379}`;
  }
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
