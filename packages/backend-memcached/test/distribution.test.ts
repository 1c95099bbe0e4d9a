// `distribution: 'pymemcache'`: Stowage and a Python service with pymemcache's HashClient must pick
// the same server for every key. Checked against the real pymemcache (Debian's python3-pymemcache)
// on hostile keys, and over three real memcached servers in both directions.
import { CacheConfigError, CacheErrorCode, getCache, isCacheError } from '@stowage/core';
import { ILLEGAL_KEY_CHAR, MEMCACHED_MAX_KEY_BYTES } from '@stowage/core/backend';
import { hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createBackendFromUrl,
  createMemcachedBackend,
  DEFAULT_DISTRIBUTION,
  KeyDistribution,
  type MemcachedBackend,
} from '../src/index.js';
import { pymemcacheMurmur3, RendezvousHash } from '../src/rendezvous-hash.js';
import { entry, PEERS, pymemcacheInstalled, runPeer, textOf } from './helpers.js';

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

// Characters chosen to break a port that hashes UTF-8 or UTF-16 instead of pymemcache's
// `ord(c) & 0xff`: ASCII punctuation (the `-` and `:` of node names, quotes, `%`), Latin-1,
// code points whose low byte is an ASCII letter (U+0141 'A'…), CJK, astral (surrogate pairs in
// JavaScript, one character in Python), U+FFFD.
const POOLS: readonly (readonly [number, number])[] = [
  [0x21, 0x7e],
  [0xa1, 0xff],
  [0x100, 0x17f],
  [0x4e00, 0x4fff],
  [0x1f600, 0x1f64f],
  [0x10000, 0x100ff],
  [0xfffd, 0xfffd],
];

/** `count` distinct keys Stowage accepts (≤ 250 UTF-8 bytes, no whitespace/control), `tag` first. */
function hostileKeys(count: number, seed: number, tag: string): string[] {
  const next = random(seed);
  const keys = new Set<string>();
  while (keys.size < count) {
    let key = tag;
    const length = 1 + Math.floor(next() * (next() < 0.05 ? 200 : 40));
    for (let i = 0; i < length; i++) {
      const [low, high] = POOLS[Math.floor(next() * POOLS.length)]!;
      key += String.fromCodePoint(low + Math.floor(next() * (high - low + 1)));
    }
    while (Buffer.byteLength(key) > MEMCACHED_MAX_KEY_BYTES - 8)
      key = Array.from(key).slice(0, -1).join('');
    if (!ILLEGAL_KEY_CHAR.test(key)) keys.add(key);
  }
  return [...keys];
}

describe('options', () => {
  it("defaults to 'ketama' and takes 'pymemcache' from the options and the URL", () => {
    const servers = ['127.0.0.1:1', '127.0.0.1:2'];
    expect(DEFAULT_DISTRIBUTION).toBe(KeyDistribution.Ketama);
    expect(createMemcachedBackend({ servers }).distribution).toBe('ketama');
    expect(createMemcachedBackend({ servers, distribution: 'pymemcache' }).distribution).toBe(
      'pymemcache',
    );
    const fromUrl = createBackendFromUrl(
      'memcached://127.0.0.1:1,127.0.0.1:2?distribution=pymemcache',
    );
    expect(fromUrl.distribution).toBe('pymemcache');
    expect(fromUrl.servers).toEqual(servers);
    // getCache's way: a URL object of the first host, the whole list in `hosts`.
    const fromGetCache = createBackendFromUrl(
      new URL('memcached://127.0.0.1:1?distribution=pymemcache'),
      { hosts: servers, timeoutMs: 1000 },
    );
    expect(fromGetCache.distribution).toBe('pymemcache');
    expect(fromGetCache.servers).toEqual(servers);
    for (const backend of [fromUrl, fromGetCache]) backend.close();
  });

  it('getCache takes it from the URL (CACHE_URL)', async () => {
    const cache = await getCache({
      url: 'memcached://127.0.0.1:1,127.0.0.1:2?distribution=pymemcache',
    });
    // getCache loads the built package, a second copy of the class: read the property only.
    expect((cache.backend as MemcachedBackend).distribution).toBe('pymemcache');
    await cache.close();
  });

  it('refuses an unknown distribution with a CacheConfigError naming the option, before any I/O', () => {
    for (const bad of ['Pymemcache', 'modula', '', 3, null]) {
      const call = (): unknown =>
        createMemcachedBackend({
          servers: '127.0.0.1:1',
          distribution: bad as KeyDistribution,
        });
      expect(call).toThrow(CacheConfigError);
      expect(call).toThrow(/`distribution` must be one of 'ketama', 'pymemcache'/);
    }
    expect(() => createBackendFromUrl('memcached://127.0.0.1:1?distribution=consistent')).toThrow(
      /`distribution` must be one of 'ketama', 'pymemcache'; got 'consistent'/,
    );
  });
});

