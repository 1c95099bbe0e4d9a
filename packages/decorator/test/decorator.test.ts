// The TC39 standard decorator form (this file is compiled without `experimentalDecorators`).
import { describe, expect, it } from 'vitest';
import { CacheConfigError, StorageLevel } from '@stowage/core';
import { cache, cacheContext, type CacheContext } from '../src/index.js';
import { entryKeys, errorLog, memoryClient } from './helpers.js';

describe('@cache (TC39 standard decorators)', () => {
  it('caches a method used bare, keyed by Class.method at the Stack level', async () => {
    const { client } = memoryClient();
    class Rates {
      runs = 0;
      readonly [cacheContext]: CacheContext = { client, stack: 'acme' };
      @cache
      async lookup(currency: string): Promise<number> {
        this.runs++;
        return currency.length;
      }
    }
    const rates = new Rates();
    expect(await rates.lookup('EUR')).toBe(3);
    expect(await rates.lookup('EUR')).toBe(3);
    expect(rates.runs).toBe(1);
    expect(entryKeys(client)).toEqual([
      expect.stringMatching(/^stack=acme:Rates\.lookup:v[\w-]{8}:[0-9a-f]{32}$/),
    ]);
  });

  it('accepts options', async () => {
    const { client } = memoryClient();
    class Rates {
      readonly [cacheContext]: CacheContext = { client };
      @cache({ storageLevel: StorageLevel.Service, keyPrefix: 'v2', timeout: '1m' })
      async lookup(): Promise<string> {
        return 'x';
      }
    }
    await new Rates().lookup();
    expect(entryKeys(client)).toEqual([
      expect.stringMatching(/^service=billing:v2:Rates\.lookup:v[\w-]{8}$/),
    ]);
  });

  it('keeps the method name and length, and `this`', async () => {
    const { client } = memoryClient();
    class Greeter {
      readonly [cacheContext]: CacheContext = { client, stack: 'acme' };
      readonly greeting = 'hello';
      @cache
      async greet(name: string, punctuation: string): Promise<string> {
        return `${this.greeting} ${name}${punctuation}`;
      }
    }
    const greeter = new Greeter();
    expect(greeter.greet.name).toBe('greet');
    expect(greeter.greet.length).toBe(2);
    expect(await greeter.greet('ann', '!')).toBe('hello ann!');
  });

  it('uses the defining class name, so subclasses share the entries of their base class', async () => {
    const { client } = memoryClient();
    let runs = 0;
    class Base {
      readonly [cacheContext]: CacheContext = { client, stack: 'acme' };
      @cache
      async load(id: number): Promise<number> {
        runs++;
        return id;
      }
    }
    class Child extends Base {}
    await new Child().load(1);
    await new Base().load(1);
    expect(runs).toBe(1);
    expect(entryKeys(client)).toEqual([expect.stringMatching(/^stack=acme:Base\.load:/)]);
  });

  it('never puts `this` in the key: two instances in one scope share entries', async () => {
    const { client } = memoryClient();
    let runs = 0;
    class Store {
      readonly id: number;
      constructor(id: number) {
        this.id = id;
      }
      readonly [cacheContext]: CacheContext = { client, stack: 'acme' };
      @cache
      async items(): Promise<number> {
        runs++;
        return this.id;
      }
    }
    expect(await new Store(1).items()).toBe(1);
    expect(await new Store(2).items()).toBe(1);
    expect(runs).toBe(1);
  });

  it('caches static, private and symbol-named methods', async () => {
    const { client } = memoryClient();
    const key = Symbol('lookup');
    let runs = 0;
    class Registry {
      static readonly [cacheContext]: CacheContext = { client, stack: 'acme' };
      @cache
      static async find(id: string): Promise<string> {
        runs++;
        return id;
      }
      readonly [cacheContext]: CacheContext = { client, stack: 'acme' };
      @cache
      async #secret(id: string): Promise<string> {
        runs++;
        return id;
      }
      async secret(id: string): Promise<string> {
        return this.#secret(id);
      }
      @cache
      async [key](id: string): Promise<string> {
        runs++;
        return id;
      }
    }
    const registry = new Registry();
    for (let i = 0; i < 2; i++) {
      await Registry.find('a');
      await registry.secret('a');
      await registry[key]('a');
    }
    expect(runs).toBe(3);
    expect(entryKeys(client).map((full) => full.split(':')[1])).toEqual([
      'Registry.find',
      'Registry.#secret',
      'Registry.[lookup]',
    ]);
  });

  it('rethrows errors of the method without caching them, to every waiting caller', async () => {
    const { client } = memoryClient();
    const log = errorLog();
    let runs = 0;
    class Flaky {
      readonly [cacheContext]: CacheContext = { client, stack: 'acme' };
      @cache({ onError: log.onError })
      async load(): Promise<string> {
        runs++;
        await Promise.resolve();
        if (runs === 1) throw new RangeError('upstream down');
        return 'ok';
      }
    }
    const flaky = new Flaky();
    const results = await Promise.allSettled([flaky.load(), flaky.load()]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError);
    expect(await flaky.load()).toBe('ok');
    expect(runs).toBe(2);
    expect(log.errors).toEqual([]);
  });

  it('reports an anonymous class at call time and runs uncached; a string key fixes it', async () => {
    const { client } = memoryClient();
    const log = errorLog();
    class Anonymous {
      runs = 0;
      readonly [cacheContext]: CacheContext = { client, stack: 'acme' };
      @cache({ onError: log.onError })
      async load(): Promise<number> {
        return ++this.runs;
      }
      @cache({ key: 'Anonymous.named', onError: log.onError })
      async named(): Promise<number> {
        return ++this.runs;
      }
    }
    // Transpilers name anonymous decorated classes (esbuild: `_a`), so blank the name by hand.
    Object.defineProperty(Anonymous, 'name', { value: '' });
    const instance = new Anonymous();
    await instance.load();
    await instance.load();
    expect(instance.runs).toBe(2);
    expect(log.codes()).toEqual(['E_CACHE_CONFIG', 'E_CACHE_CONFIG']);
    await instance.named();
    await instance.named();
    expect(instance.runs).toBe(3);
  });

  it('refuses fields, getters and accessors when the class is defined', () => {
    expect(() => {
      class Wrong {
        // @ts-expect-error -- @cache is for methods
        @cache
        value = 1;
      }
      return Wrong;
    }).toThrow(CacheConfigError);
    expect(() => {
      class Wrong {
        // @ts-expect-error -- @cache is for methods
        @cache({})
        get value(): Promise<number> {
          return Promise.resolve(1);
        }
      }
      return Wrong;
    }).toThrow(/decorates methods; it was put on a getter/);
  });

  it('refuses a plain function: that is what cached() is for', () => {
    // @ts-expect-error -- cache(options) takes options
    expect(() => cache(async () => 1)).toThrow(/cached\(fn, options\)/);
  });
});
