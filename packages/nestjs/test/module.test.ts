// StowageModule's registration: which client it provides, when it closes it, forRootAsync with a
// config provider, global registration, and the typed errors for bad options (before any I/O).
import 'reflect-metadata';
import { Inject, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient, CacheClosedError, CacheConfigError } from '@stowage/core';
import { RecordingBackend } from '@stowage/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { StowageModule, STOWAGE_CLIENT, type StowageModuleOptions } from '../src/index.js';
import {
  AfterInterceptor,
  headerScope,
  PlanController,
  PlanService,
  runs,
  runsOf,
  startApp,
  TenantGuard,
  type RunningApp,
} from './fixtures.js';

/** A stand-in for @nestjs/config's ConfigService: settings read from a map. */
@Injectable()
class ConfigService {
  readonly #values: Record<string, string> = { CACHE_PREFIX: 'cfg' };
  get(name: string): string | undefined {
    return this.#values[name];
  }
}

@Module({ providers: [ConfigService], exports: [ConfigService] })
class ConfigModule {}

/** A provider in another module that injects the client without importing StowageModule. */
@Injectable()
class Reports {
  readonly client: CacheClient;
  constructor(@Inject(STOWAGE_CLIENT) client: CacheClient) {
    this.client = client;
  }
}

@Module({ providers: [Reports], exports: [Reports] })
class ReportsModule {}

/** Writes to the cache in its own shutdown hook, which runs before StowageModule's. */
@Injectable()
class FlushOnShutdown {
  static flushed: boolean | undefined;
  readonly #client: CacheClient;
  constructor(@Inject(STOWAGE_CLIENT) client: CacheClient) {
    this.#client = client;
  }
  async onApplicationShutdown(): Promise<void> {
    FlushOnShutdown.flushed = await this.#client.set('last-words', 'bye');
  }
}

@Module({ providers: [FlushOnShutdown] })
class FlushModule {}