describe('rendezvous hashing (pure)', () => {
  const THREE = ['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.3:11211'];
  const KEYS = Array.from({ length: 20_000 }, (_, i) => `user:${i}:profile`);

  it('spreads keys evenly; adding a fourth server moves about a quarter, all onto it', () => {
    const three = new RendezvousHash(THREE);
    const four = new RendezvousHash([...THREE, '10.0.0.4:11211']);
    const counts = [0, 0, 0];
    let moved = 0;
    for (const key of KEYS) {
      const owner = three.locate(key);
      counts[owner]!++;
      const after = four.locate(key);
      if (after !== owner) {
        moved++;
        expect(after).toBe(3);
      }
    }
    for (const count of counts) expect(count / KEYS.length).toBeGreaterThan(0.3);
    expect(moved / KEYS.length).toBeGreaterThan(0.22);
    expect(moved / KEYS.length).toBeLessThan(0.28);
  });

  it('does not depend on the order of the servers', () => {
    const ring = new RendezvousHash(THREE);
    const reversed = new RendezvousHash([...THREE].reverse());
    for (const key of KEYS.slice(0, 2000)) {
      expect(THREE[ring.locate(key)]).toBe([...THREE].reverse()[reversed.locate(key)]);
    }
  });
});

describe.runIf(pymemcacheInstalled())('agreement with pymemcache HashClient', () => {
  it("murmur3 equals pymemcache's murmur3_32 on hostile strings of every length mod 4", () => {
    const texts = ['', 'a', 'ab', 'abc', 'abcd', ...hostileKeys(500, 7, '')];
    const answer = runPeer({ murmur: texts }, PEERS.hashClient) as { murmur: number[] };
    expect(texts.map(pymemcacheMurmur3)).toEqual(answer.murmur);
  });

  // HashClient's _get_client(key) for 10,000 hostile keys, with server spellings that exercise
  // the node name: a host without a port (11211), an IPv6 address (named without brackets), a
  // host name in capitals. No connection is opened: HashClient connects on the first command.
  // The third layout forces ties: murmur3 reads each character's low byte, so 'a' and 'š'
  // (U+0161), and U+FF63 and U+10063, give equal scores for every key, and Python's string order
  // must pick the winner (by code point: U+10063 wins, where UTF-16 order would pick U+FF63).
  const LAYOUTS = [
    {
      servers: ['127.0.0.1:11211', '127.0.0.1:11212', '127.0.0.1:11213'],
      prefix: '',
      winners: 3,
    },
    {
      servers: ['cache-a.internal', '[::1]:11212', 'CACHE-C:11213', '127.0.0.1:1', 'db-5:65535'],
      prefix: 'app:',
      winners: 5,
    },
    {
      servers: ['a:1', '\u0161:1', '\uff63:1', '\u{10063}:1', 'b:1'],
      prefix: '',
      winners: 3,
    },
  ];
  it.each(LAYOUTS)(
    'picks the server HashClient picks for 10,000 hostile keys: $servers (keyPrefix $prefix)',
    ({ servers, prefix, winners }) => {
      const keys = hostileKeys(10_000, 42, '');
      const answer = runPeer(
        { servers, options: { key_prefix: prefix }, locate: keys },
        PEERS.hashClient,
      ) as { locate: string[] };
      const stowage = createMemcachedBackend({
        servers,
        keyPrefix: prefix,
        distribution: 'pymemcache',
      });
      const ketama = createMemcachedBackend({ servers, keyPrefix: prefix });
      // HashClient names nodes '%s:%s' % (host, port): the IPv6 one without brackets.
      const pythonName = (address: string): string => address.replace(/^\[(.*)\]/, '$1');
      let ketamaAgrees = 0;
      keys.forEach((key, i) => {
        expect(pythonName(stowage.serverFor(key)), key).toBe(answer.locate[i]);
        if (pythonName(ketama.serverFor(key)) === answer.locate[i]) ketamaAgrees++;
      });
      // Every server is used, and the comparison means something: ketama agrees only by chance.
      expect(new Set(answer.locate).size).toBe(winners);
      expect(ketamaAgrees / keys.length).toBeLessThan(1.5 / servers.length);
      stowage.close();
      ketama.close();
    },
  );
});

