import { CacheConfigError } from '@stowage/core';
import { CachedCall, CONTROLLER } from './cached-call.js';
import { checkName, normalizeOptions, type CacheOptions } from './options.js';

/**
 * A cached function: same parameters as the original, always returns a Promise of its result.
 * Hits return a decoded copy of the stored value (JSON: a `Date` comes back as a string).
 */
export type CachedFunction<This, A extends unknown[], R> = (this: This, ...args: A) => Promise<R>;

/** The names of `O`'s methods that return a Promise (the ones `@cache` can decorate). */
export type CachedMethodName<O> = {
  [K in keyof O]-?: O[K] extends (...args: never) => Promise<unknown> ? K : never;
}[keyof O];

/** The parameters of method `K` of `O`. */
export type CachedMethodArgs<O, K extends keyof O> = O[K] extends (...args: infer A) => unknown
  ? A
  : never;

type Controlled = { readonly [CONTROLLER]?: CachedCall };

/** The part of the `reflect-metadata` polyfill that NestJS-style decorators use. */
interface ReflectMetadata {
  getOwnMetadataKeys?: (target: object) => unknown[];
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
}

/**
 * Wraps a controller in a function that keeps the original's name and length, and — when
 * `reflect-metadata` is loaded — the metadata other decorators (NestJS `@Get`, …) put on it, so
 * `@cache` may sit above or below them.
 */
export function wrapWith(
  controller: CachedCall,
  original: (...args: unknown[]) => unknown,
): (...args: unknown[]) => Promise<unknown> {
  const wrapper = function cachedWrapper(this: unknown, ...args: unknown[]): Promise<unknown> {
    return controller.call(this, args);
  };
  Object.defineProperty(wrapper, 'name', { value: original.name });
  Object.defineProperty(wrapper, 'length', { value: original.length });
  Object.defineProperty(wrapper, CONTROLLER, { value: controller });
  const reflect = Reflect as ReflectMetadata;
  if (
    typeof reflect.getOwnMetadataKeys === 'function' &&
    typeof reflect.getOwnMetadata === 'function' &&
    typeof reflect.defineMetadata === 'function'
  ) {
    for (const key of reflect.getOwnMetadataKeys(original)) {
      reflect.defineMetadata(key, reflect.getOwnMetadata(key, original), wrapper);
    }
  }
  return wrapper;
}

/**
 * Wraps a function so its results are cached: the higher-order form of `@cache`, for code without
 * decorators. The key is `[keyPrefix:]` + the function's name (or `key`) + a hash of the
 * arguments; the client and scope come from `options.context`, then `this[cacheContext]`, then
 * {@link runWithCacheScope}.
 *
 * @throws CacheConfigError for bad options, or an anonymous function without a string `key`
 *   (anonymous functions would share one name, and so one another's entries).
 * @example
 * const getRate = cached(fetchRate, { context: { client: cache }, storageLevel: StorageLevel.Service, timeout: '5m' });
 * await getRate('EUR'); // runs fetchRate once, then hits for five minutes
 */
export function cached<This, A extends unknown[], R>(
  fn: (this: This, ...args: A) => R,
  options?: CacheOptions<A, This>,
): CachedFunction<This, A, Awaited<R>> {
  if (typeof fn !== 'function') {
    throw new CacheConfigError(`\`fn\` must be a function; got ${typeof fn}`);
  }
  const normalized = normalizeOptions(options);
  const original = fn as (...args: unknown[]) => unknown;
  let name = original.name;
  if (typeof normalized.key !== 'string') {
    name = checkName(
      original.name,
      'the name of a cached function (give it a name or pass a string `key`)',
    );
  }
  const controller = new CachedCall(original, normalized, { nameOf: () => name, label: name });
  return wrapWith(controller, original) as CachedFunction<This, A, Awaited<R>>;
}

/** The controller of a cached function, also when it comes from another copy of this package. */
function controllerIn(fn: unknown): CachedCall | undefined {
  if (typeof fn !== 'function') return undefined;
  const controller = (fn as Controlled)[CONTROLLER];
  return typeof controller?.invalidateAll === 'function' ? controller : undefined;
}

/** Finds the controller of a cached function, or of method `method` of an instance. */
function locate(
  target: unknown,
  rest: readonly unknown[],
): { controller: CachedCall; self: unknown; args: unknown[] } {
  const own = controllerIn(target);
  if (own !== undefined) return { controller: own, self: undefined, args: rest.slice() };
  const method = rest[0];
  if (
    ((typeof target === 'object' && target !== null) || typeof target === 'function') &&
    (typeof method === 'string' || typeof method === 'symbol')
  ) {
    const controller = controllerIn((target as Record<PropertyKey, unknown>)[method]);
    if (controller !== undefined) return { controller, self: target, args: rest.slice(1) };
    throw new CacheConfigError(
      `\`${String(method)}\` is not a method decorated with @cache on this object`,
    );
  }
  throw new CacheConfigError(
    'expected a function returned by cached(), or an instance and the name of a method decorated with @cache',
  );
}

/**
 * Deletes the cached entry of one call, in the scope the call would use (its context: options,
 * instance, request scope). Resolves `true` when an entry existed. Unlike calls, busting does
 * not fail open: a backend or scope problem is thrown, so a failed bust is never silent.
 *
 * @example
 * await invalidate(getRate, 'EUR');                  // a cached() function
 * await invalidate(accounts, 'balance', accountId);  // a decorated method of an instance
 */
export function invalidate<A extends unknown[]>(
  fn: (...args: A) => Promise<unknown>,
  ...args: NoInfer<A>
): Promise<boolean>;
export function invalidate<O extends object, K extends CachedMethodName<O>>(
  instance: O,
  method: K,
  ...args: CachedMethodArgs<O, K>
): Promise<boolean>;
export async function invalidate(target: unknown, ...rest: unknown[]): Promise<boolean> {
  const { controller, self, args } = locate(target, rest);
  return controller.invalidate(self, args);
}

/**
 * Invalidates every cached entry of a function or decorated method in the scope a call would use
 * (one tenant, one session, or the service), whatever the arguments were, in every process that
 * shares the cache, without scanning the server: it stores a new generation for the function,
 * so older entries are never read again and expire by their TTL. Throws on failure.
 *
 * @example
 * await runWithCacheScope({ stack: 'acme' }, () => invalidateAll(accounts, 'balance'));
 */
export function invalidateAll(fn: (...args: never) => Promise<unknown>): Promise<void>;
export function invalidateAll<O extends object>(
  instance: O,
  method: CachedMethodName<O>,
): Promise<void>;
export async function invalidateAll(target: unknown, method?: unknown): Promise<void> {
  const { controller, self } = locate(target, method === undefined ? [] : [method]);
  return controller.invalidateAll(self);
}