describe('StowageModule', () => {
  const started: RunningApp[] = [];
  afterEach(async () => {
    for (const running of started.splice(0)) await running.app.close();
    runs.clear();
  });
  async function start(...args: Parameters<typeof startApp>): Promise<RunningApp> {
    const running = await startApp(...args);
    started.push(running);
    return running;
  }

  it('closes a client it created from `cache` options on app.close()', async () => {
    const running = await start(StowageModule.forRoot({ cache: { url: 'memory://' } }));
    const client = running.app.get<CacheClient>(STOWAGE_CLIENT);
    expect(client).toBeInstanceOf(CacheClient);
    await client.set('k', 1);
    await running.app.close();
    started.length = 0;
    await expect(client.get('k')).rejects.toBeInstanceOf(CacheClosedError);
  });

  it.each([true, false])(
    "closes its client after the app's own shutdown hooks used it (global: %s)",
    async (global) => {
      const stowage = StowageModule.forRoot({ cache: { url: 'memory://' }, global });
      // Not global: the feature module imports StowageModule, as an app's modules would.
      const flush = global ? FlushModule : { module: FlushModule, imports: [stowage] };
      const running = await start(stowage, { imports: [flush] });
      const client = running.app.get<CacheClient>(STOWAGE_CLIENT);
      FlushOnShutdown.flushed = undefined;
      await running.app.close();
      started.length = 0;
      expect(FlushOnShutdown.flushed).toBe(true);
      await expect(client.get('last-words')).rejects.toBeInstanceOf(CacheClosedError);
    },
  );

  it('scopes requests under a global prefix', async () => {
    const client = new CacheClient({ backend: createMemoryBackend() });
    const moduleRef = await Test.createTestingModule({
      imports: [StowageModule.forRoot({ client, scope: headerScope })],
      controllers: [PlanController],
      providers: [PlanService, TenantGuard, AfterInterceptor],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false }).setGlobalPrefix('api/v1');
    await app.listen(0, '127.0.0.1');
    try {
      const url = await app.getUrl();
      for (const tenant of ['acme', 'acme', 'globex']) {
        const response = await fetch(`${url}/api/v1/plans/gold`, {
          headers: { 'x-tenant': tenant },
        });
        expect(await response.json()).toMatchObject({ tenant, run: 1 });
      }
    } finally {
      await app.close();
      await client.close();
    }
  });

  it('leaves a client the app passed open', async () => {
    const client = new CacheClient({ backend: createMemoryBackend() });
    const running = await start(StowageModule.forRoot({ client }));
    expect(running.app.get(STOWAGE_CLIENT)).toBe(client);
    await running.app.close();
    started.length = 0;
    await client.set('k', 1);
    expect(await client.get('k')).toBe(1);
    await client.close();
  });

  it('takes its options from a config provider with forRootAsync', async () => {
    const backend = new RecordingBackend();
    const running = await start(
      StowageModule.forRootAsync({
        imports: [ConfigModule],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          cache: { backend, prefix: config.get('CACHE_PREFIX') },
          scope: headerScope,
        }),
      }),
    );
    expect((await running.get('/plans/gold', { 'x-tenant': 'acme' })).body).toMatchObject({
      run: 1,
    });
    expect((await running.get('/plans/gold', { 'x-tenant': 'acme' })).body).toMatchObject({
      run: 1,
    });
    expect(runsOf('plan', 'acme', 'gold')).toBe(1);
    const written = backend.calls.filter((call) => /^(set|add)/.test(call.op));
    expect(written.length).toBeGreaterThan(0);
    for (const call of written)
      expect(call.keys.every((key) => key.startsWith('cfg:stack=acme:'))).toBe(true);
    // The module created this client, so app.close() closes it (and the backend it owns).
    const client = running.app.get<CacheClient>(STOWAGE_CLIENT);
    await running.app.close();
    started.length = 0;
    await expect(client.get('k')).rejects.toBeInstanceOf(CacheClosedError);
  });

  it('is injectable in every module with global: true', async () => {
    const client = new CacheClient({ backend: createMemoryBackend() });
    const running = await start(StowageModule.forRoot({ client, global: true }), {
      imports: [ReportsModule],
    });
    expect(running.app.get(Reports).client).toBe(client);
    await client.close();
  });

  it('is not global by default', async () => {
    const client = new CacheClient({ backend: createMemoryBackend() });
    const compiling = Test.createTestingModule({
      imports: [StowageModule.forRoot({ client }), ReportsModule],
    }).compile();
    await expect(compiling).rejects.toThrow(/Reports/);
    await client.close();
  });

  it.each([
    ['no options', undefined, /options must be an object/],
    ['neither client nor cache', {}, /exactly one of `client`/],
    ['both client and cache', { client: {}, cache: {} }, /exactly one of `client`/],
    [
      'a client that is not a CacheClient',
      { client: { get() {} } },
      /`client` must be a CacheClient/,
    ],
    ['cache options that are not an object', { cache: 'memory://' }, /`cache` must be an object/],
    [
      'a scope that is not a function',
      { cache: {}, scope: 'x-tenant' },
      /`scope` must be a function/,
    ],
    ['a global that is not a boolean', { cache: {}, global: 'yes' }, /`global` must be a boolean/],
  ])('forRoot refuses %s with CacheConfigError', (_name, options, message) => {
    const call = (): unknown => StowageModule.forRoot(options as StowageModuleOptions);
    expect(call).toThrow(CacheConfigError);
    expect(call).toThrow(message);
  });

  it('forRootAsync refuses a missing factory and bad imports', () => {
    const bad = [{}, { useFactory: () => ({}), inject: 'ConfigService' }] as const;
    for (const options of bad) {
      expect(() => StowageModule.forRootAsync(options as never)).toThrow(CacheConfigError);
    }
  });

  it('fails the app start when the async factory returns bad options', async () => {
    const compiling = Test.createTestingModule({
      imports: [StowageModule.forRootAsync({ useFactory: async () => ({ scope: headerScope }) })],
    }).compile();
    await expect(compiling).rejects.toThrow(CacheConfigError);
    await expect(
      Test.createTestingModule({
        imports: [
          StowageModule.forRootAsync({ useFactory: () => ({ cache: { url: 'ftp://x' } }) }),
        ],
      }).compile(),
    ).rejects.toThrow(CacheConfigError);
  });
});
