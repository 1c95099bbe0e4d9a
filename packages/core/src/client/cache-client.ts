import type { CacheBackend } from '../backend/contract.js';
import type { L1Stats } from '../tier/l1-store.js';
import { isPromise, rejection } from '../backend/port.js';
import { CacheClosedError, CacheValueError, CacheWriteError } from '../errors.js';
import type { CacheEventName, CacheListener, CacheOperation, CacheStats } from '../events.js';
import { ILLEGAL_KEY_CHAR, KeySpace, type CacheScope } from '../keys/key-space.js';
import { logTo, type CacheLogger } from '../logger.js';
import type { StorageLevel } from '../storage-level.js';
import { toTtlSeconds, type Ttl } from '../ttl.js';
import {
  checkDelta,
  checkKeyList,
  toEntryPairs,
  type KeyList,
  type SetManyEntries,
} from './arguments.js';
import { ClientCore } from './client-core.js';
import {
  resolveClientOptions,
  type CacheClientOptions,
  type CacheEntry,
  type DeleteManyOptions,
  type FlushOptions,
  type GetOrSetOptions,
  type NoReplyOptions,
  type SetManyOptions,
  type SetOptions,
} from './client-options.js';
import { GetOrSet } from './get-or-set.js';
import type { ResolvedLease } from './lease-options.js';
import { Ledger, type KeyedWrite } from './ledger.js';
import { Graced, MISS, NOT_FOUND, ReadPath } from './read-path.js';
import type { Factory } from './factory-run.js';
import {
  CACHE_CHANNELS,
  type CacheTraceContext,
  type TraceOutcome,
  type TracedOperation,
} from '../tracing.js';
import { doneOrNot, traceCall, type TraceScope } from './traced.js';
import { jittered, resolveResilience, type ResolvedResilience } from './resilience-options.js';
import { recentKeyMatcher, type BustRecentOptions, type RecentKey } from './recent-keys.js';
import { WritePath, type CheckedWrite } from './write-path.js';
import { taggedBytes, wrapTagged } from '../tags/tag-header.js';
import {
  checkTags,
  MAX_TAGS_PER_INVALIDATION,
  type TagOptions,
  type TagSet,
} from '../tags/tag-options.js';
import { TagVersions } from '../tags/tag-versions.js';
import { supersedeTagged } from '../tags/tag-flights.js';

/**
 * What `scoped()` hands the constructor of the client it builds: set just before `new
 * CacheClient(…)` and taken by that constructor, so a scoped client shares its parent's engine
 * without a public constructor parameter for it. Module-private: nothing outside can set it.
 */
let scopedInit: { readonly core: ClientCore; readonly keys: KeySpace } | undefined;

/**
 * The cache client (Q2's `Q2CacheClient`): prefixes and scopes keys, encodes values with Q2's
 * flags, compresses and encrypts them, checks writes, remembers recent keys, and puts a deadline
 * on every backend call.
 *
 * Reads of items that do not decode (foreign flags, corrupt data, failed authentication) are
 * misses plus a `warning` event; backend failures are thrown as `CacheBackendError` /
 * `CacheTimeoutError`; bad input is thrown before any I/O.
 *
 * The client is a facade: it checks arguments and maps keys, then hands the call to its read
 * path, write path or `getOrSet`, which reach the backend through one port and book outcomes in
 * one ledger (see the package README's "Architecture").
 *
 * @example
 * const cache = new CacheClient({ backend: createMemoryBackend(), prefix: 'billing' });
 * await cache.set('rates', { eur: 1.08 }, { ttl: '5m' });
 * const rates = await cache.get('rates');
 */
/** The key `ping()` reads on a backend without `ping`: legal everywhere, written by nobody. */
const PING_KEY = '__stowage_ping__';

export class CacheClient<T = unknown> {
  readonly #core: ClientCore;
  readonly #keys: KeySpace;
  readonly #ledger: Ledger;
  readonly #reads: ReadPath;
  readonly #writes: WritePath;
  readonly #getOrSet: GetOrSet;
  readonly #traceScope: TraceScope;
  readonly #tags: TagVersions;

