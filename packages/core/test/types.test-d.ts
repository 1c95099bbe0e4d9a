import { describe, expectTypeOf, it } from 'vitest';
import {
  CacheClient,
  getCache,
  isCacheError,
  StorageLevel,
  toTtlSeconds,
  type CacheBackend,
  type CacheError,
  type HitEvent,
  type RecentKey,
  type SetEvent,
  type Ttl,
  type WarningEvent,
} from '../src/index.js';

interface Rates {
  readonly eur: number;
}

declare const backend: CacheBackend;
const cache = new CacheClient<Rates>({ backend });
const untyped = new CacheClient({ backend });

describe('CacheClient types', () => {
  it('types get without a default as T | undefined', () => {
    expectTypeOf(cache.get('k')).toEqualTypeOf<Promise<Rates | undefined>>();
    expectTypeOf(untyped.get('k')).toEqualTypeOf<Promise<unknown>>();
  });

  it('types a read as the caller says, within what the client holds', () => {
    expectTypeOf(untyped.get<Rates>('k')).toEqualTypeOf<Promise<Rates | undefined>>();
    interface Gbp extends Rates {
      readonly gbp: number;
    }
    expectTypeOf(cache.get<Gbp>('k')).toEqualTypeOf<Promise<Gbp | undefined>>();
    // @ts-expect-error -- a string is not something this client holds
    void cache.get<string>('k');
  });

  it('types get with a default as T | D', () => {
    expectTypeOf(cache.get('k', 0)).toEqualTypeOf<Promise<Rates | number>>();
    expectTypeOf(cache.get('k', null)).toEqualTypeOf<Promise<Rates | null>>();
  });

  it('refuses a bare string where a list of keys belongs (it would iterate its characters)', () => {
    // @ts-expect-error a string is not a list of keys
    void cache.getMany('abc');
    // @ts-expect-error a string is not a list of keys
    void cache.deleteMany('abc');
    const either = (Math.random() > 0.5 ? 'a' : ['a']) as string | string[];
    // @ts-expect-error a value that may be a string is not a list of keys
    void cache.deleteMany(either);
    expectTypeOf(cache.deleteMany(new Set(['a']))).toEqualTypeOf<Promise<boolean>>();
    expectTypeOf(cache.getMany(['a'] as readonly string[])).toEqualTypeOf<
      Promise<Map<string, Rates>>
    >();
  });

  it('types getMany as a Map from string to T', () => {
    expectTypeOf(cache.getMany(['a', 'b'])).toEqualTypeOf<Promise<Map<string, Rates>>>();
  });

  it('types incr and decr by their delta: number in, number out; bigint in, bigint out', () => {
    expectTypeOf(cache.incr('n')).toEqualTypeOf<Promise<number | undefined>>();
    expectTypeOf(cache.incr('n', 5)).toEqualTypeOf<Promise<number | undefined>>();
    expectTypeOf(cache.incr('n', 5n)).toEqualTypeOf<Promise<bigint | undefined>>();
    expectTypeOf(cache.decr('n', 5n)).toEqualTypeOf<Promise<bigint | undefined>>();
    // @ts-expect-error a string is not a delta
    void cache.incr('n', '5');
  });

  it('checks values against T on writes', () => {
    expectTypeOf(cache.set('k', { eur: 1 })).toEqualTypeOf<Promise<boolean>>();
    // @ts-expect-error not a Rates
    void cache.set('k', { usd: 1 });
    expectTypeOf(cache.setMany({ a: { eur: 1 } })).toEqualTypeOf<Promise<string[]>>();
    expectTypeOf(cache.add('k', { eur: 1 })).toEqualTypeOf<Promise<boolean>>();
  });

  it('returns the exact value type from setAndReturn and getOrSet', () => {
    const special = { eur: 1, source: 'ecb' } as const;
    expectTypeOf(cache.setAndReturn('k', special)).toEqualTypeOf<Promise<typeof special>>();
    expectTypeOf(cache.getOrSet('k', async () => ({ eur: 2 }))).toEqualTypeOf<
      Promise<{ eur: number }>
    >();
  });

  it('keeps T on scoped clients and from getCache', () => {
    expectTypeOf(cache.scoped(StorageLevel.Stack, { stack: 'a' })).toEqualTypeOf<
      CacheClient<Rates>
    >();
    expectTypeOf(getCache<Rates>()).toEqualTypeOf<Promise<CacheClient<Rates>>>();
  });

  it('types event payloads by event name', () => {
    cache.on('hit', (event) => expectTypeOf(event).toEqualTypeOf<HitEvent>());
    cache.on('set', (event) => expectTypeOf(event).toEqualTypeOf<SetEvent>());
    cache.on('warning', (event) => expectTypeOf(event).toEqualTypeOf<WarningEvent>());
    // @ts-expect-error no such event
    cache.on('nope', () => undefined);
  });

  it('types recentKeys and the lifecycle', () => {
    expectTypeOf(cache.recentKeys()).toEqualTypeOf<RecentKey[]>();
    expectTypeOf(cache.bustRecent()).toEqualTypeOf<Promise<number>>();
    expectTypeOf(cache.close()).toEqualTypeOf<Promise<void>>();
    expectTypeOf(cache[Symbol.asyncDispose]).returns.toEqualTypeOf<Promise<void>>();
  });
});

describe('helper types', () => {
  it('accepts TTL strings with a unit and refuses others', () => {
    expectTypeOf<'5m'>().toMatchTypeOf<Ttl>();
    expectTypeOf<'500ms'>().toMatchTypeOf<Ttl>();
    expectTypeOf<30>().toMatchTypeOf<Ttl>();
    expectTypeOf<'5 minutes'>().not.toMatchTypeOf<Ttl>();
    expectTypeOf(toTtlSeconds).returns.toEqualTypeOf<number>();
  });

  it('narrows with isCacheError', () => {
    const error: unknown = new Error('x');
    if (isCacheError(error)) expectTypeOf(error).toEqualTypeOf<CacheError>();
  });

  it('types StorageLevel as its string literals', () => {
    expectTypeOf<StorageLevel>().toEqualTypeOf<'service' | 'stack' | 'session'>();
  });
});
