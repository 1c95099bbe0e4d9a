import type { StoredEntry } from '../backend/contract.js';
import { isPromise } from '../backend/port.js';
import { notFoundEntry, wrapGraced } from '../codec/grace.js';
import {
  CacheFactoryError,
  CacheLeaseTimeoutError,
  CacheValueError,
  isCacheError,
} from '../errors.js';
import type { ClientCore } from './client-core.js';
import type { GetOrSetOptions } from './client-options.js';
import { failOpen, type FailOpenPolicy } from './fail-open.js';
import { runFactory, type Factory, type FactoryRun } from './factory-run.js';
import { resolveLease, type ResolvedLease } from './lease-options.js';
import { Leases, type HeldLease } from './leases.js';
import type { Ledger } from './ledger.js';
import {
  Busted,
  Graced,
  LEASED,
  MISS,
  NOT_FOUND,
  type ReadPath,
  type TagRead,
} from './read-path.js';
import { wrapTagged, type TagStamp } from '../tags/tag-header.js';
import type { TagVersions } from '../tags/tag-versions.js';
import { trackTagged } from '../tags/tag-flights.js';
import { jittered, type ResolvedResilience } from './resilience-options.js';
import type { Flight } from './single-flight.js';
import { MAX_TTL_SECONDS } from '../ttl.js';
import { CACHE_CHANNELS, type CacheTraceContext } from '../tracing.js';
import { logTo } from '../logger.js';
import type { CheckedWrite, WritePath } from './write-path.js';

/** One `getOrSet` call once its key, TTL and options are checked. */
export interface GetOrSetCall<V> {
  /** The caller's key. */
  readonly key: string;
  /** Its full key. */
  readonly fullKey: string;
  /** TTL of the write, in seconds, before jitter. */
  readonly ttlSeconds: number;
  /** Computes the value on a miss or a refresh. */
  readonly factory: Factory<V>;
  /** The call's options. */
  readonly options: GetOrSetOptions<V> | undefined;
  /** The call's lease; `false` for none. */
  readonly lease: ResolvedLease | false;
  /** Grace, timeouts, negative caching and jitter of the call. */
  readonly resilience: ResolvedResilience;
  /** The call's trace context when someone subscribes to `stowage:getOrSet`, else `undefined`. */
  readonly trace: CacheTraceContext | undefined;
  /** The call's `tags` and what its reads learnt of them; `undefined` without tags. */
  readonly tags?: TagRead | undefined;
}

/** Where a call's read left it. */
/** A `getOrSet`'s write, checked, with what the last-good store keeps of it. */
interface GetOrSetWrite {
  readonly checked: CheckedWrite;
  /** When a graced entry may no longer be served (epoch ms); 0 without grace. */
  readonly staleUntil: number;
  /** A graced write's inner entry (the codec's), for the last-good store; else `undefined`. */
  readonly inner: StoredEntry | undefined;
}

interface ReadState {
  /** The read's answer (a value, `MISS`, `LEASED`, `NOT_FOUND`, a `Graced`, or a promise of one). */
  readonly read: unknown;
  /** What the read threw synchronously, if it did. */
  readonly failure: { error: unknown } | undefined;
  /** The call's flight, or `undefined` with `singleFlight: false`. */
  readonly flight: Flight | undefined;
}

/** What travels with a call through its paths. */
interface At {
  readonly flight: Flight | undefined;
  readonly policy: FailOpenPolicy;
  /**
   * The tag stamps the call's write carries: the versions read before its factory started, so
   * a bust while it runs makes its result a miss. `undefined` for an untagged write.
   */
  readonly stamps?: readonly TagStamp[] | undefined;
}

/** How a refresh of a stale value ended. */
type Refreshed<V> =
  { readonly ok: true; readonly value: V } | { readonly ok: false; readonly error: unknown };

/** Whether a flight was superseded; a function because the flag changes across awaits. */
function superseded(flight: Flight | undefined): boolean {
  return flight?.superseded === true;
}

/** Resolves `undefined` after `ms`, or never when `ms` is 0; the timer does not hold the process. */
function softDeadline(ms: number): Promise<undefined> {
  return new Promise((resolve) => {
    if (ms > 0) setTimeout(() => resolve(undefined), ms).unref();
  });
}

