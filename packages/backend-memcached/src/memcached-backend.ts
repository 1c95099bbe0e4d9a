import { CacheBackendError, CacheValueError } from '@stowage/core';
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
import {
  allIndexes,
  byServer,
  copyDuplicates,
  distinctKeys,
  settleShares,
  type Share,
} from './batch.js';
import type { BreakerState } from './breaker.js';
import {
  AckRequest,
  CasSetOutcome,
  CompareDeleteRequest,
  CounterRequest,
  ExistsRequest,
  GetManyRequest,
  GetRequest,
  SetAndReadRequest,
  SetIfRequest,
  SetManyRequest,
  StoreRequest,
  type SentKey,
} from './commands.js';
import { toExpiration, toFlushDelay } from './expiration.js';
import { FrameWriter, inlineValueBytes } from './frame-writer.js';
import { createLocator, type KeyDistribution, type ServerLocator } from './key-distribution.js';
import { resolveMemcachedOptions, type MemcachedBackendOptions } from './memcached-options.js';
import { HEADER_BYTES, NO_AUTOVIVIFY, Opcode } from './protocol.js';
import type { RequestInfo } from './request.js';
import { ServerNode, type Framed } from './server-node.js';

const MAX_DELTA = 2n ** 64n - 1n;
/** Extras of a `set`/`add` frame: flags and expiration, 4 bytes each. */
const STORE_EXTRAS_BYTES = 8;

/** A single-key request being built. */
interface Prepared extends Framed {
  readonly keyBytes: number;
  readonly node: ServerNode;
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
  readonly opcode: typeof Opcode.Set | typeof Opcode.Add;
  readonly key: string;
  readonly entry: StoredEntry;
  readonly expiration: number;
  /** A CAS value: the server stores only while the item still has it (`setIf`). */
  readonly cas?: CasToken | undefined;
}

/**
 * An item's CAS value, as its high and low 32 bits, with the server and the socket generation it
 * was read on. It is sent only on that same generation (see `Connection.readyGeneration`): after a
 * reconnect the server may have restarted and handed the same number to another item.
 */
interface CasToken {
  readonly node: ServerNode;
  readonly generation: number;
  readonly high: number;
  readonly low: number;
}

/** What the backend remembers of an entry it stored itself with `add` or `setIf`. */
interface Written extends CasToken {
  /** The key it was stored under: a record is never trusted for another key. */
  readonly key: string;
}

/** A `getMany` being framed: what every server's share reads and where the answers go. */
interface GetManyBatch {
  readonly keys: readonly string[];
  readonly keyBytes: readonly number[];
  readonly results: Array<StoredEntry | undefined>;
}

/** A `setMany` being framed: what every server's share reads. */
interface SetManyBatch {
  readonly writes: readonly BackendWrite[];
  readonly keyBytes: readonly number[];
  readonly expiration: number;
  /** Keys not stored: the oversized ones up front, the servers' refusals as they answer. */
  readonly refused: string[];
}

