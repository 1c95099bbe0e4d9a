import { randomBytes } from 'node:crypto';
import {
  CacheConfigError,
  CacheErrorCode,
  CacheKeyError,
  CacheWriteError,
  failOpen,
  hashArgs,
  isCacheError,
  StorageLevel,
  type CacheClient,
  type CacheError,
  type CacheLogger,
  type Flight,
} from '@stowage/core';
import { checkContext, resolveContext, type CacheContext } from './context.js';
import { checkName, type CacheErrorInfo, type NormalizedOptions } from './options.js';
import {
  forget,
  learn,
  makeScope,
  observe,
  sameSlot,
  scopedClient,
  slotOf,
  type Observation,
  type Scope,
} from './scope.js';

/**
 * Shortest life of a generation key, in seconds (one day). A generation key lives as long as the
 * function's `timeout` or this, whichever is longer (forever with `timeout: 0`), so it outlives
 * its entries without piling up on a server that never evicts.
 */
export const MIN_GENERATION_TTL_SECONDS = 86_400;

/** Property under which a cached function carries its controller; shared by package copies. */
export const CONTROLLER: unique symbol = Symbol.for('@stowage/decorator.controller');

const TOKEN = /^[\w-]{8}$/;
const MISS: unique symbol = Symbol('miss');

/** Everything one call needs to know about where its entry lives. */
interface Target {
  /** The function's scope: scoped client, generation key, the root's flights and generations. */
  readonly scope: Scope;
  /** `[keyPrefix:]` + the entry's name part (the `key` function's result, or `name`). */
  readonly entryName: string;
  /** `''` for a call without arguments, else `:` + the hash of the arguments. */
  readonly argsHash: string;
}

/** One call: where its entry lives, its receiver and arguments. */
interface Call {
  readonly target: Target;
  readonly self: unknown;
  readonly args: unknown[];
}

/** One call on its way through a miss: a {@link Call} and its flight. */
interface Run extends Call {
  /** The single-flight flight it runs, or `undefined` with `singleFlight: false`. */
  readonly flight: Flight | undefined;
}

/** What a read that found no usable entry saw: the generation to store a result under, if any. */
class Miss {
  readonly generation: string | undefined;

  constructor(generation: string | undefined) {
    this.generation = generation;
  }
}

/** A miss (or an unusable entry) under a trusted generation: the full read must confirm it. */
const RECHECK = new Miss(undefined);

/**
 * Whether an invalidation superseded `flight`. A function, not an inline check, because the flag
 * changes across awaits, which type narrowing does not see.
 */
function superseded(flight: Flight | undefined): boolean {
  return flight?.superseded === true;
}

function isToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN.test(value);
}

function keyError(message: string): CacheKeyError {
  return new CacheKeyError(message);
}

/**
 * The machinery behind one cached function or decorated method: resolves the context and the
 * key, reads through the cache with single-flight, stores results, applies the fail-open policy
 * and busts entries.
 *
 * Busting all entries of a function works without scanning the server: every entry key carries
 * the function's current generation token for its scope (`name:v<token>:<hash>`), and the token
 * lives under `name:version` in the same scope. `invalidateAll` writes a new token, which orphans
 * every older entry (they expire by their TTL). A read fetches the token and the entry under the
 * last token this process saw in one `getMany`, so a hit costs one round trip; with a
 * `generationWindow`, a token read or written within the window is trusted and a hit reads only
 * the entry.
 */
export class CachedCall {
  readonly #fn: (...args: unknown[]) => unknown;
  readonly #options: NormalizedOptions;
  readonly #nameOf: (self: unknown) => string;
  /** `[keyPrefix:]` + the `key` option when it is a string: the same for every call. */
  readonly #fixedName: string | undefined;
  #label: string;
  readonly #generationTtl: number;
  /** `generationWindow` in milliseconds; `0`: every read checks the generation. */
  readonly #windowMs: number;
  /** This function's scopes by scoped client (scoped clients are cached per root, bounded). */
  readonly #scopes = new WeakMap<CacheClient, Scope>();
  /** The scope of the last call: most calls in a row share it, and skip the lookups. */
  #lastScope: Scope | undefined;
  readonly #warned = new Set<string>();

