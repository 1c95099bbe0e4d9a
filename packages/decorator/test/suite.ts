// The decorator's behaviour against any backend. `memory.test.ts` runs it on the memory backend;
// a backend package's end-to-end test runs the same suite on a real server by passing its own
// `createBackend` (and `advanceTime: sleep`, since a server's clock cannot be moved).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheClient, StorageLevel, type Awaitable, type CacheBackend } from '@stowage/core';
import {
  cache,
  cacheContext,
  cached,
  getCacheScope,
  invalidate,
  invalidateAll,
  runWithCacheScope,
  type CacheContext,
} from '../src/index.js';
import { counted, errorLog, randomPrefix } from './helpers.js';

/** How the suite gets a backend and moves time. */
export interface DecoratorSuiteOptions {
  /** A backend for one test; every test uses its own random client prefix on it. */
  createBackend(): Awaitable<CacheBackend>;
  /** Moves the backend's clock forward (memory: an injected clock; a server: real sleep). */
  advanceTime(ms: number): Awaitable<void>;
}

export function describeDecoratorSuite(name: string, suite: DecoratorSuiteOptions): void {
  describe(`@stowage/decorator on ${name}`, () => {
    const clients: CacheClient[] = [];
    afterEach(async () => {
      for (const client of clients.splice(0)) await client.close();
    });

    /** A root client with a random prefix; several calls share the backend when asked to. */
    async function newClient(backend?: CacheBackend): Promise<CacheClient> {
      const client = new CacheClient({
        backend: backend ?? (await suite.createBackend()),
        prefix: randomPrefix(),
        service: 'billing',
        // Clients of one test share the backend, so only the first one closes it.
        ownsBackend: backend === undefined,
      });
      clients.push(client);
      return client;
    }

    /** A second client with the same prefix on the same backend: another process of the service. */
    function sibling(client: CacheClient): CacheClient {
      const other = new CacheClient({
        backend: client.backend,
        prefix: client.keyPrefix.slice(0, -1),
        service: 'billing',
        ownsBackend: false,
      });
      clients.push(other);
      return other;
    }

    describe('read-through', () => {
      it('runs the function on a miss and returns the stored copy on a hit', async () => {
        const client = await newClient();
        const { fn, runs } = counted((id: string) => ({ id, at: [1, 2] }));
        const lookup = cached(fn, { key: 'lookup', context: { client }, storageLevel: 'service' });
        expect(await lookup('a')).toEqual({ id: 'a', at: [1, 2] });
        expect(await lookup('a')).toEqual({ id: 'a', at: [1, 2] });
        expect(runs()).toBe(1);
      });

      it('keeps entries apart by arguments, and ignores object key order', async () => {
        const client = await newClient();
        const { fn, runs } = counted((query: Record<string, unknown>) => JSON.stringify(query));
        const search = cached(fn, { key: 'search', context: { client }, storageLevel: 'service' });
        expect(await search({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(
          '{"a":1,"b":[1,{"c":2,"d":3}]}',
        );
        expect(await search({ b: [1, { d: 3, c: 2 }], a: 1 })).toBe(
          '{"a":1,"b":[1,{"c":2,"d":3}]}',
        );
        expect(runs()).toBe(1);
        expect(await search({ a: 2 })).toBe('{"a":2}');
        expect(runs()).toBe(2);
      });

      it('does not store null unless cacheNullish, and never stores undefined', async () => {
        const client = await newClient();
        const context = { client, storageLevel: StorageLevel.Service };
        const nothing = counted((): null => null);
        const plain = cached(nothing.fn, { key: 'nothing', context });
        await plain();
        await plain();
        expect(nothing.runs()).toBe(2);

        const negative = counted((): null => null);
        const remembered = cached(negative.fn, { key: 'negative', context, cacheNullish: true });
        expect(await remembered()).toBeNull();
        expect(await remembered()).toBeNull();
        expect(negative.runs()).toBe(1);

        const missing = counted((): undefined => undefined);
        const absent = cached(missing.fn, { key: 'absent', context, cacheNullish: true });
        expect(await absent()).toBeUndefined();
        expect(await absent()).toBeUndefined();
        expect(missing.runs()).toBe(2);
      });

      it('expires entries after `timeout`', async () => {
        const client = await newClient();
        const { fn, runs } = counted(() => 'fresh');
        const read = cached(fn, {
          key: 'expiring',
          context: { client, storageLevel: StorageLevel.Service },
          timeout: 2,
        });
        await read();
        await suite.advanceTime(200);
        await read();
        expect(runs()).toBe(1);
        await suite.advanceTime(2800);
        await read();
        expect(runs()).toBe(2);
      });
    });

    describe('tenant safety', () => {
      it('never shows one tenant or session the result computed for another, under interleaving', async () => {
        const client = await newClient();
        class Profiles {
          runs = 0;
          @cache({ storageLevel: StorageLevel.Session })
          async me(): Promise<string> {
            this.runs++;
            const { stack, session } = getCacheScope() ?? {};
            // Finish in a different order than started, so results cross in flight.
            await sleep(stack === 'acme' ? 15 : 5);
            return `${stack}/${session}`;
          }

          @cache()
          async plan(): Promise<string> {
            this.runs++;
            const scope = getCacheScope();
            await sleep(scope?.stack === 'acme' ? 5 : 15);
            return `plan of ${scope?.stack}`;
          }
        }
        const profiles = new Profiles();
        const scopes = [
          { client, stack: 'acme', session: 's1' },
          { client, stack: 'acme', session: 's2' },
          { client, stack: 'globex', session: 's3' },
          { client, stack: 'globex', session: 's4' },
        ];
        for (let round = 0; round < 3; round++) {
          const results = await Promise.all(
            scopes.flatMap((scope) => [
              runWithCacheScope(scope, () => profiles.me()),
              runWithCacheScope(scope, () => profiles.plan()),
            ]),
          );
          expect(results).toEqual([
            'acme/s1',
            'plan of acme',
            'acme/s2',
            'plan of acme',
            'globex/s3',
            'plan of globex',
            'globex/s4',
            'plan of globex',
          ]);
        }
        // Four sessions and two tenants: six runs in the first round, only hits afterwards.
        expect(profiles.runs).toBe(6);
      });

      it('runs uncached and reports when the level has no id, never using a broader scope', async () => {
        const client = await newClient();
        const log = errorLog();
        const { fn, runs } = counted(() => 'secret');
        const scoped = cached(fn, {
          key: 'secret',
          storageLevel: StorageLevel.Session,
          onError: log.onError,
        });
        await runWithCacheScope({ client, stack: 'acme', session: 's1' }, () => scoped());
        await runWithCacheScope({ client, stack: 'acme' }, () => scoped());
        await runWithCacheScope({ client, stack: 'acme' }, () => scoped());
        expect(runs()).toBe(3);
        expect(log.codes()).toEqual(['E_CACHE_SCOPE', 'E_CACHE_SCOPE']);
        const stackLevel = counted(() => 'tenant data');
        const tenant = cached(stackLevel.fn, { key: 'tenant', onError: log.onError });
        await runWithCacheScope({ client }, () => tenant());
        await runWithCacheScope({ client }, () => tenant());
        expect(stackLevel.runs()).toBe(2);
        expect(log.codes()).toEqual([
          'E_CACHE_SCOPE',
          'E_CACHE_SCOPE',
          'E_CACHE_SCOPE',
          'E_CACHE_SCOPE',
        ]);
      });
    });

    describe('single-flight', () => {
      it('runs the function once for 100 concurrent calls with the same arguments', async () => {
        const client = await newClient();
        const { fn, runs } = counted((n: number) => n * 2, 20);
        const double = cached(fn, { key: 'double', context: { client, stack: 'acme' } });
        const results = await Promise.all(Array.from({ length: 100 }, () => double(21)));
        expect(results).toEqual(Array.from({ length: 100 }, () => 42));
        expect(runs()).toBe(1);
      });

      it('runs it for each call when singleFlight is off', async () => {
        const client = await newClient();
        const { fn, runs } = counted((n: number) => n * 2, 20);
        const double = cached(fn, {
          key: 'double',
          context: { client, stack: 'acme' },
          singleFlight: false,
        });
        await Promise.all(Array.from({ length: 10 }, () => double(21)));
        expect(runs()).toBeGreaterThan(1);
      });

      it('does not share a flight between tenants', async () => {
        const client = await newClient();
        const { fn, runs } = counted(() => 'x', 20);
        const read = cached(fn, { key: 'read', context: { client } });
        await Promise.all([
          runWithCacheScope({ stack: 'acme' }, () => read()),
          runWithCacheScope({ stack: 'globex' }, () => read()),
        ]);
        expect(runs()).toBe(2);
      });

      it('shares a flight within a root client, and the lease across root clients', async () => {
        const first = await newClient();
        // Another root client of the same service on the same backend and prefix (another
        // process, or a client with its own codec settings): same entry keys, its own flights,
        // but the same lease on the entry: it waits for the first run instead of its own.
        const second = sibling(first);
        const { fn, runs } = counted(() => 'x', 20);
        const read = cached(fn, { key: 'read-root' });
        await Promise.all([
          runWithCacheScope({ client: first, stack: 'acme' }, () => read()),
          runWithCacheScope({ client: first, stack: 'acme' }, () => read()),
          runWithCacheScope({ client: second, stack: 'acme' }, () => read()),
          runWithCacheScope({ client: second, stack: 'acme' }, () => read()),
        ]);
        expect(runs()).toBe(1);
      });
    });

    describe('leases', () => {
      /** A function that signals when it starts and takes `ms`. */
      function gated(ms: number): {
        fn: () => Promise<string>;
        runs: () => number;
        started: Promise<void>;
      } {
        let signal: () => void = () => {};
        const started = new Promise<void>((resolve) => {
          signal = resolve;
        });
        let runs = 0;
        const fn = async (): Promise<string> => {
          const run = ++runs;
          signal();
          await sleep(ms);
          return `run ${run}`;
        };
        return { fn, runs: () => runs, started };
      }

      it.each([
        ['a call', true],
        ['a singleFlight: false call', false],
      ])(
        'an invalidate() from another process while %s runs leaves no stale entry',
        async (_label, singleFlight) => {
          const first = await newClient();
          const second = sibling(first);
          const { fn, runs, started } = gated(60);
          const read = cached(fn, { key: `lease-inv-${singleFlight}`, singleFlight });
          const pending = runWithCacheScope({ client: first, stack: 'acme' }, () => read());
          await started;
          await runWithCacheScope({ client: second, stack: 'acme' }, () => invalidate(read));
          expect(await pending).toBe('run 1');
          // The run began before the invalidation: its result must not be served afterwards.
          expect(await runWithCacheScope({ client: second, stack: 'acme' }, () => read())).toBe(
            'run 2',
          );
          expect(runs()).toBe(2);
        },
      );

      it('singleFlight: false runs the function for a caller that finds the lease taken', async () => {
        const client = await newClient();
        const { fn, runs } = gated(30);
        const read = cached(fn, { key: 'lease-own', singleFlight: false });
        const results = await runWithCacheScope({ client, stack: 'acme' }, () =>
          Promise.all([read(), read()]),
        );
        expect(runs()).toBe(2);
        expect(new Set(results).size).toBe(2);
      });

      it('lease: false keeps single-flight within each process only', async () => {
        const first = await newClient();
        const second = sibling(first);
        const { fn, runs } = counted(() => 'x', 30);
        const read = cached(fn, { key: 'lease-off', lease: false });
        await Promise.all([
          runWithCacheScope({ client: first, stack: 'acme' }, () => read()),
          runWithCacheScope({ client: second, stack: 'acme' }, () => read()),
        ]);
        expect(runs()).toBe(2);
      });

      it('a bad lease option fails where the function is wrapped', () => {
        expect(() => cached(async () => 1, { lease: { ttl: -1 } })).toThrow(/lease\.ttl/);
      });
    });

    describe('busting', () => {
      class Accounts {
        runs = 0;
        readonly #context: CacheContext;
        constructor(context: CacheContext) {
          this.#context = context;
        }
        get [cacheContext](): CacheContext {
          return this.#context;
        }
        @cache({ timeout: '1h' })
        async balance(account: string): Promise<string> {
          this.runs++;
          return `${account}#${this.runs}`;
        }
      }

      it('invalidates one call and leaves the other arguments cached', async () => {
        const client = await newClient();
        const accounts = new Accounts({ client, stack: 'acme' });
        await accounts.balance('a');
        await accounts.balance('b');
        expect(await invalidate(accounts, 'balance', 'a')).toBe(true);
        expect(await accounts.balance('a')).toBe('a#3');
        expect(await accounts.balance('b')).toBe('b#2');
        expect(await invalidate(accounts, 'balance', 'zzz')).toBe(false);
      });

      it('invalidates every entry of a method in one scope, in every process', async () => {
        const client = await newClient();
        const acme = new Accounts({ client, stack: 'acme' });
        const globex = new Accounts({ client, stack: 'globex' });
        await acme.balance('a');
        await acme.balance('b');
        await globex.balance('a');
        // Another process of the service (its own client, its own remembered generations).
        const elsewhere = new Accounts({ client: sibling(client), stack: 'acme' });
        expect(await elsewhere.balance('a')).toBe('a#1');
        expect(elsewhere.runs).toBe(0);

        await invalidateAll(elsewhere, 'balance');
        expect(await acme.balance('a')).toBe('a#3');
        expect(await acme.balance('b')).toBe('b#4');
        expect(await globex.balance('a')).toBe('a#1');
        expect(globex.runs).toBe(1);
      });

      it('a tag bust from another client makes the next call run again and spares other tags', async () => {
        const client = await newClient();
        const { fn, runs } = counted((id: string) => `${id}:${Math.random()}`);
        const profile = cached(fn, {
          key: 'profile',
          tags: (id: string) => [`user:${id}`],
          context: { client, stack: 'acme' },
        });
        const a1 = await profile('a');
        const b1 = await profile('b');
        expect(await profile('a')).toBe(a1);
        expect(runs()).toBe(2);
        // Another process of the service busts the tag in the same scope (tags are scoped like keys).
        const other = sibling(client).scoped(StorageLevel.Stack, { stack: 'acme' });
        await other.invalidateTags(['user:a']);
        const a2 = await profile('a');
        expect(a2).not.toBe(a1);
        expect(await profile('b')).toBe(b1);
        expect(runs()).toBe(3);
        // The fresh result is tagged too, and cached again.
        expect(await profile('a')).toBe(a2);
        expect(runs()).toBe(3);
        // The same tag in another tenant's scope busts nothing here.
        await sibling(client)
          .scoped(StorageLevel.Stack, { stack: 'globex' })
          .invalidateTags(['user:b']);
        expect(await profile('b')).toBe(b1);
        expect(runs()).toBe(3);
      });

      it('runs uncached and reports when the tags function throws or returns bad tags', async () => {
        const client = await newClient();
        const problems: string[] = [];
        const { fn, runs } = counted((id: string) => id);
        const profile = cached(fn, {
          key: 'profile',
          tags: (id: string) => {
            if (id === 'throw') throw new Error('boom');
            return id === 'bad' ? [''] : [`user:${id}`];
          },
          context: { client, stack: 'acme' },
          onError: (error) => problems.push(error.code),
        });
        expect(await profile('throw')).toBe('throw');
        expect(await profile('throw')).toBe('throw');
        expect(await profile('bad')).toBe('bad');
        expect(await profile('bad')).toBe('bad');
        expect(runs()).toBe(4);
        expect(problems.length).toBe(4);
      });

      it('busts a cached() function inside a request scope', async () => {
        const client = await newClient();
        const { fn, runs } = counted((currency: string) => `${currency}:${Math.random()}`);
        const rate = cached(fn, { key: 'rate', context: { client } });
        const first = await runWithCacheScope({ stack: 'acme' }, () => rate('EUR'));
        await runWithCacheScope({ stack: 'acme' }, () => invalidate(rate, 'EUR'));
        const second = await runWithCacheScope({ stack: 'acme' }, () => rate('EUR'));
        expect(second).not.toBe(first);
        await runWithCacheScope({ stack: 'acme' }, () => invalidateAll(rate));
        await runWithCacheScope({ stack: 'acme' }, () => rate('EUR'));
        expect(runs()).toBe(3);
      });
    });
  });
}