/**
 * The memcached backend: the binary protocol over its own connections (memjs supplies the SASL
 * PLAIN frames). This file routes keys to servers and frames calls; options, URL, expiration,
 * batch outcomes, the connection and the answers' parsing each live in their own file.
 *
 * - flags travel in memcached's own item flags, so other clients (pymemcache, …) read the same
 *   codes: 1 string, 2 JSON, 3 integer, 4 encrypted;
 * - `getMany`, `setMany` and `deleteMany` are one round trip per server (quiet commands + `noop`);
 *   when one server's share fails and another's answers, the call throws `CacheBatchError`
 *   carrying the healthy part's answer — the client decides what the caller gets;
 * - keys are spread over servers by ketama-style consistent hashing, or as Python's pymemcache
 *   `HashClient` spreads them (`distribution`);
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
  /** How keys are spread over `servers` (the `distribution` option, defaulted). */
  readonly distribution: KeyDistribution;
  readonly #nodes: readonly ServerNode[];
  readonly #locator: ServerLocator | undefined;
  readonly #prefix: string;
  readonly #prefixBytes: number;
  /** What the key limit is made of, for the too-long message: built once, not on every call. */
  readonly #keyLimitNote: string;
  /**
   * The CAS value of each entry object this backend stored with `add` or `setIf`, from the
   * answer's header: a lease's renewals and commit then cost one round trip instead of a read
   * first. Keyed weakly by the caller's object, so a record lives no longer than the entry.
   */
  readonly #written = new WeakMap<StoredEntry, Written>();
  #closed = false;

  constructor(options: MemcachedBackendOptions) {
    const resolved = resolveMemcachedOptions(options);
    this.#prefix = resolved.keyPrefix;
    this.#prefixBytes = resolved.prefixBytes;
    this.#keyLimitNote = ` (memcached's ${MEMCACHED_MAX_KEY_BYTES} less the ${this.#prefixBytes}-byte \`keyPrefix\`)`;
    this.capabilities = {
      ttlPrecision: 'seconds',
      scopedClear: false,
      counters: 'unsigned64',
      delayedFlush: true,
      timeoutMs: resolved.timeoutMs,
    };
    this.limits = { maxKeyBytes: resolved.maxKeyBytes, maxValueBytes: resolved.maxValueBytes };
    this.#nodes = resolved.servers.map((server) => new ServerNode(server, resolved));
    this.servers = this.#nodes.map((node) => node.address);
    this.distribution = resolved.distribution;
    this.#locator = createLocator(resolved, this.servers);
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
    return this.#locator === undefined ? 0 : this.#locator.locate(key);
  }

  /**
   * Checks `key`, picks its server, sizes a frame buffer for `shape.frames` frames of that key
   * plus `shape.extra` bytes (extras and inline values), and reserves their opaque values. With
   * `shape.closing`, also room and an opaque for the `noop` that `ServerNode.sendBatch` appends
   * (requests whose answer carries a value). No I/O.
   */
  #prepare(key: string, shape: FrameShape): Prepared {
    this.#assertOpen();
    const keyBytes = this.#keyBytes(key);
    const node = this.#nodes[this.#locate(key)] as ServerNode;
    const closing = shape.closing === true;
    const writer = new FrameWriter(
      shape.frames * (HEADER_BYTES + this.#prefixBytes + keyBytes) +
        shape.extra +
        (closing ? HEADER_BYTES : 0),
      this.#prefix,
      this.#prefixBytes,
    );
    const base = node.reserve(closing ? shape.frames + 1 : shape.frames);
    return { keyBytes, node, writer, base, frames: shape.frames };
  }

  /**
   * Sizes the frame buffer of one server's share of a batch (one frame per index, plus the
   * closing `noop`; `sizes.more(index)` adds extras and inline values) and reserves its opaques.
   */
  #prepareBatch(
    node: ServerNode,
    indexes: readonly number[],
    sizes: { readonly keyBytes: readonly number[]; readonly more?: (index: number) => number },
  ): Framed {
    let size = HEADER_BYTES;
    for (const index of indexes) {
      size += HEADER_BYTES + this.#prefixBytes + (sizes.keyBytes[index] as number);
      if (sizes.more !== undefined) size += sizes.more(index);
    }
    const writer = new FrameWriter(size, this.#prefix, this.#prefixBytes);
    return { writer, base: node.reserve(indexes.length + 1), frames: indexes.length };
  }

  // ---- single-key operations --------------------------------------------------------------

  /** @inheritdoc */
  async get(key: string): Promise<StoredEntry | undefined> {
    return this.#getk(key, 'get');
  }

  /** One `getk`, a read; `onRequest` sees the request, whose CAS fields `deleteIf` reads. */
  #getk(
    key: string,
    operation: string,
    onRequest?: (request: GetRequest) => void,
  ): Promise<StoredEntry | undefined> {
    const prepared = this.#prepare(key, { frames: 1, extra: 0, closing: true });
    const { keyBytes, node, writer, base } = prepared;
    writer.frame(Opcode.GetK, base);
    const offset = writer.key(key, keyBytes);
    const request = new GetRequest(node.readInfo(operation, key), {
      writer,
      offset,
      length: this.#prefixBytes + keyBytes,
    });
    onRequest?.(request);
    return node.sendBatch(request, prepared);
  }

  /** Writes a `set`/`add` frame (header, flags, expiration, key, value) as the request's first. */
  #storeFrame(prepared: Prepared, store: StoreFrame): void {
    const { writer, keyBytes, base } = prepared;
    writer.frame(store.opcode, base);
    if (store.cas !== undefined) writer.cas(store.cas.high, store.cas.low);
    writer.u32(store.entry.flags);
    writer.u32(store.expiration);
    writer.key(store.key, keyBytes);
    writer.value(store.entry.value);
  }

  /** Frames a checked `set` or `add` (its callers check the entry and refuse oversized ones). */
  #prepareStore(store: StoreFrame): Prepared {
    const extra = STORE_EXTRAS_BYTES + inlineValueBytes(store.entry.value);
    const prepared = this.#prepare(store.key, { frames: 1, extra });
    this.#storeFrame(prepared, store);
    return prepared;
  }

  /** @inheritdoc */
  async set(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    checkEntry(key, entry);
    const expiration = toExpiration(ttlSeconds);
    if (this.#oversize(entry)) return this.#refuse(key, 'set');
    const prepared = this.#prepareStore({ opcode: Opcode.Set, key, entry, expiration });
    return prepared.node.send(new StoreRequest(prepared.node.info('set', key)), prepared);
  }

  /** @inheritdoc */
  async add(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    checkEntry(key, entry);
    const expiration = toExpiration(ttlSeconds);
    // memcached refuses an oversized add without touching the item it would not replace.
    if (this.#oversize(entry)) {
      this.#assertOpen();
      this.#keyBytes(key);
      return false;
    }
    const prepared = this.#prepareStore({ opcode: Opcode.Add, key, entry, expiration });
    const { node } = prepared;
    const request = new StoreRequest(node.info('add', key));
    const added = await node.send(request, prepared);
    // A lease is taken with `add`: its CAS lets the lease's `setIf` go out without a read first.
    if (added) {
      this.#remember(key, entry, {
        node,
        generation: request.generation,
        high: request.casHigh,
        low: request.casLow,
      });
    }
    return added;
  }

  /**
   * A refused oversized write: the key's old value is deleted, as memcached itself unlinks an
   * item on "object too large", so no stale value outlives the write. Resolves `false`; a failed
   * delete rejects under the caller's `operation` (a write: indeterminate once sent).
   */
  async #refuse(key: string, operation: 'set' | 'setAndRead'): Promise<false> {
    await this.#delete(key, operation);
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
    const expiration = toExpiration(ttlSeconds);
    if (this.#oversize(entry)) {
      await this.#refuse(key, 'setAndRead');
      return undefined;
    }
    const store: StoreFrame = { opcode: Opcode.Set, key, entry, expiration };
    const prepared = this.#prepareStoreThenRead(store);
    const sent = this.#storeThenRead(prepared, store);
    const request = new SetAndReadRequest(prepared.node.info('setAndRead', key), sent);
    return prepared.node.sendBatch(request, prepared);
  }

  /** Sizes the frames of a `set` then a `getk` of its key (and the closing `noop`). No I/O. */
  #prepareStoreThenRead(store: StoreFrame): Prepared {
    const extra = STORE_EXTRAS_BYTES + inlineValueBytes(store.entry.value);
    return this.#prepare(store.key, { frames: 2, extra, closing: true });
  }

  /**
   * Writes a `set` (carrying `store.cas`, if any) then a `getk` of the same key. Sent together on
   * one connection, which memcached answers in order, so the read sees this write. Returns where
   * the key sits in the frames, for the read's key check.
   */
  #storeThenRead(prepared: Prepared, store: StoreFrame): SentKey {
    const { keyBytes, writer, base } = prepared;
    this.#storeFrame(prepared, store);
    writer.frame(Opcode.GetK, base + 1);
    const offset = writer.key(store.key, keyBytes);
    return { writer, offset, length: this.#prefixBytes + keyBytes };
  }

  /** @inheritdoc */
  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const expiration = toExpiration(ttlSeconds);
    const prepared = this.#prepare(key, { frames: 1, extra: 4 });
    const { keyBytes, node, writer, base } = prepared;
    writer.frame(Opcode.Touch, base);
    writer.u32(expiration);
    writer.key(key, keyBytes);
    return node.send(new ExistsRequest(node.info('touch', key)), prepared);
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
    writer.frame(operation === 'incr' ? Opcode.Increment : Opcode.Decrement, base);
    writer.u64(delta);
    writer.u64(0n); // initial value, unused: NO_AUTOVIVIFY keeps a missing key missing
    writer.u32(NO_AUTOVIVIFY);
    writer.key(key, keyBytes);
    // The client never retries or quarantines a counter; `indeterminate` still tells callers that
    // an increment that timed out may have happened.
    return node.sendBatch(new CounterRequest(node.info(operation, key)), prepared);
  }

  /** @inheritdoc */
  async delete(key: string): Promise<boolean> {
    return this.#delete(key, 'delete');
  }

  /** One `delete`; `operation` names the call for its errors (`delete`, or a refused write). */
  #delete(key: string, operation: string): Promise<boolean> {
    const prepared = this.#prepare(key, { frames: 1, extra: 0 });
    const { keyBytes, node, writer, base } = prepared;
    writer.frame(Opcode.Delete, base);
    writer.key(key, keyBytes);
    return node.send(new ExistsRequest(node.info(operation, key)), prepared);
  }

  /**
   * Compare-and-delete with memcached's CAS: a `getk` reads the item and its CAS value; when the
   * bytes and flags are exactly `expected`, a `delete` carrying that CAS removes it — unless
   * anyone wrote the key in between (the server then answers `key exists` and keeps the newer
   * value). Two round trips; used when a write quarantine ends, not on the hot path. A failure of
   * the read is not indeterminate: nothing was deleted yet.
   */
  async deleteIf(key: string, expected: StoredEntry): Promise<boolean> {
    return this.#deleteIf(key, expected, 'deleteIf');
  }

  /** {@link MemcachedBackend.deleteIf}; `operation` names the call for its errors. */
  async #deleteIf(key: string, expected: StoredEntry, operation: string): Promise<boolean> {
    let read: GetRequest | undefined;
    const held = await this.#getk(key, operation, (request) => {
      read = request;
    });
    if (read === undefined || !sameEntry(held, expected)) return false;
    const prepared = this.#prepare(key, { frames: 1, extra: 0 });
    const { keyBytes, node, writer, base } = prepared;
    writer.frame(Opcode.Delete, base);
    // A server started with `-C` has no CAS values (0): the delete is then unconditional, which
    // still keeps the rule — the item held the write in doubt, and a miss is always safe.
    writer.cas(read.casHigh, read.casLow);
    writer.key(key, keyBytes);
    const request = new CompareDeleteRequest(node.info(operation, key));
    return node.send(request, prepared);
  }

  /**
   * Compare-and-set with memcached's CAS, the commit (and renewal) of a lease: a `set` carrying
   * the item's CAS value, with a `getk` of the key pipelined behind it on the same connection, so
   * the answer says what the server holds right after the write. One round trip when `expected`
   * is an entry object this backend stored itself under `key` with `add` or `setIf` (it remembers
   * the CAS from the server's answer); otherwise a `getk` first compares the bytes and flags and
   * reads the CAS (two round trips). Resolves `false` when the key does not hold `expected` —
   * deleted (by anyone: a `delete` changes nothing else), expired, flushed or overwritten — and
   * nothing was written.
   *
   * A set refused for a changed CAS is retried once, and only when its read-back still holds
   * exactly `expected` (someone rewrote the same bytes, such as a renewal through another
   * backend object). A value over `maxValueBytes` is refused: the key is deleted only while it
   * holds `expected`, and the call resolves `undefined`. A server started with `-C` keeps no CAS
   * values, so no compare-and-set can be atomic there: the call rejects with `CacheBackendError`
   * (not indeterminate: nothing was written) rather than store over a delete.
   */
  async setIf(
    key: string,
    expected: StoredEntry,
    entry: StoredEntry,
    ttlSeconds: number,
  ): Promise<StoredEntry | false | undefined> {
    checkEntry(key, expected);
    checkEntry(key, entry);
    const expiration = toExpiration(ttlSeconds);
    if (this.#oversize(entry)) {
      return (await this.#deleteIf(key, expected, 'setIf')) ? undefined : false;
    }
    this.#assertOpen();
    this.#keyBytes(key);
    const node = this.#nodes[this.#locate(key)] as ServerNode;
    // Checked and sent in the same tick: the remembered CAS goes out on the socket it came from.
    let cas = this.#remembered(key, expected, node) ?? (await this.#readCas(key, expected, node));
    for (let retried = false; ; retried = true) {
      // A reconnect since the CAS was read: the server may have restarted (see CasToken).
      if (cas === undefined || cas.generation !== node.readyGeneration) {
        return this.#lost(key, expected);
      }
      const sent = this.#casSet({ opcode: Opcode.Set, key, entry, expiration, cas });
      const held = await sent.done;
      const { request } = sent;
      if (request.outcome === CasSetOutcome.Stored) {
        this.#committed(key, { expected, entry, request, node });
        return held;
      }
      // Refused by the server (too large for its `-I`): it unlinked the item; say what is left.
      if (request.outcome === CasSetOutcome.Refused) return held;
      if (request.outcome === CasSetOutcome.Gone || retried || !sameEntry(held, expected)) {
        return this.#lost(key, expected);
      }
      cas = { node, generation: request.generation, high: request.casHigh, low: request.casLow };
      if (cas.high === 0 && cas.low === 0) return this.#lost(key, expected);
    }
  }

  /**
   * The CAS this backend got when it stored `expected` under `key` itself, if it may be sent now:
   * same key, same server, and the socket it came on is still the connected one.
   */
  #remembered(key: string, expected: StoredEntry, node: ServerNode): CasToken | undefined {
    const written = this.#written.get(expected);
    if (written === undefined || written.key !== key || written.node !== node) return undefined;
    return written.generation === node.readyGeneration ? written : undefined;
  }

  /** Remembers the CAS of an entry just stored; a server with CAS disabled (`-C`) reports 0. */
  #remember(key: string, entry: StoredEntry, cas: CasToken): void {
    if (cas.high === 0 && cas.low === 0) this.#written.delete(entry);
    else this.#written.set(entry, { ...cas, key });
  }

  /**
   * `setIf`'s read: a `getk` of the key. Resolves its CAS when it holds exactly `expected`, else
   * `undefined`. A failure here is not indeterminate (nothing was written yet).
   */
  async #readCas(
    key: string,
    expected: StoredEntry,
    node: ServerNode,
  ): Promise<CasToken | undefined> {
    let read: GetRequest | undefined;
    const held = await this.#getk(key, 'setIf', (request) => {
      read = request;
    });
    if (read === undefined || !sameEntry(held, expected)) return undefined;
    if (read.casHigh === 0 && read.casLow === 0) {
      // memcached numbers every item from 1; 0 means `-C`. A set carrying 0 is unconditional and
      // would store over a delete made after this read: refuse loudly instead.
      throw new CacheBackendError(
        `memcached setIf on ${node.address} failed: the server keeps no CAS values (started with -C), so it cannot compare-and-set; nothing was written`,
        { backend: 'memcached', operation: 'setIf', key, indeterminate: false },
      );
    }
    return { node, generation: read.generation, high: read.casHigh, low: read.casLow };
  }

  /** Sends `setIf`'s CAS `set`, its read-back `getk` and the closing `noop` in one write. */
  #casSet(store: StoreFrame): {
    readonly request: SetIfRequest;
    readonly done: Promise<StoredEntry | undefined>;
  } {
    const prepared = this.#prepareStoreThenRead(store);
    const sent = this.#storeThenRead(prepared, store);
    const request = new SetIfRequest(prepared.node.info('setIf', store.key), sent);
    return { request, done: prepared.node.sendBatch(request, prepared) };
  }

  /** After a stored `setIf`: `entry`'s CAS is the one to send next (a renewal, then a commit). */
  #committed(
    key: string,
    commit: {
      readonly expected: StoredEntry;
      readonly entry: StoredEntry;
      readonly request: SetIfRequest;
      readonly node: ServerNode;
    },
  ): void {
    const { expected, entry, request, node } = commit;
    if (entry !== expected) this.#forget(key, expected);
    this.#remember(key, entry, {
      node,
      generation: request.generation,
      high: request.storedCasHigh,
      low: request.storedCasLow,
    });
  }

  /** A refused `setIf`: `expected`'s record, if any, is of no further use for this key. */
  #lost(key: string, expected: StoredEntry): false {
    this.#forget(key, expected);
    return false;
  }

  #forget(key: string, entry: StoredEntry): void {
    if (this.#written.get(entry)?.key === key) this.#written.delete(entry);
  }

  // ---- batches: one round trip per server ---------------------------------------------------

  /**
   * Reads many keys with one round trip per server (`getkq` × n, then `noop`). When a server
   * fails and another answers, throws `CacheBatchError` whose `entries` hold the answered part.
   */
  async getMany(keys: readonly string[]): Promise<Array<StoredEntry | undefined>> {
    this.#assertOpen();
    const results = new Array<StoredEntry | undefined>(keys.length).fill(undefined);
    if (keys.length === 0) return results;
    const batch: GetManyBatch = { keys, keyBytes: keys.map((key) => this.#keyBytes(key)), results };
    // One frame per distinct key; duplicates are copied from their first occurrence.
    const distinct = distinctKeys(keys);
    const shares: Share[] = [];
    for (const [node, indexes] of byServer(distinct.indexes, (i) => this.#locate(keys[i]!))) {
      shares.push(this.#getManyShare(this.#nodes[node] as ServerNode, indexes, batch));
    }
    await settleShares({ operation: 'getMany', shares }, () => {
      copyDuplicates(keys, results, distinct);
      return { entries: [...results] };
    });
    copyDuplicates(keys, results, distinct);
    return results;
  }

  /** Frames and sends one server's share of a `getMany`; its hits land in `batch.results`. */
  #getManyShare(node: ServerNode, indexes: readonly number[], batch: GetManyBatch): Share {
    const { keys, keyBytes } = batch;
    const framed = this.#prepareBatch(node, indexes, { keyBytes });
    const { writer, base } = framed;
    const keyOffsets: number[] = [];
    const keyLengths: number[] = [];
    for (let frame = 0; frame < indexes.length; frame++) {
      const index = indexes[frame] as number;
      const bytes = keyBytes[index] as number;
      writer.frame(Opcode.GetKQ, base + frame);
      keyOffsets.push(writer.key(keys[index] as string, bytes));
      keyLengths.push(this.#prefixBytes + bytes);
    }
    const request = new GetManyRequest(node.readInfo('getMany', undefined), {
      writer,
      keyOffsets,
      keyLengths,
      slots: indexes,
      results: batch.results,
    });
    const done = node.sendBatch(request, framed);
    return { keys: indexes.map((index) => keys[index] as string), done };
  }

  /**
   * Stores many entries with one round trip per server (`setq` × n, then `noop`); resolves the
   * keys not stored. An oversized entry is refused and its frame is a `deleteq` of the key, so
   * its old value goes in the same round trip. When a server fails and another answers, throws
   * `CacheBatchError` whose `notStored` lists the refused keys and those of the failed share.
   */
  async setMany(writes: readonly BackendWrite[], ttlSeconds: number): Promise<string[]> {
    this.#assertOpen();
    if (writes.length === 0) return [];
    const keyBytes = writes.map((write) => this.#keyBytes(write.key));
    for (const write of writes) checkEntry(write.key, write.entry);
    const batch: SetManyBatch = {
      writes,
      keyBytes,
      expiration: toExpiration(ttlSeconds),
      refused: writes.filter((write) => this.#oversize(write.entry)).map((write) => write.key),
    };
    const shares: Share[] = [];
    const all = allIndexes(writes.length);
    for (const [node, indexes] of byServer(all, (i) => this.#locate(writes[i]!.key))) {
      shares.push(this.#setManyShare(this.#nodes[node] as ServerNode, indexes, batch));
    }
    await settleShares({ operation: 'setMany', shares }, (failed) => ({
      notStored: [...new Set([...batch.refused, ...failed.keys])],
    }));
    return [...new Set(batch.refused)];
  }

  /** Frames and sends one server's share of a `setMany`; its refusals join `batch.refused`. */
  #setManyShare(node: ServerNode, indexes: readonly number[], batch: SetManyBatch): Share {
    const { writes, keyBytes, expiration } = batch;
    const more = (index: number): number => {
      const { entry } = writes[index]!;
      return this.#oversize(entry) ? 0 : STORE_EXTRAS_BYTES + inlineValueBytes(entry.value);
    };
    const framed = this.#prepareBatch(node, indexes, { keyBytes, more });
    const { writer, base } = framed;
    /** Frames that delete an oversized entry's key instead of storing it. */
    let deletes: Set<number> | undefined;
    for (let frame = 0; frame < indexes.length; frame++) {
      const index = indexes[frame] as number;
      const { key, entry } = writes[index]!;
      if (this.#oversize(entry)) {
        (deletes ??= new Set()).add(frame);
        writer.frame(Opcode.DeleteQ, base + frame);
        writer.key(key, keyBytes[index] as number);
        continue;
      }
      writer.frame(Opcode.SetQ, base + frame);
      writer.u32(entry.flags);
      writer.u32(expiration);
      writer.key(key, keyBytes[index] as number);
      writer.value(entry.value);
    }
    const request = new SetManyRequest(node.info('setMany', undefined), deletes);
    const sent = node.sendBatch(request, framed);
    const done = sent.then((frames) => {
      for (const frame of frames) batch.refused.push(writes[indexes[frame]!]!.key);
    });
    return { keys: indexes.map((index) => writes[index]!.key), done };
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
      this.#locate(keys[i]!),
    )) {
      const node = this.#nodes[nodeIndex] as ServerNode;
      const framed = this.#prepareBatch(node, indexes, { keyBytes });
      for (let frame = 0; frame < indexes.length; frame++) {
        const index = indexes[frame] as number;
        framed.writer.frame(Opcode.DeleteQ, framed.base + frame);
        framed.writer.key(keys[index] as string, keyBytes[index] as number);
      }
      const request = new AckRequest(node.info('deleteMany', undefined));
      const done = node.sendBatch(request, framed);
      shares.push({ keys: indexes.map((index) => keys[index] as string), done });
    }
    await settleShares({ operation: 'deleteMany', shares }, () => ({}));
  }

  // ---- server-wide ----------------------------------------------------------------------------

  /**
   * Flushes every server: memcached's `flush_all`, which removes **every** key on the servers,
   * not only this backend's `keyPrefix` (memcached cannot list keys).
   */
  async clear(): Promise<void> {
    return this.#flushAll(0, 'clear');
  }

  /** @inheritdoc */
  async flush(delaySeconds: number): Promise<void> {
    return this.#flushAll(delaySeconds, 'flush');
  }

  /** `flush_all` on every server; `operation` names the call for its errors. */
  async #flushAll(delaySeconds: number, operation: 'clear' | 'flush'): Promise<void> {
    this.#assertOpen();
    const delay = toFlushDelay(delaySeconds);
    await this.#onEveryServer({ opcode: Opcode.Flush, extras: delay }, (node) =>
      node.info(operation, undefined),
    );
  }

  /**
   * Sends one frame (`opcode`, with a 4-byte `extras` when given) to every server; resolves when
   * each acknowledged it, rejects with the first failure (every server was still tried).
   */
  async #onEveryServer(
    frame: { readonly opcode: number; readonly extras?: number },
    infoOf: (node: ServerNode) => RequestInfo,
  ): Promise<void> {
    const pending = this.#nodes.map((node) => {
      const writer = new FrameWriter(HEADER_BYTES + (frame.extras === undefined ? 0 : 4), '', 0);
      const base = node.reserve(1);
      writer.frame(frame.opcode, base);
      if (frame.extras !== undefined) writer.u32(frame.extras);
      return node.send(new AckRequest(infoOf(node)), { writer, base, frames: 1 });
    });
    for (const outcome of await Promise.allSettled(pending)) {
      if (outcome.status === 'rejected') throw outcome.reason;
    }
  }

  /**
   * A `noop` to every server of the ring: resolves when each answered, rejects with the first
   * failure (a server whose breaker is open fails at once, naming it). For health checks.
   */
  async ping(): Promise<void> {
    this.#assertOpen();
    await this.#onEveryServer({ opcode: Opcode.Noop }, (node) => node.readInfo('ping', undefined));
  }

  /** Closes every connection; pending and later calls reject with `CacheClosedError`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const node of this.#nodes) node.close();
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
    return (this.#nodes[this.#locate(key)] as ServerNode).address;
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
