// Where a cached call gets its client and scope: options, the instance, the request scope.
import { describe, expect, it } from 'vitest';
import { CacheConfigError, StorageLevel, type CacheClient } from '@stowage/core';
import {
  cache,
  cacheContext,
  cached,
  getCacheScope,
  runWithCacheScope,
  type CacheContext,
} from '../src/index.js';
import { counted, entryKeys, errorLog, memoryClient } from './helpers.js';

describe('context from the options', () => {
  it('takes a fixed context', async () => {
    const { client } = memoryClient();
    const { fn, runs } = counted((n: number) => n + 1);
    const next = cached(fn, { key: 'next', context: { client, stack: 'acme' } });
    await next(1);
    await next(1);
    expect(runs()).toBe(1);
    expect(entryKeys(client)).toEqual([expect.stringMatching(/^stack=acme:next:/)]);
  });

  it('takes a function of `this`', async () => {
    const { client } = memoryClient();
    class Handler {
      readonly customerKey: string;
      constructor(customerKey: string) {
        this.customerKey = customerKey;
      }
      @cache({ context: (self: Handler) => ({ client, stack: self.customerKey }) })
      async plan(): Promise<string> {
        return this.customerKey;
      }
    }
    expect(await new Handler('acme').plan()).toBe('acme');
    expect(await new Handler('globex').plan()).toBe('globex');
    expect(entryKeys(client)).toEqual([
      expect.stringMatching(/^stack=acme:Handler\.plan:/),
      expect.stringMatching(/^stack=globex:Handler\.plan:/),
    ]);
  });

  it('reports a context function that throws and runs uncached', async () => {
    const log = errorLog();
    const { fn, runs } = counted(() => 1);
    const read = cached(fn, {
      key: 'read',
      onError: log.onError,
      context: () => {
        throw new Error('no request');
      },
    });
    await read();
    await read();
    expect(runs()).toBe(2);
    expect(log.errors.map(({ error }) => error.message)).toEqual([
      'the `context` function threw',
      'the `context` function threw',
    ]);
  });
});

