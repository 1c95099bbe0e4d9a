import { CacheValueError } from '@stowage/core';
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
  CompareDeleteRequest,
  CounterRequest,
  ExistsRequest,
  GetManyRequest,
  GetRequest,
  SetAndReadRequest,
  SetManyRequest,
  StoreRequest,
} from './commands.js';
import { toExpiration, toFlushDelay } from './expiration.js';
import { FrameWriter, inlineValueBytes } from './frame-writer.js';
import { HashRing } from './hash-ring.js';
import { resolveMemcachedOptions, type MemcachedBackendOptions } from './memcached-options.js';
import { HEADER_BYTES, NO_AUTOVIVIFY, Opcode } from './protocol.js';
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
  readonly #nodes: readonly ServerNode[];
  readonly #ring: HashRing | undefined;
  readonly #prefix: string;
  readonly #prefixBytes: number;
  /** What the key limit is made of, for the too-long message: built once, not on every call. */
  readonly #keyLimitNote: string;
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
    writer.u32(store.entry.flags);
    writer.u32(store.expiration);
    writer.key(store.key, keyBytes);
    writer.value(store.entry.value);
  }

  /** Sends a checked `set` or `add` (its callers check the entry and refuse oversized ones). */
  #store(operation: 'set' | 'add', store: StoreFrame): Promise<boolean> {
    const extra = STORE_EXTRAS_BYTES + inlineValueBytes(store.entry.value);
    const prepared = this.#prepare(store.key, { frames: 1, extra });
    this.#storeFrame(prepared, store);
    const request = new StoreRequest(prepared.node.info(operation, store.key));
    return prepared.node.send(request, prepared);
  }

  /** @inheritdoc */
  async set(key: string, entry: StoredEntry, ttlSeconds: number): Promise<boolean> {
    checkEntry(key, entry);
    const expiration = toExpiration(ttlSeconds);
    if (this.#oversize(entry)) return this.#refuse(key, 'set');
    return this.#store('set', { opcode: Opcode.Set, key, entry, expiration });
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
    return this.#store('add', { opcode: Opcode.Add, key, entry, expiration });
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
    const extra = STORE_EXTRAS_BYTES + inlineValueBytes(entry.value);
    const prepared = this.#prepare(key, { frames: 2, extra, closing: true });
    const { keyBytes, node, writer, base } = prepared;
    this.#storeFrame(prepared, { opcode: Opcode.Set, key, entry, expiration });
    writer.frame(Opcode.GetK, base + 1);
    const offset = writer.key(key, keyBytes);
    const request = new SetAndReadRequest(node.info('setAndRead', key), {
      writer,
      offset,
      length: this.#prefixBytes + keyBytes,
    });
    return node.sendBatch(request, prepared);
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
    let read: GetRequest | undefined;
    const held = await this.#getk(key, 'deleteIf', (request) => {
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
    const request = new CompareDeleteRequest(node.info('deleteIf', key));
    return node.send(request, prepared);
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
    const pending = this.#nodes.map((node) => {
      const writer = new FrameWriter(HEADER_BYTES + 4, '', 0);
      const base = node.reserve(1);
      writer.frame(Opcode.Flush, base);
      writer.u32(delay);
      return node.send(new AckRequest(node.info(operation, undefined)), {
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
