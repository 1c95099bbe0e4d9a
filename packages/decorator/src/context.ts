import { AsyncLocalStorage } from 'node:async_hooks';
import {
  CacheConfigError,
  isStorageLevel,
  type CacheClient,
  type StorageLevel,
} from '@stowage/core';

/**
 * What a cached call needs from its surroundings: the client to store into, the default storage
 * level and the scope ids. The decorator collects it from three places, field by field, the first
 * one that sets a field winning: the `context` option, the instance (`this[cacheContext]`), then
 * the request scope of {@link runWithCacheScope}. There is no global client.
 */
export interface CacheContext {
  /**
   * The client to store into, normally the root (unscoped) client of the service. The decorator
   * scopes it per call with `client.scoped(level, scope)`.
   */
  readonly client?: CacheClient | undefined;
  /**
   * The level used when the decorator's `storageLevel` option is not set (Q2's
   * `self.default_storage_level`). When no source sets it, `StorageLevel.Stack` is used.
   */
  readonly storageLevel?: StorageLevel | undefined;
  /** The service name for `StorageLevel.Service`; falls back to the client's `service` option. */
  readonly service?: string | undefined;
  /** The tenant id for `StorageLevel.Stack` (Q2's stack / `hq_credentials.customer_key`). */
  readonly stack?: string | undefined;
  /** The user session id for `StorageLevel.Session` (Q2's `online_session.session_id`). */
  readonly session?: string | undefined;
}

/**
 * The property through which an instance supplies its {@link CacheContext}: give a service or
 * handler class a `[cacheContext]` property or getter, and its decorated methods use it. It is a
 * `Symbol.for` symbol, so two copies of this package (ESM and CommonJS) agree on it.
 *
 * @example
 * class AccountHandler {
 *   constructor(private cache: CacheClient, private customerKey: string) {}
 *   get [cacheContext](): CacheContext {
 *     return { client: this.cache, stack: this.customerKey };
 *   }
 *   @cache({ timeout: '5m' })
 *   async balance(accountId: string): Promise<Balance> { … }
 * }
 */
export const cacheContext: unique symbol = Symbol.for('@stowage/decorator.cacheContext');

/** An object that supplies a {@link CacheContext} to its cached methods. */
export interface CacheContextProvider {
  /** The context; read on every call, so a getter may return per-request values. */
  readonly [cacheContext]: CacheContext | undefined;
}

// One store per process even when the ESM and the CommonJS build are both loaded: otherwise a
// framework that sets the scope through one copy would leave methods wrapped by the other copy
// without a tenant (they would bypass the cache, never leak, but silently stop caching).
const STORE_KEY = Symbol.for('@stowage/decorator.scopeStorage');
const globalSlots = globalThis as { [STORE_KEY]?: AsyncLocalStorage<CacheContext> };
const storage: AsyncLocalStorage<CacheContext> = (globalSlots[STORE_KEY] ??=
  new AsyncLocalStorage<CacheContext>());

/** Throws `CacheConfigError` naming the field when `value` is not a usable context. */
export function checkContext(value: unknown, what: string): CacheContext | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object') {
    throw new CacheConfigError(
      `${what} must be an object with \`client\`, \`stack\`, \`session\`…`,
    );
  }
  const context = value as Record<string, unknown>;
  const client = context['client'];
  if (
    client !== undefined &&
    (typeof client !== 'object' ||
      client === null ||
      typeof (client as { scoped?: unknown }).scoped !== 'function')
  ) {
    throw new CacheConfigError(`${what}.client must be a CacheClient`);
  }
  const level = context['storageLevel'];
  if (level !== undefined && !isStorageLevel(level)) {
    throw new CacheConfigError(
      `${what}.storageLevel must be StorageLevel.Service, Stack or Session; got ${typeof level === 'string' ? `'${level}'` : typeof level}`,
    );
  }
  for (const field of ['service', 'stack', 'session'] as const) {
    const id = context[field];
    if (id !== undefined && typeof id !== 'string') {
      throw new CacheConfigError(`${what}.${field} must be a string; got ${typeof id}`);
    }
  }
  return value;
}

