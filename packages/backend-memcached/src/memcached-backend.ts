import {
  CacheBatchError,
  CacheValueError,
  type CacheBackendError,
  type CacheError,
} from '@stowage/core';
import {
  checkEntry,
  checkWireKey,
  closedError,
  sameEntry,
  MEMCACHED_MAX_KEY_BYTES,
  type BackendCapabilities,
  type BackendLimits,
  type BackendWrite,
  type CacheBackend,
  type StoredEntry,
} from '@stowage/core/backend';
import { Breaker, type BreakerState } from './breaker.js';
import {
  AckRequest,
  CompareDeleteRequest,
  CounterRequest,
  ExistsRequest,
  GetManyRequest,
  GetRequest,
  SetAndReadRequest,
  SetManyRequest,
  StoreRequest,
} from './commands.js';
import { Connection } from './connection.js';
import { RELATIVE_TTL_LIMIT, toExpiration } from './expiration.js';
import { FrameWriter, inlineValueBytes } from './frame-writer.js';
import { HashRing } from './hash-ring.js';
import { resolveMemcachedOptions, type MemcachedBackendOptions } from './memcached-options.js';
import { HEADER_BYTES, NO_AUTOVIVIFY, Opcode } from './protocol.js';
import { FailureKind, failureError, type Request, type RequestInfo } from './request.js';

const MAX_DELTA = 2n ** 64n - 1n;
/** Room in a response frame for the key and extras beside the largest value. */
const FRAME_SLACK_BYTES = 1024;
/** Operations that read only: their failures are never indeterminate. */
const READS: ReadonlySet<string> = new Set(['get', 'getMany']);

interface Node {
  readonly address: string;
  readonly connection: Connection;
  readonly breaker: Breaker;
}

/** Frames being built for one server: the buffer, the first opaque, how many frames. */
interface Framed {
  readonly writer: FrameWriter;
  readonly base: number;
  readonly frames: number;
}

/** A single-key request being built. */
interface Prepared extends Framed {
  readonly keyBytes: number;
  readonly node: Node;
}

/** How many frames of one key a request has, and what else goes in its buffer. */
interface FrameShape {
  readonly frames: number;
  /** Bytes of extras and inline values. */
  readonly extra: number;
  /** Room and an opaque for a closing `noop` (requests whose answer carries a value). */
  readonly closing?: boolean;
}

/** A `set` or `add` frame's fields. */
interface StoreFrame {
  readonly opcode: number;
  readonly key: string;
  readonly entry: StoredEntry;
  readonly expiration: number;
}

/** One server's share of a batch: its keys and its pending answer. */
interface Share {
  readonly keys: readonly string[];
  readonly done: Promise<unknown>;
}

/** The failed shares of a batch: their keys and errors. */
interface FailedShares {
  readonly keys: string[];
  readonly failures: CacheBackendError[];
}

/**
 * The indexes of a batch (into the caller's list) grouped by server: `locate(index)` names the
 * server. The groups hold the indexes themselves, in order, never positions in `indexes`.
 */
function byServer(
  indexes: readonly number[],
  locate: (index: number) => number,
): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (const index of indexes) {
    const node = locate(index);
    const group = groups.get(node);
    if (group === undefined) groups.set(node, [index]);
    else group.push(index);
  }
  return groups;
}

/** `0, 1, …, length − 1`. */
function allIndexes(length: number): number[] {
  return Array.from({ length }, (_, index) => index);
}