/**
 * `getOrSet` on one client: read; on a miss take the key's lease, run the factory and store its
 * result under the lease; on a stale hit (`grace`) refresh it under a lease stamped on the entry,
 * serving the stale value when the factory fails, is slow, or the backend is down. Concurrent
 * callers in this process share one run (single-flight); callers in other processes find the
 * lease and wait for the value (or take the stale one). Backend failures fail open unless
 * `strict`.
 */
export class GetOrSet {
  readonly #core: ClientCore;
  readonly #reads: ReadPath;
  readonly #writes: WritePath;
  readonly #ledger: Ledger;
  readonly #leases: Leases;
  readonly #tags: TagVersions;

  constructor(
    core: ClientCore,
    paths: { reads: ReadPath; writes: WritePath; ledger: Ledger; tags: TagVersions },
  ) {
    this.#core = core;
    this.#reads = paths.reads;
    this.#writes = paths.writes;
    this.#ledger = paths.ledger;
    this.#tags = paths.tags;
    this.#leases = new Leases(core, { ledger: paths.ledger, reads: paths.reads });
  }

  /**
   * The lease a call takes: its `lease` option over the client's, none when the backend has no
   * `setIf`. Throws `CacheConfigError` for a bad option, before any I/O.
   */
  leaseOf(options: GetOrSetOptions<never> | undefined): ResolvedLease | false {
    if (this.#core.port.backend.setIf === undefined) return false;
    const option = options?.lease;
    return option === undefined
      ? this.#core.settings.lease
      : resolveLease(option, this.#core.settings.lease);
  }

  /** Runs `call`; a hit the backend answered synchronously resolves without a flight. */
  run<V>(call: GetOrSetCall<V>): Promise<V> {
    const flights = this.#core.flights;
    const shared = call.options?.singleFlight !== false;
    if (shared) {
      const joined = flights.join(call.fullKey);
      if (joined !== undefined) {
        this.#core.books.stats.joins++;
        return joined as Promise<V>;
      }
    }
    let read: unknown = MISS;
    let failure: { error: unknown } | undefined;
    if (call.options?.afterMiss !== true) {
      try {
        read =
          call.tags === undefined
            ? this.#reads.one('getOrSet', call.key, call.fullKey)
            : this.#reads.withTags(call.key, call.fullKey, call.tags);
      } catch (error) {
        failure = { error };
      }
      if (failure === undefined && !isPromise(read)) {
        if (read === NOT_FOUND) return Promise.resolve(this.#notFound(call));
        if (
          read !== MISS &&
          read !== LEASED &&
          !(read instanceof Graced || read instanceof Busted)
        ) {
          return Promise.resolve(read as V);
        }
      }
    }
    if (!shared) return this.#fly(call, { read, failure, flight: undefined });
    const flight = flights.start(call.fullKey);
    const untrack =
      call.tags === undefined
        ? undefined
        : trackTagged(this.#core, this.#tags.keysOf(call.tags.set), flight);
    flight.promise = this.#fly(call, { read, failure, flight }).finally(() => {
      flights.land(flight);
      untrack?.();
    });
    return flight.promise as Promise<V>;
  }

  /** The fail-open policy of one call. */
  #policy(options: GetOrSetOptions<never> | undefined): FailOpenPolicy {
    const { stats, logger } = this.#core.books;
    const onError = options?.onError;
    return {
      strict: options?.strict === true,
      report:
        onError ??
        ((error) =>
          logTo(logger, 'error', {
            what: 'getOrSet absorbed a backend error (failing open)',
            error,
          })),
      onReportError: () => {
        stats.listenerErrors++;
      },
    };
  }

  /** The rest of the call once the read started: wait for it, then lease and compute on a miss. */
  async #fly<V>(call: GetOrSetCall<V>, state: ReadState): Promise<V> {
    const at: At = { flight: state.flight, policy: this.#policy(call.options) };
    let cached: unknown;
    if (state.failure !== undefined) return this.#readFailed(call, state.failure.error, at);
    try {
      cached = await state.read;
    } catch (error) {
      return this.#readFailed(call, error, at);
    }
    if (cached === NOT_FOUND) return this.#notFound(call);
    if (cached instanceof Graced) return this.#fromStale(call, cached, at);
    const busted = cached instanceof Busted ? cached.entry : undefined;
    if (cached !== MISS && cached !== LEASED && busted === undefined) return cached as V;
    if (call.lease === false) return this.#computeAndSet(call, at, false);
    return this.#leased(call, { ...at, seenMarker: cached === LEASED, over: busted });
  }

  /**
   * The call's tag stamps, fixed just before its factory starts, so a bust from then on reaches
   * its result: the versions its first read found (missing ones created), or read again with
   * `fresh` — after a lease wait, when a bust may have come in between. `at` as it is for a call
   * without tags; `undefined` when the versions cannot be had (reported, fail-open): the result
   * is then not stored.
   */
  async #stamped<V>(call: GetOrSetCall<V>, at: At, fresh: boolean): Promise<At | undefined> {
    const tags = call.tags;
    if (tags === undefined) return at;
    try {
      const known = fresh ? undefined : tags.versions;
      const stamps = await this.#tags.stamps('getOrSet', tags.set, known);
      return { ...at, stamps };
    } catch (error) {
      failOpen(error, at.policy);
      return undefined;
    }
  }

