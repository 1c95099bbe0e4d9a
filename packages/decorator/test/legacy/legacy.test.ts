// Legacy `experimentalDecorators` (NestJS): this folder's tsconfig turns them on, so esbuild
// calls decorators as (prototype, name, descriptor) here.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { CacheConfigError, StorageLevel } from '@stowage/core';
import {
  cache,
  cacheContext,
  invalidate,
  invalidateAll,
  runWithCacheScope,
  type CacheContext,
} from '../../src/index.js';
import { errorLog, memoryClient } from '../helpers.js';

const conventions: number[] = [];
function probe(...args: unknown[]): void {
  conventions.push(args.length);
}

describe('@cache with experimentalDecorators', () => {
  it('is compiled with the legacy calling convention', () => {
    class Probed {
      @probe
      method(): void {}
    }
    expect(Probed).toBeTypeOf('function');
    expect(conventions).toEqual([3]);
  });

  it('caches bare and with options, keyed by Class.method, in the instance scope', async () => {
    const { client } = memoryClient();
    class AccountsService {
      runs = 0;
      readonly customerKey: string;
      constructor(customerKey: string) {
        this.customerKey = customerKey;
      }
      get [cacheContext](): CacheContext {
        return { client, stack: this.customerKey };
      }
      @cache
      async balance(account: string): Promise<string> {
        this.runs++;
        return `${this.customerKey}:${account}`;
      }
      @cache({ storageLevel: StorageLevel.Service, timeout: '10m' })
      async holidays(year: number): Promise<number[]> {
        this.runs++;
        return [year];
      }
    }
    const acme = new AccountsService('acme');
    const globex = new AccountsService('globex');
    expect(await Promise.all([acme.balance('a'), globex.balance('a'), acme.balance('a')])).toEqual([
      'acme:a',
      'globex:a',
      'acme:a',
    ]);
    await acme.holidays(2026);
    await globex.holidays(2026);
    expect(acme.runs + globex.runs).toBe(3);
    expect(
      client
        .recentKeys()
        .map((entry) => entry.fullKey)
        .filter((key) => !key.endsWith(':version'))
        .map((key) => key.split(':').slice(0, 2).join(':')),
    ).toEqual([
      'stack=acme:AccountsService.balance',
      'stack=globex:AccountsService.balance',
      'service=billing:AccountsService.holidays',
    ]);
    expectTypeOf(acme.balance).toEqualTypeOf<(account: string) => Promise<string>>();
  });

  it('caches static methods under the class name and busts them', async () => {
    const { client } = memoryClient();
    let runs = 0;
    class Catalog {
      @cache({ context: { client } })
      static async item(id: string): Promise<string> {
        runs++;
        return id;
      }
    }
    await runWithCacheScope({ stack: 'acme' }, async () => {
      await Catalog.item('x');
      await Catalog.item('x');
      expect(runs).toBe(1);
      expect(await invalidate(Catalog, 'item', 'x')).toBe(true);
      await Catalog.item('x');
      await invalidateAll(Catalog, 'item');
      await Catalog.item('x');
    });
    expect(runs).toBe(3);
    expect(client.recentKeys().some((entry) => entry.fullKey.includes(':Catalog.item:v'))).toBe(
      true,
    );
  });

  it('reports a missing tenant and runs uncached', async () => {
    const { client } = memoryClient();
    const log = errorLog();
    class Service {
      runs = 0;
      readonly [cacheContext]: CacheContext = { client };
      @cache({ onError: log.onError })
      async data(): Promise<number> {
        return ++this.runs;
      }
    }
    const service = new Service();
    await service.data();
    await service.data();
    expect(service.runs).toBe(2);
    expect(log.codes()).toEqual(['E_CACHE_SCOPE', 'E_CACHE_SCOPE']);
  });

  it('keeps reflect-metadata that other decorators put on the method, in either order', async () => {
    // A minimal stand-in for the `reflect-metadata` polyfill NestJS loads.
    const store = new WeakMap<object, Map<unknown, unknown>>();
    const reflect = Reflect as unknown as Record<string, unknown>;
    const polyfill = {
      defineMetadata: (key: unknown, value: unknown, target: object) => {
        const own = store.get(target) ?? new Map<unknown, unknown>();
        store.set(target, own.set(key, value));
      },
      getOwnMetadata: (key: unknown, target: object) => store.get(target)?.get(key),
      getOwnMetadataKeys: (target: object) => [...(store.get(target)?.keys() ?? [])],
    };
    Object.assign(reflect, polyfill);
    try {
      // Like NestJS's @Get(path): metadata on the method function itself.
      const route =
        (path: string) =>
        (_target: object, _key: string | symbol, descriptor: PropertyDescriptor): void => {
          polyfill.defineMetadata('path', path, descriptor.value as object);
        };
      const { client } = memoryClient();
      class Controller {
        readonly [cacheContext]: CacheContext = { client, stack: 'acme' };
        @cache
        @route('/above')
        async above(): Promise<string> {
          return 'a';
        }
        @route('/below')
        @cache
        async below(): Promise<string> {
          return 'b';
        }
      }
      const controller = new Controller();
      expect(polyfill.getOwnMetadata('path', controller.above)).toBe('/above');
      expect(polyfill.getOwnMetadata('path', controller.below)).toBe('/below');
      expect(await controller.above()).toBe('a');
    } finally {
      for (const name of Object.keys(polyfill)) delete reflect[name];
    }
  });

  it('refuses accessors when the class is defined', () => {
    expect(() => {
      class Wrong {
        // @ts-expect-error -- @cache is for methods returning a Promise
        @cache
        get value(): Promise<number> {
          return Promise.resolve(1);
        }
      }
      return Wrong;
    }).toThrow(CacheConfigError);
  });
});
