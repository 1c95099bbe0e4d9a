import { CacheConfigError } from '@stowage/core';
import { CachedCall } from './cached-call.js';
import { wrapWith } from './cached.js';
import {
  checkName,
  normalizeOptions,
  type CacheOptions,
  type NormalizedOptions,
} from './options.js';

/** An async method with parameters `A` and result `R`. */
type AsyncMethod<This, A extends unknown[], R> = (this: This, ...args: A) => Promise<R>;

/**
 * What `@cache(options)` returns: a method decorator for TC39 standard decorators (TypeScript ≥ 5
 * without `experimentalDecorators`, esbuild, tsx, vitest) and for legacy `experimentalDecorators`
 * (NestJS, TypeScript 4 style). The form is detected at run time from the arguments.
 *
 * @typeParam A - the parameters a `key` function accepts; the method's must match.
 * @typeParam Self - what a `context` function accepts as `this`; the class must match.
 */
export interface CacheDecorator<A extends unknown[] = unknown[], Self = unknown> {
  /** TC39 standard decorator form: `(method, context)`. */
  <This extends Self, Args extends A, R>(
    method: AsyncMethod<This, Args, R>,
    context: ClassMethodDecoratorContext<This, AsyncMethod<This, Args, R>>,
  ): AsyncMethod<This, Args, R>;
  /** Legacy `experimentalDecorators` form: `(prototype, name, descriptor)`. */
  <Args extends A, R>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<(...args: Args) => Promise<R>>,
  ): TypedPropertyDescriptor<(...args: Args) => Promise<R>>;
}

const DEFAULTS: NormalizedOptions = normalizeOptions({});

function isStandardContext(value: unknown): value is DecoratorContext {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { kind?: unknown }).kind === 'string' &&
    'name' in value
  );
}

function isDescriptor(value: unknown): value is PropertyDescriptor {
  return typeof value === 'object' && value !== null && ('value' in value || 'get' in value);
}

function memberName(name: string | symbol): string {
  return typeof name === 'symbol' ? `[${name.description ?? 'symbol'}]` : name;
}

/** A decorated member: its name, the function that replaced it, whether it is static. */
interface Member {
  readonly name: string | symbol;
  readonly wrapper: unknown;
  readonly isStatic: boolean;
}

/** The name of the class that defines `member.wrapper` as `member.name`, from `self` upwards. */
function definingClass(self: unknown, member: Member): string | undefined {
  const { name, wrapper, isStatic } = member;
  let owner: unknown = self;
  while ((typeof owner === 'object' && owner !== null) || typeof owner === 'function') {
    if (Object.getOwnPropertyDescriptor(owner, name)?.value === wrapper) {
      return isStatic
        ? (owner as { name?: string }).name
        : (owner as { constructor?: { name?: string } }).constructor?.name;
    }
    owner = Object.getPrototypeOf(owner);
  }
  return undefined;
}

function decorateStandard(
  method: unknown,
  context: DecoratorContext,
  options: NormalizedOptions,
): unknown {
  if (context.kind !== 'method' || typeof method !== 'function') {
    throw new CacheConfigError(`@cache decorates methods; it was put on a ${context.kind}`);
  }
  const { name, static: isStatic, private: isPrivate } = context;
  const member = memberName(name);
  let qualified: string | undefined;
  // TC39 decorators do not see the class, so its name is looked up on the first call: the class
  // whose prototype (or constructor, for static methods) holds this method, so subclasses share
  // the keys of the class that defines it.
  const nameOf = (self: unknown): string => {
    if (qualified === undefined) {
      const found = isPrivate ? undefined : definingClass(self, { name, wrapper, isStatic });
      const fallback = isStatic
        ? (self as { name?: string } | undefined)?.name
        : (self as { constructor?: { name?: string } } | undefined)?.constructor?.name;
      const className = checkName(
        found ?? fallback,
        `the class name of @cache method ${member} (anonymous classes need a string \`key\`)`,
      );
      if (found === undefined) return `${className}.${member}`;
      // One string from here on: a call compares it with its scope's name, and the same string
      // compares by identity.
      qualified = `${className}.${member}`;
    }
    return qualified;
  };
  const original = method as (...args: unknown[]) => unknown;
  const wrapper = wrapWith(new CachedCall(original, options, { nameOf, label: member }), original);
  return wrapper;
}