  /**
   * @param fn - the original function.
   * @param options - validated options.
   * @param naming.nameOf - the default name part for a call on `self` (`Class.method`); may
   *   throw `CacheConfigError` when none can be found.
   * @param naming.label - what reports call the function until a call has resolved its name.
   */
  constructor(
    fn: (...args: unknown[]) => unknown,
    options: NormalizedOptions,
    naming: { readonly nameOf: (self: unknown) => string; readonly label: string },
  ) {
    this.#fn = fn;
    this.#options = options;
    this.#nameOf = naming.nameOf;
    this.#label = typeof options.key === 'string' ? options.key : naming.label;
    this.#fixedName =
      typeof options.key !== 'string'
        ? undefined
        : options.keyPrefix === undefined
          ? options.key
          : `${options.keyPrefix}:${options.key}`;
    this.#generationTtl =
      options.ttlSeconds === 0 ? 0 : Math.max(options.ttlSeconds, MIN_GENERATION_TTL_SECONDS);
    this.#windowMs = options.generationWindowSeconds * 1000;
  }

  /**
   * Runs one call: a hit returns the cached value, a miss runs the function and stores it.
   *
   * A read takes no single-flight slot: a hit settles in the read's own callback, and only a miss
   * or a failed read joins or starts the flight that runs the function (concurrent callers that
   * arrive while it runs join it). A flight for every hit cost more than the read it shared.
   */
  call(self: unknown, args: unknown[]): Promise<unknown> {
    let target: Target;
    try {
      target = this.#target(self, args, true);
    } catch (error) {
      return this.#bypass(error, self, args);
    }
    const { scope } = target;
    if (this.#options.singleFlight && scope.flights.running > 0) {
      const joined = scope.flights.single.join(this.#flightKey(target));
      if (joined !== undefined) return joined;
    }
    const call: Call = { target, self, args };
    const onError = (error: unknown): Promise<unknown> => this.#failed(call, error);
    const trusted = this.#trusted(scope);
    if (trusted !== undefined) {
      return scope.client
        .get(this.#entryKey(target, trusted), MISS)
        .then(
          (value) => (this.#usable(value !== MISS, value) ? value : this.#miss(call, RECHECK)),
          onError,
        );
    }
    return this.#read(
      target,
      (value) => (value instanceof Miss ? this.#miss(call, value) : value),
      onError,
    );
  }

  /** The token of `scope` read or written within `generationWindow`, if any. */
  #trusted(scope: Scope): string | undefined {
    if (this.#windowMs === 0) return undefined;
    const known = scope.known.get(scope.scopeKey);
    if (known === undefined || performance.now() - known.seenAt >= this.#windowMs) return undefined;
    return known.token;
  }

  /** The window's clock (`performance.now()`), read only when a window is set; else `-Infinity`. */
  #windowNow(): number {
    return this.#windowMs === 0 ? -Infinity : performance.now();
  }

  /** Starts observing a generation key now. */
  #observe(): Observation {
    return observe(this.#windowNow());
  }

  /**
   * A read found no usable entry: runs the function and stores its result, in the call's flight.
   * `RECHECK` (a miss under a trusted generation) reads the generation first, so nothing runs or
   * is stored under a token older than the one the cache holds.
   */
  #miss(call: Call, miss: Miss): Promise<unknown> {
    return this.#inFlight(call, (run) =>
      miss === RECHECK ? this.#run(run) : this.#runAndStore(run, miss.generation),
    );
  }

  /** The read failed (backend down or slow): runs uncached in the call's flight. */
  #failed(call: Call, error: unknown): Promise<unknown> {
    return this.#inFlight(call, (run) => this.#runUncached(run, error));
  }