describe.runIf(hasBinary('memcached') && pymemcacheInstalled())(
  'a fleet shared with pymemcache HashClient: three real servers',
  () => {
    const servers: ServerHandle[] = [];
    const addresses = (): string[] => servers.map((server) => server.address);
    beforeAll(async () => {
      for (let i = 0; i < 3; i++) servers.push(await startMemcached());
    });
    afterAll(async () => {
      for (const server of servers) await server.stop();
    });

    /** For each key, the servers that hold it, asked one by one with single-server backends. */
    async function holders(keys: readonly string[], keyPrefix: string): Promise<string[][]> {
      const where: string[][] = keys.map(() => []);
      for (const address of addresses()) {
        const direct = createMemcachedBackend({ servers: address, keyPrefix });
        const found = await direct.getMany(keys);
        found.forEach((item, i) => {
          if (item !== undefined) where[i]!.push(address);
        });
        direct.close();
      }
      return where;
    }

    it.each([{ prefix: '' }, { prefix: 'mix:' }])(
      'Python reads from the expected server the 2,000 keys Stowage wrote (keyPrefix $prefix)',
      async ({ prefix }) => {
        const keys = hostileKeys(2000, 1, `s2p${prefix}`);
        const backend = createMemcachedBackend({
          servers: addresses(),
          keyPrefix: prefix,
          distribution: 'pymemcache',
        });
        const written = await backend.setMany(
          keys.map((key, i) => ({ key, entry: entry(`${i}:${key}`) })),
          60,
        );
        expect(written).toEqual([]);
        const answer = runPeer(
          {
            servers: addresses(),
            options: { key_prefix: prefix },
            read: keys,
            locate: keys,
            holders: { servers: addresses(), keys },
          },
          PEERS.hashClient,
        ) as {
          read: Record<string, [number, string] | null>;
          locate: string[];
          holders: Record<string, string[]>;
        };
        keys.forEach((key, i) => {
          const owner = backend.serverFor(key);
          expect(answer.locate[i], key).toBe(owner);
          expect(answer.holders[key], key).toEqual([owner]);
          expect(answer.read[key], key).toEqual([1, Buffer.from(`${i}:${key}`).toString('hex')]);
        });
        expect(new Set(answer.locate).size).toBe(3);
        backend.close();
      },
    );

    it.each([{ prefix: '' }, { prefix: 'mix:' }])(
      'Stowage reads from the expected server the 2,000 keys Python wrote (keyPrefix $prefix)',
      async ({ prefix }) => {
        const keys = hostileKeys(2000, 2, `p2s${prefix}`);
        const answer = runPeer(
          {
            servers: addresses(),
            options: { key_prefix: prefix },
            write: keys.map((key, i) => ({
              key,
              flags: 2,
              hex: Buffer.from(`[${i}]`).toString('hex'),
            })),
          },
          PEERS.hashClient,
        ) as { not_stored: string[] };
        expect(answer.not_stored).toEqual([]);
        const backend = createMemcachedBackend({
          servers: addresses(),
          keyPrefix: prefix,
          distribution: 'pymemcache',
        });
        const found = await backend.getMany(keys);
        const where = await holders(keys, prefix);
        keys.forEach((key, i) => {
          expect(found[i]?.flags, key).toBe(2);
          expect(textOf(found[i]), key).toBe(`[${i}]`);
          expect(where[i], key).toEqual([backend.serverFor(key)]);
        });
        backend.close();
      },
    );

    it('with ketama instead, most keys Python wrote are misses: the option is what makes them agree', async () => {
      const keys = hostileKeys(300, 3, 'ketama');
      runPeer(
        {
          servers: addresses(),
          write: keys.map((key) => ({ key, flags: 1, hex: '78' })),
        },
        PEERS.hashClient,
      );
      const ketama = createMemcachedBackend({ servers: addresses() });
      const hits = (await ketama.getMany(keys)).filter((item) => item !== undefined).length;
      expect(hits / keys.length).toBeLessThan(0.5);
      ketama.close();
    });
  },
);

