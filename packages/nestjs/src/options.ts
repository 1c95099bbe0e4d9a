import type { IncomingMessage } from 'node:http';
import type { DynamicModule, InjectionToken, OptionalFactoryDependency } from '@nestjs/common';
import { CacheConfigError, type CacheClient, type GetCacheOptions } from '@stowage/core';

/** The tenant and session of one request, as the app's {@link StowageScopeResolver} finds them. */
export interface StowageRequestScope {
  /**
   * The tenant id (Q2's stack, `hq_credentials.customer_key`) for `StorageLevel.Stack`. Missing or
   * `undefined`: the request has no tenant, and Stack-level cached calls in it run uncached.
   */
  readonly stack?: string | undefined;
  /** The user session id for `StorageLevel.Session`. Missing: Session-level calls run uncached. */
  readonly session?: string | undefined;
}

/**
 * Reads the tenant and session of a request (Express's `Request`, Fastify's raw request, …), or
 * resolves them (a session store, a token check). Return `undefined` for a request without
 * either. Throw or reject (for example with Nest's `BadRequestException`) to refuse the request:
 * the error goes through Nest's exception filters before any guard or handler runs.
 */
export type StowageScopeResolver<R = IncomingMessage> = (
  request: R,
) => StowageRequestScope | undefined | Promise<StowageRequestScope | undefined>;

/** Options of `StowageModule.forRoot`, and what a `forRootAsync` factory returns. */
export interface StowageModuleOptions<R = IncomingMessage> {
  /**
   * A client the app built and owns. The module provides it and never closes it. Give exactly one
   * of `client` and `cache`.
   */
  readonly client?: CacheClient | undefined;
  /**
   * Options for `getCache` from `@stowage/core` (`{}` reads `CACHE_URL`, else memory): the module
   * creates the client when the app starts and closes it on application shutdown. Give exactly one
   * of `client` and `cache`.
   */
  readonly cache?: GetCacheOptions | undefined;
  /**
   * Reads each request's tenant and session. Every HTTP request runs inside a request scope with
   * the module's client and these ids, so `@cache` methods of providers and controllers find both.
   * @default none: every request runs with the client and no tenant or session
   */
  readonly scope?: StowageScopeResolver<R> | undefined;
}

/** Options of `StowageModule.forRootAsync`: a factory of {@link StowageModuleOptions}. */
export interface StowageModuleAsyncOptions<R = IncomingMessage> {
  /** Modules whose providers the factory injects (for example `ConfigModule`). @default [] */
  readonly imports?: DynamicModule['imports'];
  /** Tokens of the providers passed to `useFactory`, in order. @default [] */
  readonly inject?: (InjectionToken | OptionalFactoryDependency)[] | undefined;
  /** Returns the module options; may be async. Called once, when the app starts. */
  readonly useFactory: (
    ...args: never[]
  ) => StowageModuleOptions<R> | Promise<StowageModuleOptions<R>>;
}

/** Options the two `forRoot` forms share: where the module is visible. */
export interface StowageRegistration {
  /**
   * Registers the module globally, so `STOWAGE_CLIENT` is injectable in every module without
   * importing `StowageModule` there. @default false
   */
  readonly global?: boolean | undefined;
}

/** What the module resolved: the client, whether the module created it, the resolver. */
export interface StowageSetup {
  readonly client: CacheClient;
  readonly owned: boolean;
  readonly scope: StowageScopeResolver<unknown> | undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** A `CacheClient` of any copy of `@stowage/core` (ESM or CommonJS): checked by shape. */
function isClient(value: unknown): value is CacheClient {
  return (
    isObject(value) &&
    typeof value['scoped'] === 'function' &&
    typeof value['getOrSet'] === 'function' &&
    typeof value['close'] === 'function'
  );
}

/**
 * Checks module options before any I/O and throws `CacheConfigError` naming what is wrong.
 * `where` names the call (`StowageModule.forRoot` or the factory of `forRootAsync`).
 */
export function checkModuleOptions(value: unknown, where: string): StowageModuleOptions<unknown> {
  if (!isObject(value)) {
    throw new CacheConfigError(`${where}: options must be an object with \`client\` or \`cache\``);
  }
  const { client, cache, scope } = value;
  if ((client === undefined) === (cache === undefined)) {
    throw new CacheConfigError(
      `${where}: give exactly one of \`client\` (a CacheClient the app owns) and \`cache\` (getCache options; the module creates and closes the client)`,
    );
  }
  if (client !== undefined && !isClient(client)) {
    throw new CacheConfigError(`${where}: \`client\` must be a CacheClient; got ${typeof client}`);
  }
  if (cache !== undefined && !isObject(cache)) {
    throw new CacheConfigError(
      `${where}: \`cache\` must be an object of getCache options; got ${typeof cache}`,
    );
  }
  if (scope !== undefined && typeof scope !== 'function') {
    throw new CacheConfigError(
      `${where}: \`scope\` must be a function (request) => ({ stack, session }); got ${typeof scope}`,
    );
  }
  return value;
}

/** Checks `global` and throws `CacheConfigError` when it is not a boolean. */
export function checkGlobal(value: unknown, where: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new CacheConfigError(`${where}: \`global\` must be a boolean; got ${typeof value}`);
  }
  return value;
}

/** Checks `forRootAsync` options (the factory's result is checked when it resolves). */
export function checkAsyncOptions(value: unknown): StowageModuleAsyncOptions<unknown> {
  const where = 'StowageModule.forRootAsync';
  if (!isObject(value)) {
    throw new CacheConfigError(`${where}: options must be an object with \`useFactory\``);
  }
  if (typeof value['useFactory'] !== 'function') {
    throw new CacheConfigError(`${where}: \`useFactory\` must be a function`);
  }
  for (const field of ['imports', 'inject'] as const) {
    if (value[field] !== undefined && !Array.isArray(value[field])) {
      throw new CacheConfigError(`${where}: \`${field}\` must be an array`);
    }
  }
  return value as unknown as StowageModuleAsyncOptions<unknown>;
}