  /**
   * The read failed: the backend is down or slow. A value this process last saw, within its
   * grace, is served; otherwise the factory runs and its result is returned unstored (a write
   * would only add its own deadline to the caller's wait, and likely fail the same way).
   */
  async #readFailed<V>(call: GetOrSetCall<V>, error: unknown, at: At): Promise<V> {
    failOpen(error, at.policy);
    // A tagged value may have been busted meanwhile, and an outage cannot tell: never from memory.
    if (call.resilience.graceMs > 0 && call.tags === undefined) {
      const last = this.#core.books.lastGood.recall(call.fullKey);
      if (last !== undefined) return this.#served(last.value as V, call);
    }
    return this.#compute(call, undefined).result;
  }

  /** Counts a stale value served and returns it. */
  #served<V>(value: V, call: GetOrSetCall<V>): V {
    this.#core.books.stats.staleServed++;
    if (call.trace !== undefined) call.trace.outcome = 'stale';
    return value;
  }

  /**
   * Starts the factory with its context, signal and `hardTimeout` — inside the `stowage:factory`
   * tracing channel, its `parent` the call's trace, when someone subscribes.
   */
  #compute<V>(call: GetOrSetCall<V>, stale: V | undefined): FactoryRun<V> {
    const trace = call.trace;
    let factory = call.factory;
    if (trace !== undefined) {
      trace.outcome ??= 'miss';
      const channel = CACHE_CHANNELS.factory;
      if (channel.hasSubscribers) {
        // Named fields, not a spread: a background refresh starts after its call settled, and
        // must not carry the call's `result` or `error`.
        const own: CacheTraceContext = {
          operation: 'factory',
          backend: trace.backend,
          server: trace.server,
          level: trace.level,
          keyCount: trace.keyCount,
          key: trace.key,
          parent: trace,
          outcome: undefined,
          bytesIn: undefined,
          bytesOut: undefined,
          hitCount: undefined,
          leaseWaited: false,
        };
        factory = (context) =>
          channel.tracePromise(async () => {
            const value = await call.factory(context);
            own.outcome = 'ok';
            return value;
          }, own);
      }
    }
    return runFactory(
      factory,
      { key: call.key, stale, shutdown: this.#core.shutdown.signal },
      { timeoutMs: call.resilience.hardTimeoutMs, backend: this.#core.port.name },
    );
  }

  /** A remembered "not found": `undefined`, without running the factory. */
  #notFound<V>(call: GetOrSetCall<V>): V {
    if (call.trace !== undefined) call.trace.outcome = 'notFound';
    return undefined as V;
  }

  /** A miss with leases: take the lease or wait for its holder, then compute under it. */
  async #leased<V>(
    call: GetOrSetCall<V>,
    at: At & { seenMarker: boolean; over: StoredEntry | undefined },
  ): Promise<V> {
    const lease = call.lease as ResolvedLease;
    const shared = call.options?.singleFlight !== false;
    let acquired;
    try {
      acquired = await this.#leases.acquire(call, lease, {
        seenMarker: at.seenMarker,
        waitMs: shared ? lease.waitMs : 0,
        over: at.over,
        tags: call.tags?.set,
      });
    } catch (error) {
      failOpen(error, at.policy);
      return this.#compute(call, undefined).result;
    }
    switch (acquired.status) {
      case 'hit':
        if (call.trace !== undefined) call.trace.leaseWaited = acquired.waited;
        if (acquired.value === NOT_FOUND) return this.#notFound(call);
        // A stale value turned up while we waited: it is served or refreshed like any stale hit.
        if (acquired.value instanceof Graced) return this.#fromStale(call, acquired.value, at);
        return acquired.value as V;
      case 'held':
        return this.#underLease(call, acquired, at);
      case 'unreadable':
        // Nothing to lease over: replace what cannot be read, as before leases.
        return this.#computeAndSet(call, at, true);
      case 'busy':
        if (call.trace !== undefined) call.trace.leaseWaited = true;
        if (shared && lease.onTimeout === 'throw') {
          throw new CacheLeaseTimeoutError(
            `gave up after ${Math.round(acquired.waitedMs)} ms waiting for another caller's lease on the key`,
            { key: call.key, waitedMs: acquired.waitedMs },
          );
        }
        // Someone else holds the lease: compute for this caller, store nothing.
        return this.#compute(call, undefined).result;
    }
  }

  /**
   * Runs the factory under a held lease marker and stores its result with `setIf`; with tags,
   * under the versions read before it starts (again when the lease came after polling).
   */
  async #underLease<V>(
    call: GetOrSetCall<V>,
    acquired: { readonly lease: HeldLease; readonly polled: boolean },
    read: At,
  ): Promise<V> {
    const held = acquired.lease;
    const at = await this.#stamped(call, read, acquired.polled);
    if (at === undefined) {
      await this.#leases.release(held);
      return this.#compute(call, undefined).result;
    }
    let value: V;
    try {
      value = await this.#compute(call, undefined).result;
    } catch (error) {
      await this.#leases.release(held);
      throw error;
    }
    await this.#commit(call, held, value, at);
    return value;
  }

  /**
   * Stores a factory's result under `held` — the value, or "not found" for `undefined` with
   * `negativeTtl` — or gives the lease up when nothing may be stored: this process superseded
   * the flight, the lease was lost, the client closed, or `cacheIf` refused the value. Failures
   * are reported (fail-open), never thrown from here unless `strict`.
   */
  async #commit<V>(call: GetOrSetCall<V>, held: HeldLease, value: V, at: At): Promise<void> {
    held.stop();
    const refused = held.lost || this.#core.closed || this.#refused(call, value, at);
    if (refused || !this.#storable(call, value)) {
      // A refresh whose factory found nothing: the stale copy must go, not come back.
      if (!refused && held.restore !== undefined) await this.#leases.drop(held);
      else await this.#leases.release(held);
      return;
    }
    try {
      const write = this.#write(call, value, at.stamps);
      const stored = await this.#writes.replace(write.checked, held.marker);
      if (stored === true && write.inner !== undefined && at.stamps === undefined) {
        this.#core.books.lastGood.remember(call.fullKey, write.inner, write.staleUntil);
      }
    } catch (error) {
      await this.#leases.release(held);
      failOpen(error, at.policy);
    }
  }

  /**
   * The write of a result: the value (behind a grace header with `grace`), or the "not found"
   * entry for `undefined`; its TTL jittered; behind a tag header with `stamps`. Throws
   * `CacheValueError` for a value that cannot be cached or is too large.
   */
  #write<V>(
    call: GetOrSetCall<V>,
    value: V,
    stamps: readonly TagStamp[] | undefined,
  ): GetOrSetWrite {
    const written = this.#untaggedWrite(call, value);
    if (stamps === undefined) {
      // A call with tags whose stamps were never resolved must not store an untagged value.
      if (call.tags !== undefined) throw new CacheValueError('tag versions unknown', call.key);
      return written;
    }
    const entry = wrapTagged(written.checked.entry, stamps);
    const limit = this.#core.settings.maxValueBytes;
    if (entry.value.byteLength > limit) {
      throw new CacheValueError(
        `value is too large: ${entry.value.byteLength} bytes with its tag header, the backend's limit is ${limit}`,
        call.key,
      );
    }
    return {
      checked: { ...written.checked, entry },
      staleUntil: written.staleUntil,
      inner: undefined,
    };
  }

  /** {@link GetOrSet.#write} before the tag header. */
  #untaggedWrite<V>(call: GetOrSetCall<V>, value: V): GetOrSetWrite {
    const { resilience } = call;
    const verify = call.options?.skipIntegrityCheck !== true;
    const base = { operation: 'getOrSet' as const, key: call.key, fullKey: call.fullKey, verify };
    if (value === undefined) {
      const ttlSeconds = jittered(resilience.negativeTtlSeconds, resilience.jitter);
      return {
        checked: { ...base, entry: notFoundEntry(), ttlSeconds },
        staleUntil: 0,
        inner: undefined,
      };
    }
    const ttlSeconds = jittered(call.ttlSeconds, resilience.jitter);
    const inner = this.#writes.encode(call.key, call.fullKey, value);
    // Without an expiry there is nothing to be stale after: the value is stored as it is.
    if (resilience.graceMs === 0 || ttlSeconds === 0) {
      return { checked: { ...base, entry: inner, ttlSeconds }, staleUntil: 0, inner: undefined };
    }
    const now = this.#core.books.now();
    const freshUntil = now + ttlSeconds * 1000;
    const staleUntil = freshUntil + resilience.graceMs;
    const entry = wrapGraced(inner, { freshUntil, staleUntil, leaseUntil: 0, token: '' });
    const limit = this.#core.settings.maxValueBytes;
    if (entry.value.byteLength > limit) {
      throw new CacheValueError(
        `value is too large: ${entry.value.byteLength} bytes with its grace header, the backend's limit is ${limit}`,
        call.key,
      );
    }
    // The server keeps it through its grace, within the longest TTL a backend accepts.
    const serverTtl = Math.min(MAX_TTL_SECONDS, ttlSeconds + resilience.graceMs / 1000);
    const checked = { ...base, entry, ttlSeconds: serverTtl };
    return { checked, staleUntil, inner };
  }

  /**
   * Without a lease: run the factory and store its result unless this process superseded it.
   * `fresh`: read the tags' versions again (see {@link GetOrSet.#stamped}).
   */
  async #computeAndSet<V>(call: GetOrSetCall<V>, read: At, fresh: boolean): Promise<V> {
    const at = await this.#stamped(call, read, fresh);
    if (at === undefined) return this.#compute(call, undefined).result;
    const value = await this.#compute(call, undefined).result;
    await this.#storeUnleased(call, value, at);
    return value;
  }

  /**
   * A stale hit: someone already refreshing it → serve stale; otherwise stamp the refresh lease
   * on the entry and refresh — in the background with `staleWhileRevalidate`, else here, serving
   * the stale value when the factory fails, passes `hardTimeout` or `softTimeout`.
   */
  async #fromStale<V>(call: GetOrSetCall<V>, stale: Graced, read: At): Promise<V> {
    const staleValue = stale.value as V;
    // A tagged entry's refresh carries the stamps it was read with (checked against the tags'
    // versions then, before the factory starts).
    const at: At = stale.stamps === undefined ? read : { ...read, stamps: stale.stamps };
    if (stale.meta.leaseUntil > this.#core.books.now()) return this.#served(staleValue, call);
    if (call.resilience.staleWhileRevalidate) {
      // Answer first: taking the refresh lease costs round trips the caller need not wait for.
      const behind = this.#startRefresh(call, stale, at).then(
        (started) => started?.done ?? { ok: true as const, value: staleValue },
      );
      this.#inBackground(call, behind, at);
      return this.#served(staleValue, call);
    }
    const started = await this.#startRefresh(call, stale, at);
    if (started === undefined) return this.#served(staleValue, call);
    const { done } = started;
    const soft = call.resilience.softTimeoutMs;
    const outcome = soft > 0 ? await Promise.race([done, softDeadline(soft)]) : await done;
    if (outcome === undefined) {
      // Slower than softTimeout: the stale value now, the refresh finishes behind.
      this.#inBackground(call, done, at);
      return this.#served(staleValue, call);
    }
    if (outcome.ok) return outcome.value;
    this.#factoryFailed(call, outcome.error, at);
    return this.#served(staleValue, call);
  }

  /**
   * Takes the refresh lease on a stale entry (unless leases are off) and starts the factory.
   * Resolves `undefined` when someone else got there first or the stamp failed (reported): the
   * stale value is the answer then.
   */
  async #startRefresh<V>(
    call: GetOrSetCall<V>,
    stale: Graced,
    at: At,
  ): Promise<{ done: Promise<Refreshed<V>> } | undefined> {
    let held: HeldLease | undefined;
    if (call.lease !== false) {
      try {
        held = await this.#leases.stamp(call, stale, call.lease);
      } catch (error) {
        failOpen(error, at.policy);
        return undefined;
      }
      // Someone refreshed, stamped, wrote or deleted it since our read.
      if (held === undefined) return undefined;
    }
    const run = this.#compute(call, stale.value as V);
    return { done: this.#refresh(call, { held, run, at }) };
  }

  /** Waits for a refresh's factory and stores its result (under the stamp when there is one). */
  async #refresh<V>(
    call: GetOrSetCall<V>,
    parts: { held: HeldLease | undefined; run: FactoryRun<V>; at: At },
  ): Promise<Refreshed<V>> {
    const { held, run, at } = parts;
    let value: V;
    try {
      value = await run.result;
    } catch (error) {
      if (held !== undefined) await this.#leases.release(held);
      return { ok: false, error };
    }
    if (held !== undefined) await this.#commit(call, held, value, at);
    else if (!this.#core.closed) await this.#storeUnleased(call, value, at);
    return { ok: true, value };
  }

  /** This process wrote the key since the read, or `cacheIf` turned the result down. */
  #refused<V>(call: GetOrSetCall<V>, value: V, at: At): boolean {
    return (
      superseded(at.flight) || (value !== undefined && call.options?.cacheIf?.(value) === false)
    );
  }

  /** Whether a result can be stored at all: `undefined` only as "not found" (`negativeTtl`). */
  #storable<V>(call: GetOrSetCall<V>, value: V): boolean {
    return value !== undefined || call.resilience.negativeTtlSeconds > 0;
  }

  /**
   * Stores a result without a lease (leases off, a backend without `setIf`, or a key holding
   * what cannot be leased over): a plain write, unless this process superseded the flight or
   * nothing may be stored (`undefined` without `negativeTtl`, `cacheIf`). Fail-open.
   */
  async #storeUnleased<V>(call: GetOrSetCall<V>, value: V, at: At): Promise<void> {
    if (this.#refused(call, value, at) || !this.#storable(call, value)) return;
    try {
      const write = this.#write(call, value, at.stamps);
      const stored = await this.#writes.one(write.checked);
      if (stored && write.inner !== undefined && at.stamps === undefined) {
        this.#core.books.lastGood.remember(call.fullKey, write.inner, write.staleUntil);
      }
    } catch (error) {
      failOpen(error, at.policy);
    }
  }

  /**
   * Lets a refresh finish after its caller was answered: tracked so `close()` can wait for it,
   * its failures reported, never an unhandled rejection.
   */
  #inBackground<V>(call: GetOrSetCall<V>, done: Promise<Refreshed<V>>, at: At): void {
    const background = this.#core.background;
    const task = done.then(
      (outcome) => {
        if (!outcome.ok) this.#factoryFailed(call, outcome.error, at);
      },
      (error: unknown) => {
        // Only `strict` throws from a commit; in the background there is nobody to throw to.
        if (isCacheError(error)) at.policy.report(error);
      },
    );
    background.add(task);
    void task.finally(() => background.delete(task));
  }

  /**
   * A factory failed (or passed `hardTimeout`) and a stale value answered for it: reported as a
   * `warning` (kind `factory`) and to `onError`, never thrown.
   */
  #factoryFailed<V>(call: GetOrSetCall<V>, error: unknown, at: At): void {
    const problem = isCacheError(error)
      ? error
      : new CacheFactoryError('the factory failed; a stale value was served', call.key, {
          cause: error,
        });
    this.#ledger.warn('factory', problem, {
      operation: 'getOrSet',
      key: call.key,
      fullKey: call.fullKey,
    });
    try {
      at.policy.report(problem);
    } catch (reportError) {
      at.policy.onReportError?.(reportError);
    }
  }
}