describe('context from the instance', () => {
  // A Q2-style handler: it owns its cache, its customer key and its session id.
  class Handler {
    runs = 0;
    readonly #cache: CacheClient;
    readonly #customerKey: string | undefined;
    readonly #sessionId: string | undefined;
    readonly #level: StorageLevel | undefined;
    constructor(
      cache: CacheClient,
      customerKey?: string,
      sessionId?: string,
      level?: StorageLevel,
    ) {
      this.#cache = cache;
      this.#customerKey = customerKey;
      this.#sessionId = sessionId;
      this.#level = level;
    }
    get [cacheContext](): CacheContext {
      return {
        client: this.#cache,
        stack: this.#customerKey,
        session: this.#sessionId,
        storageLevel: this.#level,
      };
    }
    @cache
    async accounts(): Promise<number> {
      return ++this.runs;
    }
    @cache({ storageLevel: StorageLevel.Session })
    async cart(): Promise<number> {
      return ++this.runs;
    }
    @cache({ storageLevel: StorageLevel.Service })
    async holidays(): Promise<number> {
      return ++this.runs;
    }
  }

  it('scopes by the instance: Stack by default, the explicit level, or the instance default', async () => {
    const { client } = memoryClient();
    await new Handler(client, 'acme', 's1').accounts();
    await new Handler(client, 'acme', 's1').cart();
    await new Handler(client, 'acme', 's1').holidays();
    await new Handler(client, 'acme', 's1', StorageLevel.Session).accounts();
    // Up to the function name: a session's entries live inside its tenant.
    expect(entryKeys(client).map((key) => /^(.*?Handler\.\w+)/.exec(key)?.[1])).toEqual([
      'stack=acme:Handler.accounts',
      'stack=acme:session=s1:Handler.cart',
      'service=billing:Handler.holidays',
      'stack=acme:session=s1:Handler.accounts',
    ]);
  });

  it('never shares session entries between two tenants whose session ids coincide', async () => {
    const { client } = memoryClient();
    const acme = new Handler(client, 'acme', 's1');
    const globex = new Handler(client, 'globex', 's1');
    expect(await acme.cart()).toBe(1);
    expect(await globex.cart()).toBe(1); // its own entry, not acme's
    expect(await acme.cart()).toBe(1);
    expect(await globex.cart()).toBe(1);
    expect(acme.runs + globex.runs).toBe(2);
  });

  it('keeps tenants apart when handlers of two tenants run interleaved', async () => {
    const { client } = memoryClient();
    const acme = new Handler(client, 'acme');
    const globex = new Handler(client, 'globex');
    const results = await Promise.all([acme.accounts(), globex.accounts(), acme.accounts()]);
    expect(results).toEqual([1, 1, 1]);
    expect(acme.runs + globex.runs).toBe(2);
  });

  it('stops at an id the instance sets to undefined instead of taking the request scope', async () => {
    const { client } = memoryClient();
    const log = errorLog();
    class Anonymous {
      runs = 0;
      readonly [cacheContext]: CacheContext = { client, stack: undefined };
      @cache({ onError: log.onError })
      async data(): Promise<number> {
        return ++this.runs;
      }
    }
    const handler = new Anonymous();
    await runWithCacheScope({ stack: 'acme' }, () => handler.data());
    await runWithCacheScope({ stack: 'acme' }, () => handler.data());
    expect(handler.runs).toBe(2);
    expect(log.codes()).toEqual(['E_CACHE_SCOPE', 'E_CACHE_SCOPE']);
  });

  it('reports an instance context getter that throws, and runs uncached', async () => {
    const log = errorLog();
    class NotSignedIn {
      runs = 0;
      get [cacheContext](): CacheContext {
        throw new Error('no credentials');
      }
      @cache({ onError: log.onError })
      async data(): Promise<number> {
        return ++this.runs;
      }
    }
    const handler = new NotSignedIn();
    expect(await handler.data()).toBe(1);
    expect(log.errors[0]?.error.message).toBe('this[cacheContext] threw');
    expect((log.errors[0]?.error.cause as Error).message).toBe('no credentials');
  });

  it('rejects a malformed instance context as a configuration problem', async () => {
    const log = errorLog();
    class Broken {
      readonly [cacheContext] = { client: 'not a client' } as unknown as CacheContext;
      @cache({ onError: log.onError })
      async data(): Promise<number> {
        return 1;
      }
    }
    expect(await new Broken().data()).toBe(1);
    expect(log.errors[0]?.error).toBeInstanceOf(CacheConfigError);
    expect(log.errors[0]?.error.message).toBe('this[cacheContext].client must be a CacheClient');
  });

  it("falls back to the instance's own defaultStorageLevel (Q2's self.default_storage_level) before Stack", async () => {
    const { client } = memoryClient();
    class Ported {
      readonly defaultStorageLevel = StorageLevel.Service;
      @cache({ context: { client, service: 'billing', stack: 'acme' } })
      async holidays(): Promise<number> {
        return 1;
      }
      @cache({
        context: { client, service: 'billing', stack: 'acme' },
        storageLevel: StorageLevel.Stack,
      })
      async plan(): Promise<number> {
        return 2;
      }
      @cache({
        context: { client, service: 'billing', stack: 'acme', storageLevel: StorageLevel.Stack },
      })
      async rates(): Promise<number> {
        return 3;
      }
    }
    const ported = new Ported();
    await ported.holidays();
    await ported.plan();
    await ported.rates();
    expect(entryKeys(client).map((key) => /^(.*?Ported\.\w+)/.exec(key)?.[1])).toEqual([
      'service=billing:Ported.holidays',
      'stack=acme:Ported.plan',
      'stack=acme:Ported.rates',
    ]);
  });

  it('reports a defaultStorageLevel that is not a level, and still runs the method', async () => {
    const { client } = memoryClient();
    const log = errorLog();
    class Wrong {
      readonly defaultStorageLevel = 'tenant-ish';
      @cache({ context: { client, stack: 'acme' }, onError: log.onError })
      async data(): Promise<number> {
        return 1;
      }
    }
    expect(await new Wrong().data()).toBe(1);
    expect(log.errors[0]?.error).toBeInstanceOf(CacheConfigError);
    expect(log.errors[0]?.error.message).toMatch(
      /this\.defaultStorageLevel must be .*'tenant-ish'/,
    );
    expect(entryKeys(client)).toEqual([]);
  });
});