/**
 * The memcached backend: the binary protocol over its own connections (memjs supplies the SASL
 * PLAIN frames), with options, URL and expiration in their own files.
 *
 * - flags travel in memcached's own item flags, so other clients (pymemcache, …) see Q2's codes;
 * - `getMany`, `setMany` and `deleteMany` are one round trip per server (quiet commands + `noop`);
 *   when one server's share fails and another's answers, the call throws `CacheBatchError`
 *   carrying the healthy part's answer — the client decides what the caller gets;
 * - keys are spread over servers by ketama-style consistent hashing;
 * - every call has its own deadline and settles by it; each server has a circuit breaker;
 * - keys, entries, TTLs and deltas are checked before anything is sent; a value over
 *   `maxValueBytes` is refused and the key's old value deleted, as memcached does.
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
  /** What the key limit is made of, for the too-long message: built once, not on every call. */
  readonly #keyLimitNote: string;
  #closed = false;

  constructor(options: MemcachedBackendOptions) {
    const resolved = resolveMemcachedOptions(options);
    this.#prefix = resolved.keyPrefix;
    this.#prefixBytes = resolved.prefixBytes;
    this.#timeoutMs = resolved.timeoutMs;
    this.#keyLimitNote = ` (memcached's ${MEMCACHED_MAX_KEY_BYTES} less the ${this.#prefixBytes}-byte \`keyPrefix\`)`;
    this.capabilities = {
      ttlPrecision: 'seconds',
      scopedClear: false,
      counters: 'unsigned64',
      delayedFlush: true,
      timeoutMs: resolved.timeoutMs,
    };
    this.limits = { maxKeyBytes: resolved.maxKeyBytes, maxValueBytes: resolved.maxValueBytes };
    this.#nodes = resolved.servers.map((address) => {
      const breaker = new Breaker({ ...resolved.breaker, now: () => performance.now() });
      const connection = new Connection({
        host: address.host,
        port: address.port,
        username: resolved.username,
        password: resolved.password,
        timeoutMs: resolved.timeoutMs,
        connectTimeoutMs: resolved.connectTimeoutMs,
        maxBodyBytes: resolved.maxValueBytes + FRAME_SLACK_BYTES,
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
    if (this.#closed) throw closedError('memcached');
  }

  /** Validates a key (the kit's rule, as the client's); returns its UTF-8 length. */
  #keyBytes(key: unknown): number {
    return checkWireKey(key, this.limits.maxKeyBytes, this.#keyLimitNote);
  }

  /** True when `entry` is over `maxValueBytes`: the write is refused and the old value deleted. */
  #oversize(entry: StoredEntry): boolean {
    return entry.value.byteLength > this.limits.maxValueBytes;
  }

  // ---- routing ----------------------------------------------------------------------------

  #locate(key: string): number {
    return this.#ring === undefined ? 0 : this.#ring.locate(this.#prefix + key);
  }

  /** What a request is about; every operation but a read changes the server. */
  #info(node: Node, operation: string, key: string | undefined): RequestInfo {
    const write = !READS.has(operation);
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

  /**
   * Sends `request` (its `frames` frames from opaque `base` on, in `writer`) to `node` unless its
   * breaker is open; returns the request's promise.
   */
  #send<T>(node: Node, request: Request<T>, framed: Framed): Promise<T> {
    if (!node.breaker.allow()) return Promise.reject(this.#downError(node, request.info));
    request.base = framed.base;
    request.last = framed.frames - 1;
    request.chunks = framed.writer.finish();
    node.connection.send(request as Request<unknown>);
    return request.promise;
  }

  /** Closes a batch with `noop` (whose answer ends it) and sends it. */
  #sendBatch<T>(node: Node, request: Request<T>, framed: Framed): Promise<T> {
    const { writer, base, frames } = framed;
    writer.frame(Opcode.Noop, base + frames, 0, -1, 0);
    // A literal, not a spread of `framed`: this is on every read's path.
    return this.#send(node, request, { writer, base, frames: frames + 1 });
  }

  // ---- single-key operations --------------------------------------------------------------

  /**
   * Checks `key`, picks its server, sizes a frame buffer for `shape.frames` frames of that key
   * plus `shape.extra` bytes (extras and inline values), and reserves their opaque values. With
   * `shape.closing`, also room and an opaque for the `noop` that `#sendBatch` appends (requests
   * whose answer carries a value). No I/O.
   */
  #prepare(key: string, shape: FrameShape): Prepared {
    this.#assertOpen();
    const keyBytes = this.#keyBytes(key);
    const node = this.#nodes[this.#locate(key)] as Node;
    const closing = shape.closing === true;
    const writer = new FrameWriter(
      shape.frames * (HEADER_BYTES + this.#prefixBytes + keyBytes) +
        shape.extra +
        (closing ? HEADER_BYTES : 0),
      this.#prefix,
      this.#prefixBytes,
    );
    const base = node.connection.reserve(closing ? shape.frames + 1 : shape.frames);
    return { keyBytes, node, writer, base, frames: shape.frames };
  }

  /**
   * Sizes the frame buffer of one server's share of a batch (one frame per index, plus the
   * closing `noop`; `moreBytes(index)` adds extras and inline values) and reserves its opaques.
   */
  #prepareBatch(
    node: Node,
    indexes: readonly number[],
    sizes: { readonly keyBytes: readonly number[]; readonly more?: (index: number) => number },
  ): Framed {
    let size = HEADER_BYTES;
    for (const index of indexes) {
      size += HEADER_BYTES + this.#prefixBytes + (sizes.keyBytes[index] as number);
      if (sizes.more !== undefined) size += sizes.more(index);
    }
    const writer = new FrameWriter(size, this.#prefix, this.#prefixBytes);
    return { writer, base: node.connection.reserve(indexes.length + 1), frames: indexes.length };
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
    const prepared = this.#prepare(key, { frames: 1, extra: 0, closing: true });
    const { keyBytes, node, writer, base } = prepared;
    writer.frame(Opcode.GetK, base, 0, keyBytes, 0);
    const keyOffset = writer.key(key, keyBytes);
    const info = this.#info(node, operation, key);
    const request = new GetRequest(info, writer, keyOffset, this.#prefixBytes + keyBytes);
    onRequest?.(request);
    return this.#sendBatch(node, request, prepared);
  }

  /** Writes a `set`/`add` frame (header, flags, expiration, key, value) as the request's first. */
  #storeFrame(prepared: Prepared, store: StoreFrame): void {
    const { writer, keyBytes, base } = prepared;
    const { entry } = store;
    writer.frame(store.opcode, base, 8, keyBytes, entry.value.byteLength);
    writer.u32(entry.flags);
    writer.u32(store.expiration);
    writer.key(store.key, keyBytes);
    writer.value(entry.value);
  }

  /** Sends a checked `set` or `add` (its callers check the entry and refuse oversized ones). */
  #store(operation: 'set' | 'add', key: string, entry: StoredEntry, ttl: number): Promise<boolean> {
    const expiration = toExpiration(ttl);
    const prepared = this.#prepare(key, { frames: 1, extra: 8 + inlineValueBytes(entry.value) });
    const opcode = operation === 'set' ? Opcode.Set : Opcode.Add;
    this.#storeFrame(prepared, { opcode, key, entry, expiration });
    const request = new StoreRequest(this.#info(prepared.node, operation, key));
    return this.#send(prepared.node, request, prepared);
  }

  /** @inheritdoc */
  async set(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    checkEntry(key, entry);
    if (this.#oversize(entry)) return this.#refuse(key);
    return this.#store('set', key, entry, ttlSeconds);
  }

  /** @inheritdoc */
  async add(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    checkEntry(key, entry);
    // memcached refuses an oversized add without touching the item it would not replace.
    if (this.#oversize(entry)) {
      this.#assertOpen();
      this.#keyBytes(key);
      return false;
    }
    return this.#store('add', key, entry, ttlSeconds);
  }

  /**
   * A refused oversized write: the key's old value is deleted, as memcached itself unlinks an
   * item on "object too large", so no stale value outlives the write. Resolves `false`.
   */
  async #refuse(key: string): Promise<false> {
    await this.delete(key);
    return false;
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
    checkEntry(key, entry);
    if (this.#oversize(entry)) {
      await this.#refuse(key);
      return undefined;
    }
    const expiration = toExpiration(ttlSeconds);
    const extra = 8 + inlineValueBytes(entry.value);
    const prepared = this.#prepare(key, { frames: 2, extra, closing: true });
    const { keyBytes, node, writer, base } = prepared;
    this.#storeFrame(prepared, { opcode: Opcode.Set, key, entry, expiration });
    writer.frame(Opcode.GetK, base + 1, 0, keyBytes, 0);
    const keyOffset = writer.key(key, keyBytes);
    const info = this.#info(node, 'setAndRead', key);
    const request = new SetAndReadRequest(info, writer, keyOffset, this.#prefixBytes + keyBytes);
    return this.#sendBatch(node, request, prepared);
  }

  /** @inheritdoc */
  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const expiration = toExpiration(ttlSeconds);
    const prepared = this.#prepare(key, { frames: 1, extra: 4 });
    const { keyBytes, node, writer, base } = prepared;
    writer.frame(Opcode.Touch, base, 4, keyBytes, 0);
    writer.u32(expiration);
    writer.key(key, keyBytes);
    return this.#send(node, new ExistsRequest(this.#info(node, 'touch', key)), prepared);
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
    const prepared = this.#prepare(key, { frames: 1, extra: 20, closing: true });
    const { keyBytes, node, writer, base } = prepared;
    const opcode = operation === 'incr' ? Opcode.Increment : Opcode.Decrement;
    writer.frame(opcode, base, 20, keyBytes, 0);
    writer.u64(delta);
    writer.u64(0n); // initial value, unused: NO_AUTOVIVIFY keeps a missing key missing
    writer.u32(NO_AUTOVIVIFY);
    writer.key(key, keyBytes);
    // The client never retries or quarantines a counter; `indeterminate` still tells callers that
    // an increment that timed out may have happened.
    return this.#sendBatch(node, new CounterRequest(this.#info(node, operation, key)), prepared);
  }

  /** @inheritdoc */
  async delete(key: string): Promise<boolean> {
    const prepared = this.#prepare(key, { frames: 1, extra: 0 });
    const { keyBytes, node, writer, base } = prepared;
    writer.frame(Opcode.Delete, base, 0, keyBytes, 0);
    writer.key(key, keyBytes);
    return this.#send(node, new ExistsRequest(this.#info(node, 'delete', key)), prepared);
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
    if (read === undefined || !sameEntry(held, expected)) return false;
    const prepared = this.#prepare(key, { frames: 1, extra: 0 });
    const { keyBytes, node, writer, base } = prepared;
    writer.frame(Opcode.Delete, base, 0, keyBytes, 0);
    // A server started with `-C` has no CAS values (0): the delete is then unconditional, which
    // still keeps the rule — the item held the write in doubt, and a miss is always safe.
    writer.cas(read.casHigh, read.casLow);
    writer.key(key, keyBytes);
    const request = new CompareDeleteRequest(this.#info(node, 'deleteIf', key));
    return this.#send(node, request, prepared);
  }

  // ---- batches: one round trip per server ---------------------------------------------------

  /**
   * Waits for every share of a batch (one per server). All answered: nothing to do. Some failed
   * while others answered: throws `CacheBatchError` with what `partial()` builds from the failed
   * shares. All failed: throws the first failure as it is.
   */
  async #settleShares(
    batch: { readonly operation: string; readonly shares: readonly Share[] },
    partial: (failed: FailedShares) => object,
  ): Promise<void> {
    const { operation, shares } = batch;
    const outcomes = await Promise.allSettled(shares.map((share) => share.done));
    const failed: FailedShares = { keys: [], failures: [] };
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') return;
      failed.failures.push(outcome.reason as CacheBackendError);
      failed.keys.push(...(shares[i] as Share).keys);
    });
    if (failed.failures.length === 0) return;
    const firstFailure = failed.failures[0] as CacheBackendError;
    if (failed.failures.length === outcomes.length) throw firstFailure;
    throw new CacheBatchError(
      `memcached ${operation} failed on ${failed.failures.length} of ${outcomes.length} servers: ${firstFailure.message}`,
      {
        backend: 'memcached',
        operation,
        indeterminate: failed.failures.some((failure) => failure.indeterminate),
        failures: failed.failures,
        failedKeys: failed.keys,
        ...partial(failed),
      },
    );
  }

  /**
   * Reads many keys with one round trip per server (`getkq` × n, then `noop`). When a server
   * fails and another answers, throws `CacheBatchError` whose `entries` hold the answered part.
   */
  async getMany(keys: readonly string[]): Promise<Array<StoredEntry | undefined>> {
    this.#assertOpen();
    const results = new Array<StoredEntry | undefined>(keys.length).fill(undefined);
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
    const copyDuplicates = (): void => {
      if (first.size < keys.length) {
        keys.forEach((key, index) => (results[index] = results[first.get(key) as number]));
      }
    };
    const shares: Share[] = [];
    for (const [nodeIndex, indexes] of byServer(unique, (i) => this.#locate(keys[i] as string))) {
      const node = this.#nodes[nodeIndex] as Node;
      const framed = this.#prepareBatch(node, indexes, { keyBytes });
      const offsets: number[] = [];
      const lengths: number[] = [];
      indexes.forEach((index, frame) => {
        const bytes = keyBytes[index] as number;
        framed.writer.frame(Opcode.GetKQ, framed.base + frame, 0, bytes, 0);
        offsets.push(framed.writer.key(keys[index] as string, bytes));
        lengths.push(this.#prefixBytes + bytes);
      });
      const request = new GetManyRequest(this.#info(node, 'getMany', undefined), {
        writer: framed.writer,
        keyOffsets: offsets,
        keyLengths: lengths,
        slots: indexes,
        results,
      });
      const sharedKeys = indexes.map((index) => keys[index] as string);
      shares.push({ keys: sharedKeys, done: this.#sendBatch(node, request, framed) });
    }
    await this.#settleShares({ operation: 'getMany', shares }, () => {
      copyDuplicates();
      return { entries: [...results] };
    });
    copyDuplicates();
    return results;
  }

  /**
   * Stores many entries with one round trip per server (`setq` × n, then `noop`); resolves the
   * keys the servers refused. An oversized entry is refused and its key deleted. When a server
   * fails and another answers, throws `CacheBatchError` whose `notStored` lists the refused keys
   * and those of the failed share.
   */
  async setMany(writes: readonly BackendWrite[], ttlSeconds: number): Promise<string[]> {
    this.#assertOpen();
    if (writes.length === 0) return [];
    const keyBytes = writes.map((write) => this.#keyBytes(write.key));
    for (const write of writes) checkEntry(write.key, write.entry);
    const expiration = toExpiration(ttlSeconds);
    const refused: string[] = [];
    const sendable: number[] = [];
    writes.forEach((write, index) => {
      if (this.#oversize(write.entry)) refused.push(write.key);
      else sendable.push(index);
    });
    const shares: Share[] = [];
    if (refused.length > 0) {
      // Oversized: refused, and the old values deleted (as the server does for an oversized set).
      shares.push({ keys: refused, done: this.deleteMany(refused) });
    }
    for (const [nodeIndex, indexes] of byServer(sendable, (i) => this.#locate(writes[i]!.key))) {
      const node = this.#nodes[nodeIndex] as Node;
      const more = (index: number): number => 8 + inlineValueBytes(writes[index]!.entry.value);
      const framed = this.#prepareBatch(node, indexes, { keyBytes, more });
      indexes.forEach((index, frame) => {
        const { key, entry } = writes[index] as BackendWrite;
        const bytes = keyBytes[index] as number;
        framed.writer.frame(Opcode.SetQ, framed.base + frame, 8, bytes, entry.value.byteLength);
        framed.writer.u32(entry.flags);
        framed.writer.u32(expiration);
        framed.writer.key(key, bytes);
        framed.writer.value(entry.value);
      });
      const request = new SetManyRequest(this.#info(node, 'setMany', undefined));
      const done = this.#sendBatch(node, request, framed).then((frames) => {
        for (const frame of frames) refused.push(writes[indexes[frame] as number]!.key);
      });
      shares.push({ keys: indexes.map((index) => writes[index]!.key), done });
    }
    await this.#settleShares({ operation: 'setMany', shares }, (failed) => ({
      notStored: [...new Set([...refused, ...failed.keys])],
    }));
    return [...new Set(refused)];
  }

  /**
   * Deletes many keys with one round trip per server (`deleteq` × n, then `noop`). Any server's
   * failure rejects the call (after the others finished) — with `CacheBatchError` when others
   * answered: a delete that may not have happened is never hidden.
   */
  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#assertOpen();
    if (keys.length === 0) return;
    const keyBytes = keys.map((key) => this.#keyBytes(key));
    const shares: Share[] = [];
    for (const [nodeIndex, indexes] of byServer(allIndexes(keys.length), (i) =>
      this.#locate(keys[i] as string),
    )) {
      const node = this.#nodes[nodeIndex] as Node;
      const framed = this.#prepareBatch(node, indexes, { keyBytes });
      indexes.forEach((index, frame) => {
        const bytes = keyBytes[index] as number;
        framed.writer.frame(Opcode.DeleteQ, framed.base + frame, 0, bytes, 0);
        framed.writer.key(keys[index] as string, bytes);
      });
      const request = new AckRequest(this.#info(node, 'deleteMany', undefined));
      const done = this.#sendBatch(node, request, framed);
      shares.push({ keys: indexes.map((index) => keys[index] as string), done });
    }
    await this.#settleShares({ operation: 'deleteMany', shares }, () => ({}));
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
      return this.#send(node, new AckRequest(this.#info(node, 'flush', undefined)), {
        writer,
        base,
        frames: 1,
      });
    });
    // Every server is flushed or the call rejects with the first failure.
    for (const outcome of await Promise.allSettled(pending)) {
      if (outcome.status === 'rejected') throw outcome.reason;
    }
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