/**
 * Runs `fn` with a request scope: cached calls made inside it, however deep in the async call
 * chain, take their client, storage level and scope ids from `scope` when neither their options
 * nor their instance set them. A web framework calls it once per request with the tenant and the
 * session. Nested scopes inherit the outer scope's fields and override the ones they set.
 *
 * @example
 * http.createServer((req, res) =>
 *   runWithCacheScope({ stack: tenantOf(req), session: sessionOf(req) }, () => handle(req, res)),
 * );
 */
export function runWithCacheScope<R>(scope: CacheContext, fn: () => R): R {
  const checked = checkContext(scope, '`scope`');
  if (checked === undefined) throw new CacheConfigError('`scope` must be an object');
  if (typeof fn !== 'function') throw new CacheConfigError('`fn` must be a function');
  const outer = storage.getStore();
  return storage.run(outer === undefined ? { ...checked } : { ...outer, ...checked }, fn);
}

/** The request scope set by {@link runWithCacheScope} around the current call, if any. */
export function getCacheScope(): CacheContext | undefined {
  return storage.getStore();
}

/**
 * The instance's own `defaultStorageLevel` field (Q2's `self.default_storage_level`), the last
 * word before Stack: a Q2 service ported as it is keeps its level without a `[cacheContext]`.
 */
function defaultStorageLevelOf(self: unknown): StorageLevel | undefined {
  if ((typeof self !== 'object' || self === null) && typeof self !== 'function') return undefined;
  const level = (self as { defaultStorageLevel?: unknown }).defaultStorageLevel;
  if (level === undefined || isStorageLevel(level)) return level;
  throw new CacheConfigError(
    `this.defaultStorageLevel must be StorageLevel.Service, Stack or Session; got ${typeof level === 'string' ? `'${level}'` : typeof level}`,
  );
}

/** A resolved context: every field decided. */
export interface ResolvedContext {
  client: CacheClient | undefined;
  storageLevel: StorageLevel | undefined;
  service: string | undefined;
  stack: string | undefined;
  session: string | undefined;
}

/**
 * Merges the three sources field by field: the first source that has a field (even set to
 * `undefined`, which lets a source clear an id) decides it.
 */
export function resolveContext(
  fromOptions: CacheContext | undefined,
  self: unknown,
): ResolvedContext {
  let fromInstance: CacheContext | undefined;
  if ((typeof self === 'object' && self !== null) || typeof self === 'function') {
    let provided: unknown;
    try {
      provided = (self as Partial<CacheContextProvider>)[cacheContext];
    } catch (error) {
      throw new CacheConfigError('this[cacheContext] threw', { cause: error });
    }
    fromInstance = checkContext(provided, 'this[cacheContext]');
  }
  const fromScope = storage.getStore();
  // Field by field, without a generic picker: a constant property name keeps each `in` check and
  // read monomorphic, and this runs on every call.
  const resolved: ResolvedContext = {
    client: fromScope?.client,
    storageLevel: fromScope?.storageLevel,
    service: fromScope?.service,
    stack: fromScope?.stack,
    session: fromScope?.session,
  };
  if (fromInstance !== undefined) overlay(resolved, fromInstance);
  if (fromOptions !== undefined) overlay(resolved, fromOptions);
  resolved.storageLevel ??= defaultStorageLevelOf(self);
  return resolved;
}

/** Lets every field that `source` has (even set to `undefined`) win over `resolved`'s. */
function overlay(resolved: ResolvedContext, source: CacheContext): void {
  if ('client' in source) resolved.client = source.client;
  if ('storageLevel' in source) resolved.storageLevel = source.storageLevel;
  if ('service' in source) resolved.service = source.service;
  if ('stack' in source) resolved.stack = source.stack;
  if ('session' in source) resolved.session = source.session;
}