describe('context from the request scope', () => {
  it('is undefined outside runWithCacheScope and follows async calls inside it', async () => {
    expect(getCacheScope()).toBeUndefined();
    const seen = await runWithCacheScope({ stack: 'acme' }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return getCacheScope();
    });
    expect(seen).toEqual({ stack: 'acme' });
  });

  it('nests: the inner scope inherits the outer fields and overrides the ones it sets', () => {
    const { client } = memoryClient();
    const inner = runWithCacheScope({ client, stack: 'acme' }, () =>
      runWithCacheScope({ session: 's1' }, () =>
        runWithCacheScope({ stack: 'globex' }, () => getCacheScope()),
      ),
    );
    expect(inner).toEqual({ client, stack: 'globex', session: 's1' });
  });

  it('is overridden field by field by the instance and the options', async () => {
    const app = memoryClient().client;
    const tenantClient = memoryClient().client;
    const optionClient = memoryClient().client;
    class Service {
      readonly [cacheContext]: CacheContext = { client: tenantClient };
      @cache
      async fromInstance(): Promise<number> {
        return 1;
      }
      @cache({ context: { client: optionClient, stack: 'fixed' } })
      async fromOptions(): Promise<number> {
        return 2;
      }
    }
    const service = new Service();
    await runWithCacheScope({ client: app, stack: 'acme', session: 's1' }, async () => {
      await service.fromInstance();
      await service.fromOptions();
    });
    expect(entryKeys(app)).toEqual([]);
    expect(entryKeys(tenantClient)).toEqual([
      expect.stringMatching(/^stack=acme:Service\.fromInstance:/),
    ]);
    expect(entryKeys(optionClient)).toEqual([
      expect.stringMatching(/^stack=fixed:Service\.fromOptions:/),
    ]);
  });

  it('takes the default storage level from the scope', async () => {
    const { client } = memoryClient();
    const read = cached(async () => 1, { key: 'read' });
    await runWithCacheScope({ client, session: 's9', storageLevel: StorageLevel.Session }, read);
    expect(entryKeys(client)).toEqual([expect.stringMatching(/^session=s9:read:/)]);
  });

  it('validates the scope before running anything', () => {
    const run = (scope: unknown) => () => runWithCacheScope(scope as CacheContext, () => 1);
    expect(run(null)).toThrow('`scope` must be an object');
    expect(run({ client: {} })).toThrow('`scope`.client must be a CacheClient');
    expect(run({ stack: 42 })).toThrow('`scope`.stack must be a string; got number');
    expect(run({ storageLevel: 'tenant' })).toThrow(
      "`scope`.storageLevel must be StorageLevel.Service, Stack or Session; got 'tenant'",
    );
    expect(() => runWithCacheScope({}, 'nope' as never)).toThrow('`fn` must be a function');
  });
});

describe('missing pieces', () => {
  it('runs uncached and reports a missing client; strict throws it', async () => {
    const log = errorLog();
    const { fn, runs } = counted(() => 1);
    expect(await cached(fn, { key: 'lonely', onError: log.onError })()).toBe(1);
    expect(log.errors[0]?.error).toBeInstanceOf(CacheConfigError);
    expect(log.errors[0]?.error.message).toMatch(/^no cache client for lonely:/);
    await expect(cached(fn, { key: 'lonely', strict: true })()).rejects.toThrow(
      /^no cache client for lonely/,
    );
    expect(runs()).toBe(1);
  });

  it('reports a Service level without a service name', async () => {
    const { client } = memoryClient(undefined, { service: undefined });
    const log = errorLog();
    const read = cached(async () => 1, {
      key: 'read',
      storageLevel: StorageLevel.Service,
      context: { client },
      onError: log.onError,
    });
    await read();
    expect(log.codes()).toEqual(['E_CACHE_SCOPE']);
    const named = cached(async () => 1, {
      key: 'read',
      storageLevel: StorageLevel.Service,
      context: { client, service: 'ledger' },
    });
    await named();
    expect(entryKeys(client)).toEqual([
      expect.stringMatching(/^service=ledger:read$|^service=ledger:read:/),
    ]);
  });

  it('reports a scope id the key rules refuse, and runs uncached', async () => {
    const { client } = memoryClient();
    const log = errorLog();
    const { fn, runs } = counted(() => 1);
    const read = cached(fn, { key: 'read', context: { client }, onError: log.onError });
    await runWithCacheScope({ stack: 'acme corp' }, read);
    await runWithCacheScope({ stack: 'a:b' }, read);
    expect(runs()).toBe(2);
    expect(log.codes()).toEqual(['E_CACHE_SCOPE', 'E_CACHE_SCOPE']);
    expect(entryKeys(client)).toEqual([]);
  });
});