/** The arguments a legacy (`experimentalDecorators`) method decorator receives. */
interface LegacyTarget {
  readonly target: unknown;
  readonly key: unknown;
  readonly descriptor: PropertyDescriptor;
}

function decorateLegacy(legacy: LegacyTarget, options: NormalizedOptions): PropertyDescriptor {
  const { target, key, descriptor } = legacy;
  const method: unknown = descriptor.value;
  if (typeof method !== 'function') {
    throw new CacheConfigError('@cache decorates methods; it was put on an accessor or a field');
  }
  const member = memberName(key as string | symbol);
  const className =
    typeof target === 'function'
      ? (target as { name?: string }).name
      : (target as { constructor?: { name?: string } }).constructor?.name;
  let qualified = `?.${member}`;
  if (typeof options.key !== 'string') {
    qualified = `${checkName(className, `the class name of @cache method ${member} (anonymous classes need a string \`key\`)`)}.${member}`;
  }
  const original = method as (...args: unknown[]) => unknown;
  const controller = new CachedCall(original, options, {
    nameOf: () => qualified,
    label: qualified,
  });
  return { ...descriptor, value: wrapWith(controller, original) };
}

function apply(args: readonly unknown[], options: NormalizedOptions): unknown {
  if (args.length === 2 && isStandardContext(args[1])) {
    return decorateStandard(args[0], args[1], options);
  }
  if (args.length === 3 && isDescriptor(args[2])) {
    return decorateLegacy({ target: args[0], key: args[1], descriptor: args[2] }, options);
  }
  return undefined;
}

/**
 * Caches the results of an async method (Q2's `@cache`). Use it bare, `@cache`, or with options,
 * `@cache({ timeout: '10m', storageLevel: StorageLevel.Session })`. Works with TC39 standard
 * decorators and with legacy `experimentalDecorators`. The method keeps its type; it must return
 * a Promise (a decorator cannot change a declared type — wrap sync functions with `cached()`).
 *
 * Key: `[keyPrefix:]ClassName.method` (or `key`) + `:` + a hash of the arguments, in the scope
 * of the storage level; the client and scope ids come from the `context` option, the instance's
 * `[cacheContext]`, or {@link runWithCacheScope}.
 *
 * @example
 * class Rates {
 *   @cache({ timeout: '5m', storageLevel: StorageLevel.Service })
 *   async lookup(currency: string): Promise<Rate> { … }
 * }
 */
export function cache<This, Args extends unknown[], R>(
  method: AsyncMethod<This, Args, R>,
  context: ClassMethodDecoratorContext<This, AsyncMethod<This, Args, R>>,
): AsyncMethod<This, Args, R>;
export function cache<Args extends unknown[], R>(
  target: object,
  propertyKey: string | symbol,
  descriptor: TypedPropertyDescriptor<(...args: Args) => Promise<R>>,
): TypedPropertyDescriptor<(...args: Args) => Promise<R>>;
export function cache<A extends unknown[] = unknown[], Self = unknown>(
  options?: CacheOptions<A, Self>,
): CacheDecorator<A, Self>;
export function cache(...args: unknown[]): unknown {
  if (args.length > 1) {
    const decorated = apply(args, DEFAULTS);
    if (decorated === undefined) {
      throw new CacheConfigError(
        '@cache was applied to something that is not a class method; use @cache or @cache({ … })',
      );
    }
    return decorated;
  }
  if (typeof args[0] === 'function') {
    throw new CacheConfigError(
      'cache(options) takes an options object; to cache a plain function use cached(fn, options)',
    );
  }
  const options = normalizeOptions(args[0]);
  return (...inner: unknown[]): unknown => {
    const decorated = apply(inner, options);
    if (decorated === undefined) {
      throw new CacheConfigError(
        '@cache({ … }) was applied to something that is not a class method',
      );
    }
    return decorated;
  };
}
