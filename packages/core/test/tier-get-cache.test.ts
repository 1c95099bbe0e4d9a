// getCache's side of the L1 tier: CACHE_L1, CACHE_BUS_URL, and `bus: { url }` loaded by name.
import { describe, expect, it } from 'vitest';
import { CacheConfigError, getCache, type BusUrlOptions, type CacheBus } from '../src/index.js';
import { LocalBusHub } from './helpers/local-bus.js';
import { testBackendLoader } from './helpers/test-backend-module.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A loader that serves backends and, for @stowage/bus-redis, buses from one hub. */
function loader(): {
  load: (name: string) => Promise<unknown>;
  buses: Array<{ options: BusUrlOptions; bus: CacheBus }>;
  asked: string[];
} {
  const backends = testBackendLoader();
  const hub = new LocalBusHub();
  const buses: Array<{ options: BusUrlOptions; bus: CacheBus }> = [];
  const asked: string[] = [];
  return {
    buses,
    asked,
    load: async (name) => {
      asked.push(name);
      if (name !== '@stowage/bus-redis') return backends.load(name);
      return {
        createBusFromUrl: (options: BusUrlOptions) => {
          const bus = hub.bus();
          buses.push({ options, bus });
          return bus;
        },
      };
    },
  };
}

describe('getCache with an L1', () => {
  it('CACHE_L1 and CACHE_BUS_URL build the tier and load @stowage/bus-redis', async () => {
    const { load, buses, asked } = loader();
    const env = {
      CACHE_URL: 'redis://127.0.0.1:6379',
      CACHE_L1: 'true',
      CACHE_BUS_URL: 'redis://127.0.0.1:6380',
    };
    const a = await getCache({ env, loadBackendModule: load });
    expect(asked).toEqual(['@stowage/bus-redis', '@stowage/backend-redis']);
    expect(buses.map((entry) => entry.options)).toEqual([
      { url: 'redis://127.0.0.1:6380', channel: undefined },
    ]);
    await tick();
    await a.set('k', 'v');
    expect(await a.get('k')).toBe('v');
    await a.close();
    expect((buses[0]?.bus as unknown as { closed: boolean }).closed).toBe(true);
  });

  it('CACHE_L1 takes the fields as a query string', async () => {
    const { load } = loader();
    const env = { CACHE_URL: 'redis://127.0.0.1:6379', CACHE_L1: 'maxEntries=2&ttl=30s' };
    const cache = await getCache({ env, loadBackendModule: load });
    await cache.close();
    await expect(
      getCache({ env: { ...env, CACHE_L1: 'maxEntries=zero' }, loadBackendModule: load }),
    ).rejects.toThrow(/`l1.maxEntries`/);
    await expect(
      getCache({ env: { ...env, CACHE_L1: 'sometimes' }, loadBackendModule: load }),
    ).rejects.toThrow(/l1 has no option `sometimes`/);
  });

  it('a bus without an L1 is refused', async () => {
    const { load } = loader();
    await expect(
      getCache({
        env: { CACHE_URL: 'redis://h', CACHE_BUS_URL: 'redis://h' },
        loadBackendModule: load,
      }),
    ).rejects.toThrow(/`bus` keeps L1 copies coherent and needs `l1`/);
  });

  it('a missing @stowage/bus-redis is a CacheConfigError that names it', async () => {
    const { load: loadBackends } = loader();
    const load = async (name: string): Promise<unknown> => {
      if (name === '@stowage/bus-redis') {
        throw Object.assign(new Error(`Cannot find package '${name}'`), {
          code: 'ERR_MODULE_NOT_FOUND',
        });
      }
      return loadBackends(name);
    };
    const attempt = getCache({
      url: 'redis://h',
      l1: true,
      bus: { url: 'redis://h' },
      env: {},
      loadBackendModule: load,
    });
    await expect(attempt).rejects.toThrow(CacheConfigError);
    await expect(
      getCache({
        url: 'redis://h',
        l1: true,
        bus: { url: 'redis://h' },
        env: {},
        loadBackendModule: load,
      }),
    ).rejects.toThrow(/npm install @stowage\/bus-redis/);
  });
});