describe.runIf(hasBinary('memcached') && pymemcacheInstalled())(
  'a dead server: Stowage keeps its keys on it; HashClient by default moves them',
  () => {
    const servers: ServerHandle[] = [];
    const addresses = (): string[] => servers.map((server) => server.address);
    let backend: MemcachedBackend;
    // Keys whose server (either side agrees) is the one about to die.
    let doomed: string[];
    beforeAll(async () => {
      for (let i = 0; i < 3; i++) servers.push(await startMemcached());
      backend = createMemcachedBackend({
        servers: addresses(),
        distribution: 'pymemcache',
        breakerThreshold: 1,
        timeoutMs: 500,
      });
      const dead = servers[0]!.address;
      doomed = hostileKeys(200, 4, 'dead').filter((key) => backend.serverFor(key) === dead);
      expect(doomed.length).toBeGreaterThan(20);
      await servers[0]!.kill();
    });
    afterAll(async () => {
      backend.close();
      for (const server of servers) await server.stop();
    });

    /** Which live servers hold `key`. */
    async function liveHolders(key: string): Promise<string[]> {
      const found: string[] = [];
      for (const address of addresses().slice(1)) {
        const direct = createMemcachedBackend({ servers: address });
        if ((await direct.get(key)) !== undefined) found.push(address);
        direct.close();
      }
      return found;
    }

    it('Stowage: a write for the dead server fails (breaker), nothing lands on another server', async () => {
      const key = doomed[0]!;
      for (let i = 0; i < 3; i++) {
        const error = await backend.set(key, entry('stowage'), 60).then(
          () => undefined,
          (failure: unknown) => failure,
        );
        expect(isCacheError(error, CacheErrorCode.Backend)).toBe(true);
      }
      expect(backend.breakers()[servers[0]!.address]).toBe('open');
      expect(await liveHolders(key)).toEqual([]);
    });

    it("HashClient's defaults (retry_attempts=2): after a few failures the key moves to a live server and a write lands there", async () => {
      const key = doomed[1]!;
      const answer = runPeer(
        {
          servers: addresses(),
          options: { ignore_exc: true, retry_timeout: 0.05, connect_timeout: 0.5 },
          probe_dead: { key, rounds: 8, sleep: 0.08 },
        },
        PEERS.hashClient,
      ) as { probe_dead: { nodes: string[]; stored: boolean } };
      const { nodes, stored } = answer.probe_dead;
      expect(nodes[0]).toBe(servers[0]!.address);
      const moved = nodes.at(-1)!;
      expect(moved).not.toBe(servers[0]!.address);
      // The danger of a mixed fleet: Python now holds this key where Stowage never looks.
      expect(stored).toBe(true);
      expect(await liveHolders(key)).toEqual([moved]);
      expect(backend.serverFor(key)).toBe(servers[0]!.address);
    });

    it('HashClient with retry_attempts never reached: the key stays on the dead server, as in Stowage', async () => {
      const key = doomed[2]!;
      const answer = runPeer(
        {
          servers: addresses(),
          options: {
            ignore_exc: true,
            retry_timeout: 0.05,
            connect_timeout: 0.5,
            retry_attempts: 2 ** 62,
          },
          probe_dead: { key, rounds: 8, sleep: 0.08 },
        },
        PEERS.hashClient,
      ) as { probe_dead: { nodes: string[]; stored: boolean } };
      expect(new Set(answer.probe_dead.nodes)).toEqual(new Set([servers[0]!.address]));
      expect(answer.probe_dead.stored).toBe(false);
      expect(await liveHolders(key)).toEqual([]);
    });
  },
);