  /**
   * Joins the flight running for `call`'s entry, or starts one running `body`. `body` lands the
   * flight itself when it settles (no `.finally` layer).
   */
  #inFlight(call: Call, body: (run: Run) => Promise<unknown>): Promise<unknown> {
    if (!this.#options.singleFlight) return body({ ...call, flight: undefined });
    const { scope } = call.target;
    const flightKey = this.#flightKey(call.target);
    const flights = scope.flights;
    const joined = flights.single.join(flightKey);
    if (joined !== undefined) return joined;
    const flight = flights.single.start(flightKey, scope.scopeKey);
    flights.running++;
    flight.promise = body({ ...call, flight });
    return flight.promise;
  }

  /** The call's single-flight slot: scope, entry name and arguments, without the generation. */
  #flightKey(target: Target): string {
    return target.scope.client.keyPrefix + target.entryName + target.argsHash;
  }

  /** Ends a flight: later calls start their own run. */
  #land(target: Target, flight: Flight | undefined): void {
    if (flight === undefined) return;
    const flights = target.scope.flights;
    flights.running--;
    flights.single.land(flight);
  }

  /** Deletes the entry of one call in the scope `self` resolves to. Resolves `true` when it existed. */
  async invalidate(self: unknown, args: unknown[]): Promise<boolean> {
    const target = this.#target(self, args, true);
    const { scope } = target;
    scope.flights.single.supersede(this.#flightKey(target));
    const seen = this.#observe();
    const generation = await scope.client.get(scope.generationKey);
    if (isToken(generation)) {
      // Trust the token just read, not an older one a window may still hold (another process's
      // invalidateAll): the entry deleted below is then the one this process reads next.
      learn(scope, generation, seen);
      return scope.client.delete(this.#entryKey(target, generation));
    }
    // No generation this process can vouch for: either nothing was cached in this scope, or a
    // write of the generation is in doubt here (the client's write quarantine reads it as a miss)
    // while other processes still read entries under the one the server holds. Deleting nothing
    // would leave the entry readable; a new generation orphans it (and its siblings): a miss is
    // always safe, a stale hit never is (DESIGN D14).
    await this.#newGeneration(scope);
    return false;
  }

  /** Orphans every entry of the function in the scope `self` resolves to, by a new generation. */
  async invalidateAll(self: unknown): Promise<void> {
    const { scope } = this.#target(self, [], false);
    scope.flights.single.supersedeGroup(scope.scopeKey);
    await this.#newGeneration(scope);
  }

  /**
   * Stores a new generation token for `scope`, or throws: busting never fails silently. Once it
   * resolves, this process trusts only the new token (a window never serves what it orphaned).
   */
  async #newGeneration(scope: Scope): Promise<void> {
    const token = randomBytes(6).toString('base64url');
    const started = this.#windowNow();
    let stored: boolean;
    try {
      stored = await scope.client.set(scope.generationKey, token, { ttl: this.#generationTtl });
    } catch (error) {
      // The write may have landed: the token this process knew may be orphaned. Trust none.
      forget(scope, observe(started));
      throw error;
    }
    if (!stored) {
      forget(scope, observe(started));
      throw new CacheWriteError(
        `could not store a new generation for ${scope.name}; its entries were not invalidated`,
        scope.generationKey,
      );
    }
    learn(scope, token, observe(started));
  }

  #contextOption(self: unknown): CacheContext | undefined {
    const option = this.#options.context;
    if (typeof option !== 'function') return option;
    let context: unknown;
    try {
      context = option(self);
    } catch (error) {
      throw new CacheConfigError('the `context` function threw', { cause: error });
    }
    return checkContext(context, 'the `context` function result');
  }

  /** The call's root client when its context names one (for the logger of a failed call). */
  #rootOf(self: unknown): CacheClient | undefined {
    try {
      return resolveContext(this.#contextOption(self), self).client;
    } catch {
      return undefined; // the context itself is what failed; the process warning reports it
    }
  }

  /** Resolves client, scope and name of a call; throws a CacheError when it cannot be cached. */
  #scope(self: unknown): Scope {
    const options = this.#options;
    const context = resolveContext(this.#contextOption(self), self);
    const root = context.client;
    let name = this.#fixedName;
    if (name === undefined) {
      const staticName = this.#nameOf(self);
      name = options.keyPrefix === undefined ? staticName : `${options.keyPrefix}:${staticName}`;
    }
    this.#label = name;
    if (root === undefined) {
      throw new CacheConfigError(
        `no cache client for ${name}: pass \`context: { client }\`, give the instance a [cacheContext], or call it inside runWithCacheScope({ client, … })`,
      );
    }
    const slot = slotOf(
      options.storageLevel ?? context.storageLevel ?? StorageLevel.Stack,
      context,
    );
    const last = this.#lastScope;
    if (
      last !== undefined &&
      last.root === root &&
      last.name === name &&
      sameSlot(last.slot, slot)
    ) {
      return last;
    }
    const client = scopedClient(root, slot, context);
    let scope = this.#scopes.get(client);
    if (scope === undefined || scope.name !== name) {
      scope = makeScope(root, client, { slot, name });
      this.#scopes.set(client, scope);
    }
    this.#lastScope = scope;
    return scope;
  }

  /** Resolves client, scope and key of a call; throws a CacheError when it cannot be cached. */
  #target(self: unknown, args: unknown[], withArgs: boolean): Target {
    const options = this.#options;
    const scope = this.#scope(self);
    let entryName = scope.name;
    let argsHash = '';
    if (withArgs) {
      if (typeof options.key === 'function') {
        let part: unknown;
        try {
          part = options.key(...(args as never[]));
        } catch (error) {
          throw new CacheKeyError(`the \`key\` function of ${scope.name} threw`, undefined, {
            cause: error,
          });
        }
        const checked = checkName(part, `the \`key\` function of ${scope.name}`, keyError);
        entryName = options.keyPrefix === undefined ? checked : `${options.keyPrefix}:${checked}`;
      }
      // Core's argument hash (as in `cacheKey`); it throws CacheKeyError for arguments that
      // cannot be keyed safely.
      argsHash = args.length === 0 ? '' : `:${hashArgs(args)}`;
    }
    return { scope, entryName, argsHash };
  }

  #entryKey(target: Target, generation: string): string {
    return `${target.entryName}:v${generation}${target.argsHash}`;
  }

  /** Reads the generation and the entry, then settles as a hit, or runs and stores on a miss. */
  #run(run: Run): Promise<unknown> {
    // #read never throws: the client's methods reject instead.
    return this.#read(
      run.target,
      (value) => {
        if (!(value instanceof Miss)) {
          this.#land(run.target, run.flight);
          return value;
        }
        return this.#runAndStore(run, value.generation);
      },
      (error: unknown) => this.#runUncached(run, error),
    );
  }

  /** The backend is down or slow: run uncached and skip the write, which would fail too. */
  async #runUncached(run: Run, error: unknown): Promise<unknown> {
    try {
      this.#report(error, run.target);
      return await this.#fn.apply(run.self, run.args);
    } finally {
      this.#land(run.target, run.flight);
    }
  }

  /**
   * A miss: runs the function through core's `getOrSet` on the entry key, which takes the
   * entry's lease, so callers in other processes wait for this run, and the result is stored only
   * if nobody invalidated the entry meanwhile (an `invalidate()` deletes the lease; an
   * `invalidateAll()` moves the generation, orphaning the entry key).
   */
  async #runAndStore(run: Run, generation: string | undefined): Promise<unknown> {
    const { target, flight } = run;
    try {
      let token = generation;
      if (token === undefined) {
        try {
          token = await this.#generation(target.scope);
        } catch (error) {
          this.#report(error, target);
          return await this.#fn.apply(run.self, run.args);
        }
      }
      let tags: readonly string[] | undefined;
      try {
        tags = this.#tagsOf(run);
      } catch (error) {
        this.#report(error, target);
        return await this.#fn.apply(run.self, run.args);
      }
      const entryKey = this.#entryKey(target, token);
      const result = await this.#leased(run, entryKey, tags);
      // Without a lease (off, or a backend without compare-and-set) an invalidation that began
      // while the write was on its way may have deleted the entry before the write landed:
      // delete it again. A miss is always safe.
      if (superseded(flight)) {
        await target.scope.client.delete(entryKey).catch((error: unknown) => {
          this.#report(error, target);
        });
      }
      return result;
    } finally {
      this.#land(target, flight);
    }
  }

  /** The tags of a call's result (the `tags` option), checked by core when it stores them. */
  #tagsOf(run: Run): readonly string[] | undefined {
    const tagsOf = this.#options.tags;
    if (tagsOf === undefined) return undefined;
    try {
      return tagsOf(...(run.args as never[]));
    } catch (error) {
      throw new CacheConfigError(`the \`tags\` function of ${run.target.scope.name} threw`, {
        cause: error,
      });
    }
  }

  /** Runs the function under the entry's lease (`getOrSet` straight after our miss). */
  async #leased(run: Run, entryKey: string, tags: readonly string[] | undefined): Promise<unknown> {
    const { target } = run;
    let started = false;
    const factory = (): unknown => {
      started = true;
      return this.#fn.apply(run.self, run.args);
    };
    try {
      return await target.scope.client.getOrSet(
        entryKey,
        factory,
        this.#getOrSetOptions(target, tags),
      );
    } catch (error) {
      // A value error before the function ran is getOrSet refusing its arguments before any I/O
      // (here: tags from the `tags` function that core does not accept): run uncached, as for a
      // key that cannot be made. Anything else (the function's own errors, strict) goes on.
      if (started || !isCacheError(error, CacheErrorCode.Value)) throw error;
      this.#report(error, target);
      return await factory();
    }
  }

  /** The options of a miss's `getOrSet`. */
  #getOrSetOptions(
    target: Target,
    tags: readonly string[] | undefined,
  ): Parameters<CacheClient['getOrSet']>[2] {
    const options = this.#options;
    return {
      ...options.resilience,
      tags,
      ttl: options.ttlSeconds,
      afterMiss: true,
      singleFlight: options.singleFlight,
      lease: options.lease,
      strict: options.strict,
      // `null` is stored only with `cacheNullish`; the call still returns it.
      cacheIf: options.cacheNullish ? undefined : (value) => value !== null,
      onError: (error) => {
        this.#report(error, target);
      },
    };
  }

  /**
   * Reads the generation and the entry, and resolves what `then` makes of the cached value or of
   * a `Miss` carrying the generation to store under; `onError` of a failed read. With a known
   * generation that is one `getMany` of both keys, and `then` runs in its callback: a hit costs
   * one promise.
   */
  #read(
    target: Target,
    then: (found: unknown) => unknown,
    onError: (error: unknown) => unknown,
  ): Promise<unknown> {
    const { scope } = target;
    const known = scope.known.get(scope.scopeKey)?.token;
    const seen = this.#observe();
    if (known === undefined) return this.#readFresh(target, seen).then(then, onError);
    const entryKey = this.#entryKey(target, known);
    return scope.client.getMany([scope.generationKey, entryKey]).then((found) => {
      const generation = found.get(scope.generationKey);
      if (generation !== known) {
        return this.#readUnder(target, generation, seen).then(then, onError);
      }
      // Without a window nothing reads when the token was last confirmed: skip the bookkeeping.
      if (this.#windowMs !== 0) learn(scope, known, seen);
      const value = found.get(entryKey);
      return then(
        this.#usable(value !== undefined || found.has(entryKey), value) ? value : new Miss(known),
      );
    }, onError);
  }

  /** Reads without a known generation: fetches it, then the entry under it. */
  async #readFresh(target: Target, seen: Observation): Promise<unknown> {
    const { scope } = target;
    return this.#readUnder(target, await scope.client.get(scope.generationKey), seen);
  }

  /** Reads the entry under the generation the cache holds (`generation`, which may be no token). */
  async #readUnder(target: Target, generation: unknown, seen: Observation): Promise<unknown> {
    const { scope } = target;
    if (!isToken(generation)) {
      forget(scope, seen);
      return new Miss(undefined);
    }
    learn(scope, generation, seen);
    const value = await scope.client.get(this.#entryKey(target, generation), MISS);
    return this.#usable(value !== MISS, value) ? value : new Miss(generation);
  }

  /** Whether a found value counts as a hit (`null` only with `cacheNullish`). */
  #usable(found: boolean, value: unknown): boolean {
    return found && (value !== null || this.#options.cacheNullish);
  }

  /**
   * The generation to store a first entry under, created now when the scope has none — before
   * the function runs, so an `invalidateAll()` from here on moves past it. Someone else's
   * generation, created since our read, is used as it is.
   */
  async #generation(scope: Scope): Promise<string> {
    const { client } = scope;
    const fresh = randomBytes(6).toString('base64url');
    const ttl = this.#generationTtl;
    let seenAt = this.#windowNow();
    let token = fresh;
    if (!(await client.add(scope.generationKey, fresh, { ttl }))) {
      seenAt = this.#windowNow();
      const held = await client.get(scope.generationKey);
      if (isToken(held)) {
        token = held;
      } else if (!(await client.set(scope.generationKey, fresh, { ttl }))) {
        // The key holds something unreadable (for example written under a retired encryption
        // key) and cannot be replaced: there is no generation to store under.
        throw new CacheWriteError(
          `could not store a generation for ${scope.name}; the result was not cached`,
          scope.generationKey,
        );
      }
    }
    learn(scope, token, observe(seenAt));
    return token;
  }

  async #bypass(error: unknown, self: unknown, args: unknown[]): Promise<unknown> {
    this.#report(error, undefined, self);
    return await this.#fn.apply(self, args);
  }

  /**
   * Core's fail-open policy (the one `getOrSet` follows): with `strict`, cache problems are
   * thrown; otherwise they go to `onError`, or once per kind to a process warning. Errors that
   * are not cache errors are bugs and are always thrown. A failing `onError` is absorbed: it must
   * not fail the call it reports on.
   */
  #report(error: unknown, target: Target | undefined, self?: unknown): void {
    failOpen(error, {
      strict: this.#options.strict,
      report: (problem) => {
        const info: CacheErrorInfo = {
          name: target?.scope.name ?? this.#label,
          key: target === undefined ? undefined : target.entryName + target.argsHash,
        };
        const onError = this.#options.onError;
        if (onError !== undefined) onError(problem, info);
        else this.#warn(problem, info, (target?.scope.client ?? this.#rootOf(self))?.logger);
      },
    });
  }

  /**
   * Without `onError`: the client's `logger` gets every problem (a logger rate-limits as it
   * likes); without one, a process warning once per kind, so an outage cannot flood stderr.
   */
  #warn(error: CacheError, info: CacheErrorInfo, logger: CacheLogger | undefined): void {
    if (logger !== undefined) {
      logger.error(
        `stowage: ${info.name}: ${error.message}; caching was skipped for this call [${error.code}]`,
      );
      return;
    }
    if (this.#warned.has(error.code)) return;
    this.#warned.add(error.code);
    process.emitWarning(
      `${info.name}: ${error.message}; caching was skipped for this call (further ${error.code} problems of this function are not shown; pass \`onError\` to see them all)`,
      { type: error.name, code: error.code },
    );
  }
}
