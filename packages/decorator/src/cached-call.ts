import { randomBytes } from 'node:crypto';
import {
  CacheConfigError,
  CacheErrorCode,
  CacheKeyError,
  CacheWriteError,
  failOpen,
  hashArgs,
  isCacheError,
  SingleFlight,
  StorageLevel,
  type CacheClient,
  type CacheError,
  type CacheLogger,
  type Flight,
} from '@stowage/core';
import {
  checkContext,
  resolveContext,
  type CacheContext,
  type ResolvedContext,
} from './context.js';
import { checkName, type CacheErrorInfo, type NormalizedOptions } from './options.js';

/**
 * Shortest life of a generation key, in seconds (one day). A generation key lives as long as the
 * function's `timeout` or this, whichever is longer (forever with `timeout: 0`), so it outlives
 * its entries without piling up on a server that never evicts.
 */
export const MIN_GENERATION_TTL_SECONDS = 86_400;

/** Property under which a cached function carries its controller; shared by package copies. */
export const CONTROLLER: unique symbol = Symbol.for('@stowage/decorator.controller');

// Bound on remembered generations and scoped clients, so a stream of session ids cannot grow them.
const MAX_REMEMBERED = 1024;
const TOKEN = /^[\w-]{8}$/;
const MISS: unique symbol = Symbol('miss');

/** Everything one call needs to know about where its entry lives. */
interface Target {
  /** The root client of the call's context: its flights are shared by every cached function. */
  readonly root: CacheClient;
  /** The client scoped to the call's level and id. */
  readonly client: CacheClient;
  /** `[keyPrefix:]` + the static name: names the generation key and reports. */
  readonly name: string;
  /** `[keyPrefix:]` + the entry's name part (the `key` function's result, or `name`). */
  readonly entryName: string;
  /** `''` for a call without arguments, else `:` + the hash of the arguments. */
  readonly argsHash: string;
  /** The key holding the current generation token of this function in this scope. */
  readonly generationKey: string;
  /** `generationKey` with the scope in front: identifies the generation across scopes. */
  readonly scopeKey: string;
}

/** One call on its way through the cache: where its entry lives, its receiver and arguments, its flight. */
interface Run {
  readonly target: Target;
  readonly self: unknown;
  readonly args: unknown[];
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

/**
 * Whether an invalidation superseded `flight`. A function, not an inline check, because the flag
 * changes across awaits, which type narrowing does not see.
 */
function superseded(flight: Flight | undefined): boolean {
  return flight?.superseded === true;
}

/**
 * The flights of every cached function by root client (core's single-flight): calls through one
 * root client share a run per entry; calls through another client (another backend, another
 * prefix) never join it.
 */
const flightsByRoot = new WeakMap<CacheClient, SingleFlight>();

function flightsOf(root: CacheClient): SingleFlight {
  let flights = flightsByRoot.get(root);
  if (flights === undefined) {
    flights = new SingleFlight();
    flightsByRoot.set(root, flights);
  }
  return flights;
}

const scopedClients = new WeakMap<CacheClient, Map<string, CacheClient>>();

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (!map.has(key) && map.size >= MAX_REMEMBERED) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

function isToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN.test(value);
}

