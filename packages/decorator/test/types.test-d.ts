// Public types: decorated methods and cached functions keep their parameters and return a
// Promise of their result; misuse fails to compile.
import { describe, expectTypeOf, it } from 'vitest';
import { StorageLevel, type CacheClient } from '@stowage/core';
import {
  cache,
  cached,
  invalidate,
  invalidateAll,
  runWithCacheScope,
  type CacheContext,
  type CachedFunction,
} from '../src/index.js';

declare const client: CacheClient;

interface User {
  id: string;
  name: string;
}

class Users {
  @cache
  async byId(id: string): Promise<User> {
    return { id, name: 'x' };
  }

  @cache({ timeout: '5m', storageLevel: StorageLevel.Session })
  async search(query: { name?: string; limit: number }, page = 1): Promise<User[]> {
    return [{ id: String(page), name: query.name ?? '' }];
  }

  @cache({ key: (id: string, _include: boolean) => `user-${id}` })
  async withKey(id: string, include: boolean): Promise<string | null> {
    return include ? id : null;
  }

  @cache({ context: (self: Users) => ({ client, stack: self.tenant }) })
  async inTenant(): Promise<number> {
    return 1;
  }

  tenant = 'acme';

  @cache
  static async count(): Promise<number> {
    return 1;
  }
}

describe('@cache', () => {
  it('keeps parameter and return types of decorated methods', () => {
    const users = new Users();
    expectTypeOf(users.byId).parameters.toEqualTypeOf<[id: string]>();
    expectTypeOf(users.byId).returns.toEqualTypeOf<Promise<User>>();
    expectTypeOf(users.search).parameters.toEqualTypeOf<
      [query: { name?: string; limit: number }, page?: number]
    >();
    expectTypeOf(users.search).returns.resolves.toEqualTypeOf<User[]>();
    expectTypeOf(users.withKey).returns.resolves.toEqualTypeOf<string | null>();
    expectTypeOf(Users.count).returns.resolves.toBeNumber();
  });

  it('refuses methods that do not return a Promise', () => {
    class Sync {
      // @ts-expect-error -- a decorator cannot turn `number` into `Promise<number>`; use cached()
      @cache
      twice(n: number): number {
        return n * 2;
      }
    }
    expectTypeOf(Sync).toBeConstructibleWith();
  });

  it('checks a key function against the method parameters', () => {
    class Mismatch {
      // @ts-expect-error -- the key function takes a number, the method a string
      @cache({ key: (id: number) => String(id) })
      async load(id: string): Promise<string> {
        return id;
      }
    }
    expectTypeOf(Mismatch).toBeConstructibleWith();
  });

  it('checks a context function against the class', () => {
    class Other {
      // @ts-expect-error -- the context function expects a Users instance
      @cache({ context: (self: Users) => ({ stack: self.tenant }) })
      async load(): Promise<string> {
        return '';
      }
    }
    expectTypeOf(Other).toBeConstructibleWith();
  });

  it('refuses unknown or mistyped options', () => {
    // @ts-expect-error -- timeout is seconds or a unit string
    cache({ timeout: '5 minutes' });
    // @ts-expect-error -- storageLevel is a StorageLevel
    cache({ storageLevel: 'tenant' });
    // @ts-expect-error -- ttl, like timeout, is seconds or a unit string
    cache({ ttl: '5 minutes' });
    // `ttl` is core's name for Q2's `timeout`; StorageLevel.Tenant is Stack.
    cache({ ttl: '5m', storageLevel: StorageLevel.Tenant });
  });
});

describe('cached', () => {
  it('returns a function with the same parameters that resolves the result', () => {
    const sum = cached(function sum(a: number, b: number): number {
      return a + b;
    });
    expectTypeOf(sum).parameters.toEqualTypeOf<[a: number, b: number]>();
    expectTypeOf(sum).returns.toEqualTypeOf<Promise<number>>();
    const load = cached(async function load(id: string): Promise<User | undefined> {
      return { id, name: id };
    });
    expectTypeOf(load).returns.toEqualTypeOf<Promise<User | undefined>>();
    expectTypeOf(load).toMatchTypeOf<CachedFunction<unknown, [string], User | undefined>>();
  });

  it('types a key function from the wrapped function', () => {
    cached(
      async function find(id: string, _limit: number) {
        return id;
      },
      {
        key: (id, limit) => {
          expectTypeOf(id).toBeString();
          expectTypeOf(limit).toBeNumber();
          return id;
        },
      },
    );
  });
});

describe('busting', () => {
  it('types invalidate and invalidateAll for functions and methods', () => {
    const users = new Users();
    const load = cached(async function load(id: string, page: number) {
      return `${id}${page}`;
    });
    expectTypeOf(invalidate(load, 'a', 1)).toEqualTypeOf<Promise<boolean>>();
    // @ts-expect-error -- wrong argument type
    void invalidate(load, 'a', 'b');
    expectTypeOf(invalidate(users, 'byId', 'u1')).toEqualTypeOf<Promise<boolean>>();
    // @ts-expect-error -- byId takes a string
    void invalidate(users, 'byId', 1);
    // @ts-expect-error -- not a method of Users
    void invalidate(users, 'nope');
    expectTypeOf(invalidateAll(users, 'search')).toEqualTypeOf<Promise<void>>();
    expectTypeOf(invalidateAll(load)).toEqualTypeOf<Promise<void>>();
    expectTypeOf(invalidateAll(Users, 'count')).toEqualTypeOf<Promise<void>>();
  });
});

describe('runWithCacheScope', () => {
  it('returns what the function returns and takes a CacheContext', () => {
    expectTypeOf(runWithCacheScope({ stack: 'acme' }, () => 42)).toBeNumber();
    expectTypeOf(runWithCacheScope({ session: 's' }, async () => 'x')).resolves.toBeString();
    expectTypeOf<{ client: CacheClient; stack: string }>().toMatchTypeOf<CacheContext>();
    // @ts-expect-error -- ids are strings
    runWithCacheScope({ stack: 42 }, () => 1);
  });
});
