import type { DynamicModule, MiddlewareConsumer, NestModule, Provider } from '@nestjs/common';
import { Inject, Module } from '@nestjs/common';
import { getCache } from '@stowage/core';
import {
  checkAsyncOptions,
  checkGlobal,
  checkModuleOptions,
  type StowageModuleAsyncOptions,
  type StowageModuleOptions,
  type StowageRegistration,
  type StowageSetup,
} from './options.js';
import { scopeMiddleware } from './scope-middleware.js';
import { STOWAGE_CLIENT, STOWAGE_SETUP } from './tokens.js';

/** Turns checked options into the setup: the app's client, or one `getCache` creates. */
async function resolveSetup(options: StowageModuleOptions<unknown>): Promise<StowageSetup> {
  const scope = options.scope;
  if (options.client !== undefined) return { client: options.client, owned: false, scope };
  return { client: await getCache(options.cache), owned: true, scope };
}

/** The providers both forms share: the client token reads the setup's client. */
function moduleOf(
  setup: Provider,
  registration: { global: boolean; imports?: DynamicModule['imports'] },
): DynamicModule {
  const client: Provider = {
    provide: STOWAGE_CLIENT,
    useFactory: (resolved: StowageSetup) => resolved.client,
    inject: [STOWAGE_SETUP],
  };
  return {
    module: StowageModule,
    global: registration.global,
    imports: registration.imports ?? [],
    providers: [setup, client],
    exports: [STOWAGE_CLIENT],
  };
}

/**
 * The NestJS module of Stowage: provides a root `CacheClient` under `STOWAGE_CLIENT` (inject it
 * with `@InjectCache()`), runs every HTTP request inside a request scope with that client and the
 * request's tenant and session (so `@cache` methods need no `[cacheContext]`), and closes the
 * client on application shutdown when the module created it.
 */
export class StowageModule implements NestModule {
  readonly #setup: StowageSetup;

  /** Created by Nest; use {@link StowageModule.forRoot} or {@link StowageModule.forRootAsync}. */
  constructor(setup: StowageSetup) {
    this.#setup = setup;
  }

  /**
   * Registers the module with options known at import time. Throws `CacheConfigError` for bad
   * options before anything connects.
   *
   * @example
   * StowageModule.forRoot({
   *   cache: { url: 'redis://127.0.0.1:6379', prefix: 'billing' },
   *   scope: (req: Request) => ({ stack: req.header('x-tenant') }),
   *   global: true,
   * })
   */
  static forRoot<R>(options: StowageModuleOptions<R> & StowageRegistration): DynamicModule {
    const where = 'StowageModule.forRoot';
    const checked = checkModuleOptions(options, where);
    const global = checkGlobal(options.global, where);
    return moduleOf(
      { provide: STOWAGE_SETUP, useFactory: () => resolveSetup(checked) },
      { global },
    );
  }

  /**
   * Registers the module with options from other providers (a config service): `useFactory`
   * receives the providers named in `inject` and returns the same options as `forRoot`.
   *
   * @example
   * StowageModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({ cache: { url: config.get('CACHE_URL') } }),
   * })
   */
  static forRootAsync<R>(
    options: StowageModuleAsyncOptions<R> & StowageRegistration,
  ): DynamicModule {
    const checked = checkAsyncOptions(options);
    const global = checkGlobal(options.global, 'StowageModule.forRootAsync');
    const factory = checked.useFactory as (...args: unknown[]) => unknown;
    const setup: Provider = {
      provide: STOWAGE_SETUP,
      useFactory: async (...args: unknown[]) =>
        resolveSetup(
          checkModuleOptions(await factory(...args), 'the StowageModule.forRootAsync factory'),
        ),
      inject: checked.inject ?? [],
    };
    return moduleOf(setup, { global, imports: checked.imports });
  }

  /** Mounts the request-scope middleware on every route. */
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(scopeMiddleware(this.#setup)).forRoutes('*');
  }

  /**
   * Closes the client when the module created it (`cache` option); a client the app passed stays
   * open. Runs on `app.close()` and, with `app.enableShutdownHooks()`, on SIGTERM.
   */
  async onApplicationShutdown(): Promise<void> {
    if (this.#setup.owned) await this.#setup.client.close();
  }
}

// The package is compiled without legacy decorators, so Nest's decorators are applied as calls:
// the same metadata `@Module({})` and `@Inject(STOWAGE_SETUP)` on the constructor would write.
Module({})(StowageModule);
Inject(STOWAGE_SETUP)(StowageModule, undefined, 0);