  constructor(options: CacheClientOptions<T>) {
    const init = scopedInit;
    scopedInit = undefined;
    if (init !== undefined) {
      this.#core = init.core;
      this.#keys = init.keys;
    } else {
      const resolved = resolveClientOptions(options);
      this.#core = new ClientCore(resolved);
      this.#keys = new KeySpace(resolved.keys);
    }
    this.#ledger = new Ledger(this.#core.books, this.#keys.head);
    this.#tags = new TagVersions(this.#core, this.#ledger, this.#keys);
    this.#reads = new ReadPath(this.#core, this.#ledger, this.#tags);
    this.#writes = new WritePath(this.#core, this.#ledger);
    this.#getOrSet = new GetOrSet(this.#core, {
      reads: this.#reads,
      writes: this.#writes,
      ledger: this.#ledger,
      tags: this.#tags,
    });
    this.#traceScope = {
      port: this.#core.port,
      level: this.#keys.level,
      traceKeys: this.#core.settings.traceKeys,
      fullKey: (key) => this.#keys.full(key),
    };
  }

  /** The backend this client stores into. */
  get backend(): CacheBackend {
    return this.#core.port.backend;
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
    return this.#core.codec.encrypted;
  }

  /**
   * The `logger` option, shared by scoped clients: code built on the client (the decorator) logs
   * what it absorbs there too.
   */
  get logger(): CacheLogger | undefined {
    return this.#core.books.logger;
  }

  /** Returns the full key a caller key maps to (validated; hashed as `longKeys` says). */
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
    const keys = this.#keys.withScope(level, scope, this.#core.settings.service);
    scopedInit = { core: this.#core, keys };
    return new CacheClient<T>(undefined as never);
  }

  /** Subscribes to an event (`hit`, `miss`, `set`, `delete`, `warning`, `error`, `timing`); returns an unsubscribe function. */
  on<E extends CacheEventName>(event: E, listener: CacheListener<E>): () => void {
    return this.#core.books.events.on(event, listener);
  }

  /**
   * The L1 tier's counters (`l1`): hits it answered, misses that went to the backend, copies and
   * bytes kept, evictions, copies dropped by changes, and whether it serves now (`live`: `false`
   * while its bus is down or not yet connected). `undefined` without an L1. Shared by this client
   * and its scoped clients.
   */
  l1Stats(): L1Stats | undefined {
    return this.#core.tier?.stats();
  }

  /** A snapshot of the counters shared by this client and its scoped clients. */
  stats(): CacheStats {
    return { ...this.#core.books.stats };
  }

  #assertOpen(): void {
    if (this.#core.closed) throw new CacheClosedError('the cache client is closed');
  }

  /**
   * This process is about to write or delete `fullKey`: a flight that read it before must not
   * store over the change, and the last good value kept for grace must not be served again —
   * whether or not the change reaches the server (a timed-out delete is no licence to serve the
   * old value).
   */
  #supersede(fullKey: string): void {
    this.#core.flights.supersede(fullKey);
    this.#core.books.lastGood.forget(fullKey);
  }

  /** Runs `run` in the operation's tracing channel when someone subscribes, else as it is. */
  #traceIf<R>(
    operation: TracedOperation,
    key: string | undefined,
    run: () => Promise<R>,
    outcome: (result: R) => TraceOutcome,
  ): Promise<R> {
    if (!CACHE_CHANNELS[operation].hasSubscribers) return run();
    return this.#trace(operation, key, key === undefined ? 0 : 1, run, outcome);
  }

  /** {@link traceCall} for this client. */
  #trace<R>(
    operation: TracedOperation,
    key: string | undefined,
    keyCount: number,
    run: (trace: CacheTraceContext) => Promise<R>,
    outcome?: (result: R) => TraceOutcome,
  ): Promise<R> {
    return traceCall(this.#traceScope, { operation, key, keyCount }, run, outcome);
  }

  #ttl(ttl: Ttl | undefined): number {
    return ttl === undefined ? this.#core.settings.defaultTtlSeconds : toTtlSeconds(ttl);
  }

  /** The TTL of a write: {@link CacheClient.#ttl} spread by the client's `jitter`. */
  #writeTtl(ttl: Ttl | undefined): number {
    return jittered(this.#ttl(ttl), this.#core.settings.jitter);
  }

  /** Checks and maps one key and value to the write the paths send. */
  #keyedWrite(key: string, value: unknown, ttl: Ttl | undefined): KeyedWrite {
    const fullKey = this.#keys.full(key);
    const ttlSeconds = this.#writeTtl(ttl);
    return { key, fullKey, entry: this.#writes.encode(key, fullKey, value), ttlSeconds };
  }

  /**
   * Reads a key. Resolves the value, or `defaultValue` (default `undefined`) on a miss. A stored
   * `null` is a hit. Items that do not decode are misses plus a `warning` event.
   *
   * @throws CacheKeyError for a bad key, before any I/O.
   * @throws CacheBackendError / CacheTimeoutError when the backend fails.
   */
  get<V extends T = T>(key: string): Promise<V | undefined>;
  get<D>(key: string, defaultValue: D): Promise<T | D>;
  get<D>(key: string, defaultValue?: D): Promise<T | D | undefined> {
    if (CACHE_CHANNELS.get.hasSubscribers) {
      return this.#trace('get', key, 1, (trace) =>
        this.#untracedGet(key, MISS).then((value) => {
          trace.outcome = value === MISS ? 'miss' : 'hit';
          return value === MISS ? defaultValue : value;
        }),
      );
    }
    return this.#untracedGet(key, defaultValue);
  }

  #untracedGet<D>(key: string, defaultValue: D): Promise<T | D> {
    // Not `async`: an in-process answer resolves without the extra promises and ticks of an async
    // function awaiting another; every failure still surfaces as a rejection, never a throw.
    let read: unknown;
    try {
      this.#assertOpen();
      read = this.#reads.one('get', key, this.#keys.full(key));
    } catch (error) {
      return rejection(error);
    }
    if (isPromise(read))
      return read.then((value) => (value === MISS ? defaultValue : (value as T)));
    return Promise.resolve(read === MISS ? defaultValue : (read as T));
  }

  /**
   * Reads many keys in as few round trips as the backend allows. Resolves a `Map` from the
   * caller's keys to values, in the order given; misses are left out. One bad key fails the whole
   * call before anything is sent. When part of the batch fails (one server of several), see the
   * client option `partialBatches`.
   */
  getMany<K extends Iterable<string>>(keys: KeyList<K>): Promise<Map<string, T>> {
    if (CACHE_CHANNELS.getMany.hasSubscribers) {
      const list = listOf(keys);
      return this.#trace('getMany', undefined, countOf(list), (trace) =>
        this.#untracedGetMany(list as KeyList<K>).then((found) => {
          trace.hitCount = found.size;
          trace.outcome = found.size > 0 ? 'hit' : 'miss';
          return found;
        }),
      );
    }
    return this.#untracedGetMany(keys);
  }

  #untracedGetMany<K extends Iterable<string>>(keys: KeyList<K>): Promise<Map<string, T>> {
    let found: Map<string, unknown> | Promise<Map<string, unknown>>;
    try {
      this.#assertOpen();
      checkKeyList(keys, '`getMany`');
      const list = Array.isArray(keys) ? (keys as readonly string[]) : [...(keys as K)];
      const callerKeys: string[] = [];
      const fullKeys: string[] = [];
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
      found = this.#reads.many(callerKeys, fullKeys);
    } catch (error) {
      return rejection(error);
    }
    return (isPromise(found) ? found : Promise.resolve(found)) as Promise<Map<string, T>>;
  }

  /**
   * Stores a value. Resolves `true` when the server holds it — by default confirmed by reading it
   * back (the integrity check; `skipIntegrityCheck: true` skips the read-back) — and `false` when
   * the server refused it or the check failed (a `warning` event says why).
   *
   * @throws CacheKeyError / CacheValueError for a bad key, value or TTL, before any I/O.
   * @throws CacheBackendError / CacheTimeoutError when the backend fails (`indeterminate: true`).
   */
  set(
    key: string,
    value: T,
    options: SetOptions & TagOptions & { readonly noreply: true },
  ): Promise<undefined>;
  set(
    key: string,
    value: T,
    options?: SetOptions & TagOptions & { readonly noreply?: false },
  ): Promise<boolean>;
  set(
    key: string,
    value: T,
    options?: SetOptions & TagOptions & NoReplyOptions,
  ): Promise<boolean | undefined>;
  set(
    key: string,
    value: T,
    options?: SetOptions & TagOptions & NoReplyOptions,
  ): Promise<boolean | undefined> {
    if (options?.noreply === true) {
      return this.#noReply('set', () => {
        const write = this.#setWrite(key, value, options);
        return this.#sendSet(write, this.#tagsOf(write, options.tags));
      });
    }
    if (CACHE_CHANNELS.set.hasSubscribers) {
      return this.#trace('set', key, 1, () => this.#untracedSet(key, value, options), doneOrNot);
    }
    return this.#untracedSet(key, value, options);
  }

  #untracedSet(
    key: string,
    value: T,
    options: (SetOptions & TagOptions) | undefined,
  ): Promise<boolean> {
    let write: CheckedWrite;
    let tags: TagSet | undefined;
    try {
      write = this.#setWrite(key, value, options);
      tags = this.#tagsOf(write, options?.tags);
    } catch (error) {
      return rejection(error);
    }
    return this.#sendSet(write, tags);
  }

  /**
   * Checks a write's `tags` option, and that the value still fits the backend behind a header of
   * that many tags: throws `CacheValueError` before any I/O. `undefined` for no tags.
   */
  #tagsOf(
    write: { readonly key: string; readonly entry: { readonly value: Uint8Array } },
    tags: unknown,
  ): TagSet | undefined {
    if (tags === undefined) return undefined;
    const set = checkTags(tags, write.key);
    if (set === undefined) return undefined;
    const bytes = taggedBytes(write.entry.value.byteLength, set.digests.length);
    const limit = this.#core.settings.maxValueBytes;
    if (bytes > limit) {
      throw new CacheValueError(
        `value is too large: ${bytes} bytes with its tag header, the backend's limit is ${limit}`,
        write.key,
      );
    }
    return set;
  }

  /** Sends a checked `set`: as it is, or behind its tags' current versions. */
  #sendSet(write: CheckedWrite, tags: TagSet | undefined): Promise<boolean> {
    if (tags === undefined) return this.#send(write);
    return this.#tags
      .stamps(write.operation, tags)
      .then((stamps) => this.#send({ ...write, entry: wrapTagged(write.entry, stamps) }));
  }

  /** A `set`'s write, checked: throws for a bad key, value or TTL or a closed client. No I/O. */
  #setWrite(
    key: string,
    value: T,
    options: (SetOptions & NoReplyOptions) | undefined,
  ): CheckedWrite {
    this.#assertOpen();
    const fullKey = this.#keys.full(key);
    const ttlSeconds = this.#writeTtl(options?.ttl);
    // One object literal of a fixed shape: a spread here costs more than the write itself.
    return {
      operation: 'set',
      key,
      fullKey,
      entry: this.#writes.encode(key, fullKey, value),
      ttlSeconds,
      verify: options?.skipIntegrityCheck !== true && options?.noreply !== true,
    };
  }

  #send(write: CheckedWrite): Promise<boolean> {
    this.#supersede(write.fullKey);
    return this.#writes.one(write);
  }

  /**
   * Runs `send` — which checks its input and throws before anything is sent, then returns the
   * call's promise — and resolves once it is sent: `noreply`. A failure after that is absorbed;
   * the call's own path already counted it and emitted `error` (and quarantined a write in
   * doubt), and it is logged here, since nobody awaits it.
   */
  #noReply(operation: CacheOperation, send: () => Promise<unknown>): Promise<undefined> {
    let pending: Promise<unknown>;
    try {
      pending = send();
    } catch (error) {
      return rejection(error);
    }
    const logger = this.#core.books.logger;
    pending.then(undefined, (error: unknown) => {
      logTo(logger, 'error', { what: `${operation} with noreply failed`, error: error as Error });
    });
    return Promise.resolve(undefined);
  }

  /**
   * Stores a value with the integrity check and resolves the same value (Q2's `set_and_return`).
   *
   * @throws CacheWriteError when the write is not confirmed.
   */
  async setAndReturn<V extends T>(
    key: string,
    value: V,
    options?: Omit<SetOptions, 'skipIntegrityCheck'> & TagOptions,
  ): Promise<V> {
    const stored = await this.set(key, value, { ttl: options?.ttl, tags: options?.tags });
    if (!stored) throw new CacheWriteError(`failed to set cache key '${key}'`, key);
    return value;
  }

  /**
   * Stores many entries in one pipelined call, without the integrity check. Resolves the caller
   * keys that were **not** stored (`[]` when all were). Every key and value is checked before
   * anything is sent. When part of the batch fails, see the client option `partialBatches`.
   */
  setMany(
    entries: SetManyEntries<T>,
    options: SetManyOptions & TagOptions & { readonly noreply: true },
  ): Promise<undefined>;
  setMany(
    entries: SetManyEntries<T>,
    options?: SetManyOptions & TagOptions & { readonly noreply?: false },
  ): Promise<string[]>;
  setMany(
    entries: SetManyEntries<T>,
    options?: SetManyOptions & TagOptions,
  ): Promise<string[] | undefined>;
  setMany(
    entries: SetManyEntries<T>,
    options?: SetManyOptions & TagOptions,
  ): Promise<string[] | undefined> {
    if (options?.noreply === true) {
      return this.#noReply('setMany', () => this.#sendMany(this.#manyWrites(entries, options)));
    }
    if (CACHE_CHANNELS.setMany.hasSubscribers) {
      const count =
        entries instanceof Map
          ? entries.size
          : Array.isArray(entries)
            ? entries.length
            : Object.keys(entries).length;
      return this.#trace(
        'setMany',
        undefined,
        count,
        () => this.#untracedSetMany(entries, options),
        (notStored) => (notStored.length === 0 ? 'ok' : 'noop'),
      );
    }
    return this.#untracedSetMany(entries, options);
  }

  async #untracedSetMany(
    entries: SetManyEntries<T>,
    options: (SetManyOptions & TagOptions) | undefined,
  ): Promise<string[]> {
    return this.#sendMany(this.#manyWrites(entries, options));
  }

  /** A `setMany`'s writes, checked (the last of a key wins): throws before any I/O. */
  #manyWrites(
    entries: SetManyEntries<T>,
    options: (SetManyOptions & TagOptions) | undefined,
  ): { writes: KeyedWrite[]; ttlSeconds: number; tags: TagSet | undefined } {
    this.#assertOpen();
    const ttlSeconds = this.#writeTtl(options?.ttl);
    const byFullKey = new Map<string, KeyedWrite>();
    for (const [key, value] of toEntryPairs(entries)) {
      const fullKey = this.#keys.full(key);
      byFullKey.delete(fullKey); // the last write of a key wins, in its last position
      byFullKey.set(fullKey, {
        key,
        fullKey,
        entry: this.#writes.encode(key, fullKey, value),
        ttlSeconds,
      });
    }
    const writes = [...byFullKey.values()];
    let tags: TagSet | undefined;
    for (const write of writes) tags = this.#tagsOf(write, options?.tags);
    return { writes, ttlSeconds, tags };
  }

  async #sendMany(batch: {
    writes: KeyedWrite[];
    ttlSeconds: number;
    tags: TagSet | undefined;
  }): Promise<string[]> {
    if (batch.writes.length === 0) return [];
    let writes = batch.writes;
    if (batch.tags !== undefined) {
      // One set of versions for the whole batch, read before any entry is sent.
      const stamps = await this.#tags.stamps('setMany', batch.tags);
      writes = writes.map((write) => ({ ...write, entry: wrapTagged(write.entry, stamps) }));
    }
    for (const write of writes) this.#supersede(write.fullKey);
    return this.#writes.many(writes, batch.ttlSeconds);
  }

  /** Stores a value only if the key holds nothing. Resolves `false` when it already exists. */
  add(key: string, value: T, options?: Pick<SetOptions, 'ttl'>): Promise<boolean> {
    return this.#traceIf('add', key, () => this.#untracedAdd(key, value, options), doneOrNot);
  }

  async #untracedAdd(
    key: string,
    value: T,
    options: Pick<SetOptions, 'ttl'> | undefined,
  ): Promise<boolean> {
    this.#assertOpen();
    if ((options as TagOptions | undefined)?.tags !== undefined) {
      // Silently storing it untagged would let a later bust miss it.
      throw new CacheValueError('`add` does not take `tags`; use `set` or `getOrSet`', key);
    }
    const write = this.#keyedWrite(key, value, options?.ttl);
    this.#supersede(write.fullKey);
    return this.#writes.add(write);
  }

  /** Gives an existing entry a new TTL. Resolves `false` on a miss. */
  touch(key: string, ttl: Ttl): Promise<boolean> {
    return this.#traceIf('touch', key, () => this.#untracedTouch(key, ttl), doneOrNot);
  }

  async #untracedTouch(key: string, ttl: Ttl): Promise<boolean> {
    this.#assertOpen();
    const fullKey = this.#keys.full(key);
    const ttlSeconds = toTtlSeconds(ttl);
    // A touch changes no bytes: what this process confirmed in a quarantine stays confirmed.
    const touched = await this.#call('touch', { key, fullKey }, (backend) =>
      backend.touch(fullKey, ttlSeconds),
    );
    if (touched) this.#ledger.touched(fullKey, ttlSeconds);
    return touched;
  }

  /**
   * Calls the backend for a one-key or whole-batch operation that changes the server, through the
   * port; a failure is counted, reported and thrown.
   */
  async #call<R>(
    operation: CacheOperation,
    at: { readonly key?: string; readonly fullKey?: string },
    send: (backend: CacheBackend) => R | Promise<R>,
  ): Promise<R> {
    const port = this.#core.port;
    try {
      const pending = port.run(port.writing(operation, at.fullKey), send);
      return isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw this.#ledger.failed(operation, error, at);
    }
  }

  /**
   * A health check: one round trip to every server the backend uses (memcached `noop` to each
   * server of the ring, Redis `PING` to each master; a backend without `ping` gets a read of a key
   * nobody writes), bounded by `timeoutMs`. Resolves the round trip's wall time in milliseconds;
   * rejects with `CacheTimeoutError`, `CacheBackendError` or `CacheClosedError` — never hangs.
   * A success counts as neither hit nor miss and is not traced (a probe every few seconds would
   * drown real traffic); a failure counts in `stats().errors` and emits `error`, as any call's.
   *
   * @example
   * app.get('/healthz', async (_, res) => res.json({ cacheMs: await cache.ping() }));
   */
  async ping(): Promise<number> {
    this.#assertOpen();
    const started = performance.now();
    const port = this.#core.port;
    try {
      const pending = port.run(port.reading('ping', undefined), (backend) =>
        backend.ping === undefined ? backend.get(this.#keys.head + PING_KEY) : backend.ping(),
      );
      if (isPromise(pending)) await pending;
    } catch (error) {
      throw this.#ledger.failed('ping', error);
    }
    return performance.now() - started;
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

  #count(
    operation: 'incr' | 'decr',
    key: string,
    delta: number | bigint,
  ): Promise<number | bigint | undefined> {
    return this.#traceIf(
      operation,
      key,
      () => this.#untracedCount(operation, key, delta),
      (result) => (result === undefined ? 'noop' : 'ok'),
    );
  }

  async #untracedCount(
    operation: 'incr' | 'decr',
    key: string,
    delta: number | bigint,
  ): Promise<number | bigint | undefined> {
    this.#assertOpen();
    const fullKey = this.#keys.full(key);
    checkDelta(delta, key);
    if (this.#core.codec.encrypted) {
      throw new CacheValueError(
        `${operation} needs an unencrypted integer; this client encrypts its values (use a client without encryption for counters)`,
        key,
      );
    }
    const big = BigInt(delta);
    this.#supersede(fullKey);
    // A counter is never quarantined (no entry is passed): a late increment is applied once, it
    // resurrects nothing.
    const result = await this.#call(operation, { key, fullKey }, (backend) =>
      backend[operation](fullKey, big),
    );
    // The count changed the bytes: a quarantined key reads as a miss until its window ends.
    this.#ledger.counted(fullKey);
    if (result === undefined || typeof delta === 'bigint') return result;
    if (result > BigInt(Number.MAX_SAFE_INTEGER) || result < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new CacheValueError(
        `counter '${key}' is now ${result}, beyond Number.MAX_SAFE_INTEGER; pass a bigint delta to read it exactly`,
        key,
      );
    }
    return Number(result);
  }

  /** Deletes a key. Resolves `true` when it existed. */
  delete(key: string): Promise<boolean> {
    return this.#traceIf('delete', key, () => this.#untracedDelete(key), doneOrNot);
  }

  async #untracedDelete(key: string): Promise<boolean> {
    this.#assertOpen();
    const fullKey = this.#keys.full(key);
    this.#supersede(fullKey);
    const deleted = await this.#call('delete', { key, fullKey }, (backend) =>
      backend.delete(fullKey),
    );
    this.#ledger.deleted('delete', [key], [fullKey]);
    return deleted;
  }

  /**
   * Busts tags (group invalidation): every entry written with any of `tags` — by any process, on
   * this client's scope — reads as a miss from now on, `getOrSet` recomputes it, and no grace
   * serves it stale. Deletes the tags' versions with one `deleteMany`; the entries themselves
   * stay until they expire or are overwritten. Tags are scoped like keys: a tenant's client busts
   * that tenant's tags only. Resolves once the backend confirmed the delete.
   *
   * @throws CacheValueError for a bad tag (not a non-empty string, over 256 characters, not
   *   well-formed) or more than 1000 tags, before any I/O.
   * @throws CacheBackendError / CacheTimeoutError when the backend fails: the bust may not have
   *   happened, retry it.
   */
  invalidateTags(tags: readonly string[]): Promise<void> {
    return this.#traceIf(
      'invalidateTags',
      undefined,
      () => this.#untracedInvalidate(tags),
      () => 'ok',
    );
  }

  /** Busts one tag: {@link CacheClient.invalidateTags} with `[tag]`. */
  deleteByTag(tag: string): Promise<void> {
    if (typeof tag !== 'string') {
      return rejection(new CacheValueError('`deleteByTag` takes one tag, a string'));
    }
    return this.invalidateTags([tag]);
  }

  async #untracedInvalidate(tags: readonly string[]): Promise<void> {
    this.#assertOpen();
    const set = checkTags(tags, undefined, MAX_TAGS_PER_INVALIDATION);
    if (set === undefined) return;
    const fullKeys = this.#tags.keysOf(set);
    // Before the delete is sent, as a delete of a key supersedes its flight: whoever asks once
    // this resolves must not join a run whose factory started before it.
    supersedeTagged(this.#core, fullKeys, this.#core.flights);
    await this.#call('invalidateTags', {}, (backend) => backend.deleteMany(fullKeys));
  }

  /**
   * Deletes many keys in one pipelined call. Resolves `true` (Q2's `delete_many`); an empty list
   * does no I/O. One bad key fails the call before anything is sent. A partly failed batch is
   * always thrown (`CacheBatchError`): a delete that did not happen must not look done.
   */
  deleteMany<K extends Iterable<string>>(
    keys: KeyList<K>,
    options: DeleteManyOptions & { readonly noreply: true },
  ): Promise<undefined>;
  deleteMany<K extends Iterable<string>>(
    keys: KeyList<K>,
    options?: DeleteManyOptions & { readonly noreply?: false },
  ): Promise<boolean>;
  deleteMany<K extends Iterable<string>>(
    keys: KeyList<K>,
    options?: DeleteManyOptions,
  ): Promise<boolean | undefined>;
  deleteMany<K extends Iterable<string>>(
    keys: KeyList<K>,
    options?: DeleteManyOptions,
  ): Promise<boolean | undefined> {
    if (options?.noreply === true)
      return this.#noReply('deleteMany', () => this.#deleteListed(keys));
    if (CACHE_CHANNELS.deleteMany.hasSubscribers) {
      const list = listOf(keys);
      return this.#trace(
        'deleteMany',
        undefined,
        countOf(list),
        () => this.#untracedDeleteMany(list as KeyList<K>),
        doneOrNot,
      );
    }
    return this.#untracedDeleteMany(keys);
  }

  async #untracedDeleteMany<K extends Iterable<string>>(keys: KeyList<K>): Promise<boolean> {
    await this.#deleteListed(keys);
    return true;
  }

  /**
   * Checks a `deleteMany`'s keys — throwing, synchronously, before any I/O — then deletes them
   * without repeats.
   */
  #deleteListed<K extends Iterable<string>>(keys: KeyList<K>): Promise<void> {
    this.#assertOpen();
    checkKeyList(keys, '`deleteMany`');
    const callerKeys = [...new Set(keys as K)];
    const fullKeys = callerKeys.map((key) => this.#keys.full(key));
    return this.#deleteMany('deleteMany', callerKeys, fullKeys);
  }

  /** Deletes `fullKeys` (those of `callerKeys`) with one backend call, and books it. */
  async #deleteMany(
    operation: CacheOperation,
    callerKeys: readonly string[],
    fullKeys: readonly string[],
  ): Promise<void> {
    if (fullKeys.length === 0) return;
    for (const fullKey of fullKeys) this.#supersede(fullKey);
    await this.#call(operation, {}, (backend) => backend.deleteMany(fullKeys));
    this.#ledger.deleted(operation, callerKeys, fullKeys);
  }

  /**
   * Removes **everything on the server** — every service's and tenant's keys (memcached
   * `flush_all`, Redis `FLUSHDB`) — and forgets the recent keys. To remove only what this client
   * stored, use {@link CacheClient.bustRecent}.
   */
  flushAll(options: FlushOptions & { readonly noreply: true }): Promise<undefined>;
  flushAll(options?: FlushOptions & { readonly noreply?: false }): Promise<boolean>;
  flushAll(options?: FlushOptions): Promise<boolean | undefined>;
  flushAll(options?: FlushOptions): Promise<boolean | undefined> {
    if (options?.noreply === true) {
      return this.#noReply('flushAll', () => this.#flush(this.#flushDelay(options)));
    }
    return this.#traceIf('flushAll', undefined, () => this.#untracedFlushAll(options), doneOrNot);
  }

  async #untracedFlushAll(options: FlushOptions | undefined): Promise<boolean> {
    await this.#flush(this.#flushDelay(options));
    return true;
  }

  /** A `flushAll`'s delay in seconds, checked: throws before any I/O. */
  #flushDelay(options: FlushOptions | undefined): number {
    this.#assertOpen();
    const delay = options?.delaySeconds ?? 0;
    if (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0) {
      throw new CacheValueError(`\`delaySeconds\` must be an integer ≥ 0; got ${String(delay)}`);
    }
    const port = this.#core.port;
    if (delay > 0 && !port.capabilities.delayedFlush) {
      throw new CacheValueError(`the ${port.name} backend cannot delay a flush`);
    }
    return delay;
  }

  async #flush(delay: number): Promise<void> {
    this.#core.flights.supersedeAll();
    this.#core.books.lastGood.clear();
    await this.#call('flushAll', {}, (backend) => backend.flush(delay));
    this.#ledger.flushed();
  }

  /**
   * The keys this client stored or found recently, oldest first, expired ones left out. A scoped
   * client lists only keys of its own scope and the scopes nested in it (a tenant's sessions).
   * With `localPath`, this process's keys (and those seeded from the file); `bustRecent()` reads
   * the file for every process's.
   */
  recentKeys(): RecentKey[] {
    return this.#core.books.recent.list().filter(recentKeyMatcher(this.#keys.head));
  }

  /**
   * Deletes the remembered recent keys of this client (of its scope and the scopes nested in it,
   * for a scoped client) with one `deleteMany` — never a server flush — and forgets them.
   * `{ level, scope }` busts one scope only, `{ prefix }` only caller keys starting with it. With
   * `localPath`, the keys every process recorded in the file are busted too, and removed from
   * the file before this resolves. Resolves how many keys were deleted.
   *
   * @throws CacheScopeError for a level without its id, CacheValueError for a bad `prefix` —
   *   before any I/O.
   */
  bustRecent(options?: BustRecentOptions): Promise<number> {
    return this.#traceIf(
      'bustRecent',
      undefined,
      () => this.#untracedBustRecent(options),
      (busted) => (busted > 0 ? 'ok' : 'noop'),
    );
  }

  async #untracedBustRecent(options: BustRecentOptions | undefined): Promise<number> {
    this.#assertOpen();
    const matches = this.#bustMatcher(options);
    const books = this.#core.books;
    const file = this.#core.recentFile;
    const listed =
      file === undefined
        ? { keys: books.recent.list(), unread: undefined }
        : await file.listForBust();
    const entries = listed.keys.filter(matches);
    if (entries.length > 0) {
      const fullKeys = entries.map((entry) => entry.fullKey);
      const sentAtMs = file === undefined ? books.now() : await file.deleteTime();
      await this.#deleteMany(
        'bustRecent',
        entries.map((entry) => entry.key),
        fullKeys,
      );
      if (file !== undefined) {
        // Every file entry recorded before the delete was sent goes; a later record survives.
        books.recent.removedAt(fullKeys, sentAtMs);
        await file.flush();
      }
    }
    // This process's keys are deleted; the other processes' could not be read.
    if (listed.unread !== undefined) throw listed.unread;
    return entries.length;
  }

  /** Which recent keys `bustRecent(options)` deletes; throws for bad options (no I/O). */
  #bustMatcher(options: BustRecentOptions | undefined): (entry: RecentKey) => boolean {
    if (options === undefined) return recentKeyMatcher(this.#keys.head);
    if (typeof options !== 'object' || options === null) {
      throw new CacheValueError('`bustRecent` options must be an object');
    }
    const { level, scope, prefix } = options;
    if (
      prefix !== undefined &&
      (typeof prefix !== 'string' || prefix === '' || ILLEGAL_KEY_CHAR.test(prefix))
    ) {
      throw new CacheValueError(
        '`prefix` must be a non-empty string without whitespace or control characters',
      );
    }
    const keys =
      level === undefined && scope === undefined
        ? this.#keys
        : this.#keys.withScope(level as StorageLevel, scope, this.#core.settings.service);
    return recentKeyMatcher(keys.head, prefix);
  }

  /**
   * Returns the cached value of `key`, or runs `factory`, stores its result and returns it.
   * Concurrent calls for the same key in this process share one factory run (single-flight);
   * calls in other processes wait for it through the key's lease (see the README, "Leases").
   * With `grace`, a value past its `ttl` is refreshed, and served stale when the factory throws,
   * passes `hardTimeout` or `softTimeout`, or the backend is down (see "Grace"). Backend failures
   * fail open by default: they are reported through `onError` and the `error` event, and the
   * factory's result is returned; `strict: true` throws them instead. A factory that resolves
   * `undefined` is not stored (unless `negativeTtl`). Factory errors are thrown and not cached
   * when no stale value answers for them.
   *
   * The factory receives `{ signal, stale, key }`: `signal` aborts on `hardTimeout` and `close()`.
   *
   * With `tags`, the entry and its tags' versions are read in one round trip; only an entry
   * written with exactly these tags, none of them busted since, is served (see the README,
   * "Tags"). The versions are fixed before the factory starts, so a result computed across an
   * `invalidateTags` of one of its tags is stored but never served.
   */
  getOrSet<V extends T>(
    key: string,
    factory: Factory<V>,
    options?: GetOrSetOptions<V> & TagOptions,
  ): Promise<V> {
    let fullKey: string;
    let ttlSeconds: number;
    let lease: ResolvedLease | false;
    let resilience: ResolvedResilience;
    let tags: TagSet | undefined;
    try {
      this.#assertOpen();
      if (typeof factory !== 'function') {
        throw new CacheValueError('`factory` must be a function', key);
      }
      fullKey = this.#keys.full(key);
      ttlSeconds = this.#ttl(options?.ttl);
      lease = this.#getOrSet.leaseOf(options);
      resilience = resolveResilience(options, this.#core.settings.jitter);
      tags = checkTags(options?.tags, key);
    } catch (error) {
      return rejection(error);
    }
    const call = {
      key,
      fullKey,
      ttlSeconds,
      factory,
      options,
      lease,
      resilience,
      trace: undefined,
      tags: tags === undefined ? undefined : { set: tags, versions: undefined },
    };
    if (!CACHE_CHANNELS.getOrSet.hasSubscribers) return this.#getOrSet.run(call);
    return this.#trace(
      'getOrSet',
      key,
      1,
      (trace) => this.#getOrSet.run({ ...call, trace }),
      // Neither the factory ran nor a stale or "not found" answered: a hit.
      () => 'hit',
    );
  }

  /**
   * Reads a key and says what it found: `{ status: 'hit', value, expiresAt? }`, `{ status:
   * 'stale', value, expiresAt }` (past its `ttl`, within its `grace`), `{ status: 'notFound' }`
   * (a `negativeTtl` entry) or `{ status: 'miss' }`. `expiresAt` (epoch ms) is known for entries
   * written with `grace`: when a hit turns stale, when a stale value is gone.
   *
   * @throws CacheKeyError for a bad key, before any I/O.
   * @throws CacheBackendError / CacheTimeoutError when the backend fails.
   */
  getEntry(key: string): Promise<CacheEntry<T>> {
    return this.#traceIf(
      'getEntry',
      key,
      () => this.#untracedGetEntry(key),
      (entry) => entry.status,
    );
  }

  async #untracedGetEntry(key: string): Promise<CacheEntry<T>> {
    this.#assertOpen();
    const found = await this.#reads.one('getEntry', key, this.#keys.full(key));
    if (found === MISS) return { status: 'miss' };
    if (found === NOT_FOUND) return { status: 'notFound' };
    if (!(found instanceof Graced)) return { status: 'hit', value: found as T };
    const { freshUntil, staleUntil } = found.meta;
    return this.#core.books.now() < freshUntil
      ? { status: 'hit', value: found.value as T, expiresAt: freshUntil }
      : { status: 'stale', value: found.value as T, expiresAt: staleUntil };
  }

  /**
   * Closes the client: later calls reject with `CacheClosedError` (code `E_CACHE_CLOSED`),
   * quarantine timers stop, and the backend is closed when the client owns it (`ownsBackend`,
   * default true). Idempotent. On a scoped client it does nothing: scoped clients share their
   * root's backend, so only the root closes it (`await using tenant = cache.scoped(…)` in a
   * request handler is safe).
   */
  async close(): Promise<void> {
    if (this.#keys.level !== undefined) return;
    const core = this.#core;
    if (core.closing !== undefined) return core.closing;
    core.closed = true;
    core.books.quarantine?.clear();
    core.detachWarnings?.();
    // Factories see their signal abort; background refreshes then settle (storing nothing) and
    // are waited for, so none of them talks to a backend that is already closed.
    core.shutdown.abort(new CacheClosedError('the cache client is closed'));
    const background = Promise.allSettled(core.background);
    core.closing = background
      // The last recent keys reach the shared file (a failure is a warning, never a rejection).
      .then(() => core.recentFile?.close())
      // The L1's bus closes either way; the backend only when the client owns it.
      .then(() => (core.settings.ownsBackend ? core.port.close() : core.tier?.closeTier()));
    return core.closing;
  }

  /** `await using cache = …` closes the client at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * A key list read once, for a traced call that must count it: an iterator cannot be read twice.
 * Anything that is not a non-string iterable is passed on untouched, for the call to refuse.
 */
function listOf(keys: unknown): unknown {
  if (typeof keys === 'string' || Array.isArray(keys)) return keys;
  const iterable = keys as Iterable<string> | null | undefined;
  return typeof iterable?.[Symbol.iterator] === 'function' ? [...iterable] : keys;
}

/** How many keys a list holds, `0` for anything but an array (refused by the call). */
function countOf(list: unknown): number {
  return Array.isArray(list) ? list.length : 0;
}