function scopedClient(
  root: CacheClient,
  level: StorageLevel,
  context: ResolvedContext,
): CacheClient {
  // `root.scoped` resolves and checks the scope (core's one resolver): a missing id throws
  // CacheScopeError there, so a slot below is only ever filled with a valid scope.
  const id =
    level === StorageLevel.Stack
      ? context.stack
      : level === StorageLevel.Session
        ? context.session
        : context.service;
  let byScope = scopedClients.get(root);
  if (byScope === undefined) {
    byScope = new Map();
    scopedClients.set(root, byScope);
  }
  // A session's client depends on its tenant too (core nests Session under Stack).
  const slot =
    level === StorageLevel.Session
      ? `${level}\0${context.stack ?? ''}\0${id ?? ''}`
      : `${level}\0${id ?? ''}`;
  let client = byScope.get(slot);
  if (client === undefined) {
    client = root.scoped(level, {
      service: context.service,
      stack: context.stack,
      session: context.session,
    });
    remember(byScope, slot, client);
  }
  return client;
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
 * last token this process saw in one `getMany`, so a hit costs one round trip.
 */
export class CachedCall {
  readonly #fn: (...args: unknown[]) => unknown;
  readonly #options: NormalizedOptions;
  readonly #nameOf: (self: unknown) => string;
  #label: string;
  readonly #generationTtl: number;
  readonly #generations = new Map<string, string>();
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
    this.#generationTtl =
      options.ttlSeconds === 0 ? 0 : Math.max(options.ttlSeconds, MIN_GENERATION_TTL_SECONDS);
  }

  /** Runs one call: a hit returns the cached value, a miss runs the function and stores it. */
  call(self: unknown, args: unknown[]): Promise<unknown> {
    let target: Target;
    try {
      target = this.#target(self, args, true);
    } catch (error) {
      return this.#bypass(error, self, args);
    }
    if (!this.#options.singleFlight) return this.#run({ target, self, args, flight: undefined });
    const flights = flightsOf(target.root);
    const flightKey = target.client.keyPrefix + target.entryName + target.argsHash;
    const joined = flights.join(flightKey);
    if (joined !== undefined) return joined;
    const flight = flights.start(flightKey, target.scopeKey);
    // #run lands the flight itself when it settles (no `.finally` layer on every hit).
    flight.promise = this.#run({ target, self, args, flight });
    return flight.promise;
  }

  /** Ends a flight: later calls start their own run. */
  #land(target: Target, flight: Flight | undefined): void {
    if (flight !== undefined) flightsOf(target.root).land(flight);
  }

  /** Deletes the entry of one call in the scope `self` resolves to. Resolves `true` when it existed. */
  async invalidate(self: unknown, args: unknown[]): Promise<boolean> {
    const target = this.#target(self, args, true);
    flightsOf(target.root).supersede(target.client.keyPrefix + target.entryName + target.argsHash);
    const generation = await target.client.get(target.generationKey);
    if (isToken(generation)) return target.client.delete(this.#entryKey(target, generation));
    // No generation this process can vouch for: either nothing was cached in this scope, or a
    // write of the generation is in doubt here (the client's write quarantine reads it as a miss)
    // while other processes still read entries under the one the server holds. Deleting nothing
    // would leave the entry readable; a new generation orphans it (and its siblings): a miss is
    // always safe, a stale hit never is (DESIGN D14).
    await this.#newGeneration(target);
    return false;
  }

  /** Orphans every entry of the function in the scope `self` resolves to, by a new generation. */
  async invalidateAll(self: unknown): Promise<void> {
    const target = this.#target(self, [], false);
    flightsOf(target.root).supersedeGroup(target.scopeKey);
    await this.#newGeneration(target);
  }

  /** Stores a new generation token for `target`'s scope, or throws: busting never fails silently. */
  async #newGeneration(target: Target): Promise<void> {
    const token = randomBytes(6).toString('base64url');
    const stored = await target.client.set(target.generationKey, token, {
      ttl: this.#generationTtl,
    });
    if (!stored) {
      throw new CacheWriteError(
        `could not store a new generation for ${target.name}; its entries were not invalidated`,
        target.generationKey,
      );
    }
    remember(this.#generations, target.scopeKey, token);
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

  /** Resolves client, scope and key of a call; throws a CacheError when it cannot be cached. */
  #target(self: unknown, args: unknown[], withArgs: boolean): Target {
    const options = this.#options;
    const context = resolveContext(this.#contextOption(self), self);
    const root = context.client;
    const staticName = typeof options.key === 'string' ? options.key : this.#nameOf(self);
    const name =
      options.keyPrefix === undefined ? staticName : `${options.keyPrefix}:${staticName}`;
    this.#label = name;
    if (root === undefined) {
      throw new CacheConfigError(
        `no cache client for ${name}: pass \`context: { client }\`, give the instance a [cacheContext], or call it inside runWithCacheScope({ client, … })`,
      );
    }
    const client = scopedClient(
      root,
      options.storageLevel ?? context.storageLevel ?? StorageLevel.Stack,
      context,
    );
    let entryName = name;
    let argsHash = '';
    if (withArgs) {
      if (typeof options.key === 'function') {
        let part: unknown;
        try {
          part = options.key(...(args as never[]));
        } catch (error) {
          throw new CacheKeyError(`the \`key\` function of ${name} threw`, undefined, {
            cause: error,
          });
        }
        const checked = checkName(part, `the \`key\` function of ${name}`, keyError);
        entryName = options.keyPrefix === undefined ? checked : `${options.keyPrefix}:${checked}`;
      }
      // Core's argument hash (as in `cacheKey`); it throws CacheKeyError for arguments that
      // cannot be keyed safely.
      argsHash = args.length === 0 ? '' : `:${hashArgs(args)}`;
    }
    const generationKey = `${name}:version`;
    return {
      root,
      client,
      name,
      entryName,
      argsHash,
      generationKey,
      scopeKey: client.keyPrefix + generationKey,
    };
  }

  #entryKey(target: Target, generation: string): string {
    return `${target.entryName}:v${generation}${target.argsHash}`;
  }

  /**
   * Reads through the cache and, on a miss, runs the function and stores its result. A hit
   * settles in the read's own callback; every path lands the flight when it settles.
   */
  #run(run: Run): Promise<unknown> {
    // #read never throws: the client's methods reject instead.
    return this.#read(run.target).then(
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
          token = await this.#generation(target);
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
        await target.client.delete(entryKey).catch((error: unknown) => {
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
      throw new CacheConfigError(`the \`tags\` function of ${run.target.name} threw`, {
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
      return await target.client.getOrSet(entryKey, factory, this.#getOrSetOptions(target, tags));
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
   * Reads the generation and the entry: resolves the cached value, or a `Miss` carrying the
   * generation to store under. With a known generation that is one `getMany` of both keys.
   */
  #read(target: Target): Promise<unknown> {
    const known = this.#generations.get(target.scopeKey);
    if (known === undefined) return this.#readFresh(target);
    const entryKey = this.#entryKey(target, known);
    return target.client.getMany([target.generationKey, entryKey]).then((found) => {
      const generation = found.get(target.generationKey);
      if (generation !== known) return this.#readUnder(target, generation);
      const value = found.get(entryKey);
      return this.#usable(value !== undefined || found.has(entryKey), value)
        ? value
        : new Miss(generation);
    });
  }

  /** Reads without a known generation: fetches it, then the entry under it. */
  async #readFresh(target: Target): Promise<unknown> {
    return this.#readUnder(target, await target.client.get(target.generationKey));
  }

  /** Reads the entry under the generation the cache holds (`generation`, which may be no token). */
  async #readUnder(target: Target, generation: unknown): Promise<unknown> {
    const { client } = target;
    if (!isToken(generation)) {
      this.#generations.delete(target.scopeKey);
      return new Miss(undefined);
    }
    remember(this.#generations, target.scopeKey, generation);
    const value = await client.get(this.#entryKey(target, generation), MISS);
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
  async #generation(target: Target): Promise<string> {
    const { client } = target;
    const fresh = randomBytes(6).toString('base64url');
    const ttl = this.#generationTtl;
    let token = fresh;
    if (!(await client.add(target.generationKey, fresh, { ttl }))) {
      const held = await client.get(target.generationKey);
      if (isToken(held)) {
        token = held;
      } else if (!(await client.set(target.generationKey, fresh, { ttl }))) {
        // The key holds something unreadable (for example written under a retired encryption
        // key) and cannot be replaced: there is no generation to store under.
        throw new CacheWriteError(
          `could not store a generation for ${target.name}; the result was not cached`,
          target.generationKey,
        );
      }
    }
    remember(this.#generations, target.scopeKey, token);
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
          name: target?.name ?? this.#label,
          key: target === undefined ? undefined : target.entryName + target.argsHash,
        };
        const onError = this.#options.onError;
        if (onError !== undefined) onError(problem, info);
        else this.#warn(problem, info, (target?.client ?? this.#rootOf(self))?.logger);
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
