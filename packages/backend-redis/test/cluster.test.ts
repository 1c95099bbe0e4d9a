import { createRequire } from 'node:module';
import {
  asBatchError,
  CacheClient,
  CacheErrorCode,
  isCacheError,
  type StoredEntry,
} from '@stowage/core';
import { describeBackendConformance } from '@stowage/conformance';
import {
  FaultProxy,
  freePort,
  hasBinary,
  startRedisCluster,
  type RedisClusterHandle,
} from '@stowage/testkit';
import { Redis } from 'ioredis';
import * as ioredis5 from 'ioredis5';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_FLAGS, newLeaseMarker } from '@stowage/core/backend';
import { createRedisBackend, keySlot, type RedisBackend } from '../src/index.js';
import { drivers, redisAvailable, sleep, timed } from './helpers.js';

const clusterAvailable = redisAvailable && hasBinary('redis-cli');
const T = 500;
const MARGIN = 300;
const entry = (text: string): StoredEntry => ({ value: Buffer.from(text), flags: 1 });

let cluster: RedisClusterHandle | undefined;
/** Port of the master serving each slot, from CLUSTER SLOTS. */
const owner = new Map<number, number>();

beforeAll(async () => {
  if (!clusterAvailable) return;
  cluster = await startRedisCluster({ nodes: 3 });
  const probe = new Redis({ host: '127.0.0.1', port: cluster.seeds[0]!.port });
  const ranges = (await probe.cluster('SLOTS')) as unknown as Array<
    [number, number, [string, number]]
  >;
  for (const [from, to, [, port]] of ranges)
    for (let slot = from; slot <= to; slot++) owner.set(slot, port);
  probe.disconnect();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

/** A direct connection to one node, to look at what it holds. */
function nodeClient(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: true });
  client.on('error', () => undefined);
  return client;
}

describe.skipIf(!clusterAvailable)('redis cluster', () => {
  describeBackendConformance('redis cluster (ioredis 6)', {
    // Written out, never read back from a backend (that would make the check a tautology).
    capabilities: {
      ttlPrecision: 'milliseconds',
      scopedClear: true,
      counters: 'signed64',
      delayedFlush: false,
      timeoutMs: 1000,
    },
    create: (namespace) =>
      createRedisBackend({ clusterNodes: cluster!.seeds.slice(0, 1), keyPrefix: `${namespace}:` }),
    // The last master is reached through a closed port (natMap), so its slots fail at once while
    // the other two answer; the real node stays up for the rest of the file.
    createPartial: async () => {
      const down = cluster!.seeds[2]!;
      const keyPrefix = `partial-${Date.now()}:`;
      const backend = createRedisBackend({
        clusterNodes: cluster!.seeds.slice(0, 1),
        clusterOptions: {
          natMap: { [`${down.host}:${down.port}`]: { host: '127.0.0.1', port: await freePort() } },
        },
        keyPrefix,
      });
      const keyWhere = (onDown: boolean): string => {
        for (let i = 0; ; i++) {
          if ((owner.get(keySlot(`${keyPrefix}k${i}`)) === down.port) === onDown) return `k${i}`;
        }
      };
      const healthyKey = keyWhere(false);
      // A fresh Cluster client whose ready check (CLUSTER INFO) lands on the unreachable node
      // drops every connection and reconnects (ioredis): hand the backend over once it answers.
      const started = performance.now();
      while ((await timed(() => backend.get(healthyKey))).error !== undefined) {
        if (performance.now() - started > 10_000) throw new Error('the cluster never got ready');
        await sleep(50);
      }
      return { backend, healthyKey, failedKey: keyWhere(true) };
    },
  });

  it('computes the same hash slot as the server, hash tags included', async () => {
    const node = nodeClient(cluster!.seeds[0]!.port);
    const samples = [
      'a',
      'user:1000',
      'ns:app:stack=acme:k',
      '{user1000}.following',
      'foo{}{bar}',
      'foo{{bar}}zap',
      'foo{bar}{zap}',
      '{}',
      'é-ü-🦀',
      '',
      ...Array.from({ length: 200 }, (_, i) => `key:${i * 7919}`),
    ];
    for (const key of samples) expect(keySlot(key), key).toBe(await node.cluster('KEYSLOT', key));
    // Why this is not cluster-key-slot (ioredis's dependency): it disagrees with the server on
    // an empty first hash tag followed by a non-empty one. If it ever agrees, switch to it.
    const fromIoredis = createRequire(createRequire(import.meta.url).resolve('ioredis'));
    const theirs = fromIoredis('cluster-key-slot') as (key: string) => number;
    const server = await node.cluster('KEYSLOT', 'foo{}{bar}');
    expect(keySlot('foo{}{bar}')).toBe(server);
    expect(theirs('foo{}{bar}')).not.toBe(server);
    node.disconnect();
  });

  for (const [label, driver] of drivers) {
    describe(label, () => {
      let backend: RedisBackend;
      let cache: CacheClient;
      beforeAll(() => {
        backend = createRedisBackend({
          clusterNodes: cluster!.seeds,
          keyPrefix: 'cl:',
          timeoutMs: T,
          driver,
        });
        cache = new CacheClient({ backend, timeoutMs: T });
      });
      afterAll(async () => {
        await cache?.close();
      });

      it('splits batches by hash slot and reassembles them in order', async () => {
        const keys = Array.from({ length: 120 }, (_, i) => `item:${i}`);
        const nodes = new Set(keys.map((k) => owner.get(keySlot(`cl:${k}`))));
        expect(nodes.size).toBe(3); // the batch really spans every node
        const stored = keys.filter((_, i) => i % 4 !== 0);
        expect(await cache.setMany(stored.map((k) => [k, `value of ${k}`] as const))).toEqual([]);
        const asked = [...keys, 'item:1', 'nowhere'];
        const found = await backend.getMany(asked);
        expect(found).toHaveLength(asked.length);
        asked.forEach((k, i) => {
          const text = found[i] === undefined ? undefined : Buffer.from(found[i].value).toString();
          expect(text, k).toBe(stored.includes(k) ? `value of ${k}` : undefined);
        });
        const viaClient = await cache.getMany(keys);
        expect([...viaClient.keys()]).toEqual(stored);
        await cache.deleteMany(keys);
        expect((await backend.getMany(keys)).every((e) => e === undefined)).toBe(true);
      });

      it('keeps keys with one hash tag in one slot and one node', async () => {
        const tagged = ['user:{42}:profile', 'user:{42}:cart', 'user:{42}:prefs'];
        const slot = keySlot(`cl:${tagged[0]}`);
        for (const k of tagged) expect(keySlot(`cl:${k}`)).toBe(slot);
        const node = nodeClient(owner.get(slot)!);
        await cache.setMany(tagged.map((k) => [k, k] as const));
        await node.config('RESETSTAT');
        expect([...(await cache.getMany(tagged)).keys()]).toEqual(tagged);
        const stats = await node.info('commandstats');
        // One bounded GETRANGE a key, all on the node that owns the tag's slot.
        expect(stats).toMatch(/cmdstat_getrange:calls=3,/);
        node.disconnect();
      });

      it('clear() scans every master and removes only its namespace', async () => {
        const others = cluster!.seeds.map((seed) => nodeClient(seed.port));
        const foreign = Array.from({ length: 30 }, (_, i) => `other-app:${i}`);
        const writer = createRedisBackend({ clusterNodes: cluster!.seeds, keyPrefix: '', driver });
        await writer.setMany(
          foreign.map((key) => ({ key, entry: entry('theirs') })),
          0,
        );
        await cache.setMany(Array.from({ length: 60 }, (_, i) => [`mine:${i}`, i] as const));
        await backend.clear();
        const remaining: string[] = [];
        for (const node of others) remaining.push(...(await node.keys('*')));
        expect(remaining.filter((k) => k.startsWith('cl:'))).toEqual([]);
        expect(remaining.filter((k) => k.startsWith('other-app:')).sort()).toEqual(
          [...foreign].sort(),
        );
        await writer.deleteMany(foreign);
        await writer.close();
        for (const node of others) node.disconnect();
      });

      it('incr, add, touch and the integrity check route to the owning node', async () => {
        expect(await cache.set('counter', 10)).toBe(true);
        expect(await cache.incr('counter', 5)).toBe(15);
        expect(await cache.add('counter', 1)).toBe(false);
        expect(await cache.touch('counter', 60)).toBe(true);
        expect(await cache.get('counter')).toBe(15);
      });

      it('setIf (lease commit) is one script on the owning node, on every node, and refuses after a raw DEL there', async () => {
        // One key per master, each with its scripts flushed so EVALSHA falls back to EVAL there.
        const keys = new Map<number, string>();
        for (let i = 0; keys.size < 3; i++) {
          const port = owner.get(keySlot(`cl:lease:${i}`))!;
          if (!keys.has(port)) keys.set(port, `lease:${i}`);
        }
        for (const [port, key] of keys) {
          const node = nodeClient(port);
          try {
            await node.script('FLUSH');
            const marker = newLeaseMarker();
            expect(await backend.add(key, marker, 5)).toBe(true);
            expect(await backend.setIf(key, marker, marker, 30)).toEqual({
              value: marker.value,
              flags: LEASE_FLAGS,
            });
            expect(await node.pttl(`cl:${key}`)).toBeGreaterThan(29_000);
            expect(await backend.setIf(key, marker, entry('computed'), 60)).toEqual({
              value: Buffer.from('computed'),
              flags: 1,
            });
            expect(await backend.setIf(key, marker, entry('again'), 60)).toBe(false);

            const again = newLeaseMarker();
            expect(await backend.delete(key)).toBe(true);
            expect(await backend.add(key, again, 5)).toBe(true);
            expect(await node.del(`cl:${key}`)).toBe(1);
            expect(await backend.setIf(key, again, entry('stale'), 60)).toBe(false);
            expect(await node.exists(`cl:${key}`)).toBe(0);
          } finally {
            node.disconnect();
          }
        }
      });

      it('a damaged reply from one node rejects, resets the connections, and later reads are right', async () => {
        // A fault proxy in front of every node; natMap sends the cluster's connections through them.
        const proxies = await Promise.all(
          cluster!.seeds.map((seed) => FaultProxy.start(seed.port)),
        );
        const natMap = Object.fromEntries(
          cluster!.seeds.map((seed, i) => [
            `127.0.0.1:${seed.port}`,
            { host: '127.0.0.1', port: proxies[i]!.port },
          ]),
        );
        const viaProxies = createRedisBackend({
          clusterNodes: [{ host: '127.0.0.1', port: proxies[0]!.port }],
          clusterOptions: { natMap },
          keyPrefix: 'nat:',
          timeoutMs: T,
          driver,
        });
        const client = new CacheClient({ backend: viaProxies, timeoutMs: T, compress: false });
        try {
          const value = `alpha:${'0123456789abcdef'.repeat(12)}`;
          expect(await client.set('alpha', value)).toBe(true);
          const port = owner.get(keySlot('nat:alpha'))!;
          const proxy = proxies[cluster!.seeds.findIndex((seed) => seed.port === port)]!;
          const direct = nodeClient(port);
          const length = await direct.strlen('nat:alpha');
          direct.disconnect();
          // One byte changed in the middle of the value's reply.
          proxy.setMode(
            {
              kind: 'tamper',
              offset: `$${length}\r\n`.length + 64,
              drop: 1,
              insert: Buffer.from('#'),
            },
            'existing',
          );
          const damaged = await timed(() => client.get('alpha'));
          expect(
            isCacheError(damaged.error, CacheErrorCode.Backend),
            `resolved ${String(damaged.value).slice(0, 40)}…`,
          ).toBe(true);
          const started = performance.now();
          let read = await timed(() => client.get('alpha'));
          while (read.error !== undefined && performance.now() - started < 10_000) {
            await sleep(100);
            read = await timed(() => client.get('alpha'));
          }
          expect(read.value).toBe(value);
          expect((await client.getMany(['alpha'])).get('alpha')).toBe(value);
        } finally {
          await client.close();
          await Promise.all(proxies.map((proxy) => proxy.close()));
        }
      });
    });
  }

  it('works with a Cluster client the caller owns (ioredis 5), and leaves it open', async () => {
    const client = new ioredis5.Cluster([...cluster!.seeds], {
      lazyConnect: true,
      redisOptions: {
        commandTimeout: T,
        maxRetriesPerRequest: 1,
        autoResendUnfulfilledCommands: false,
      },
    });
    const backend = createRedisBackend({ client, keyPrefix: 'owned:', timeoutMs: T });
    const cache = new CacheClient({ backend });
    await cache.setMany(Array.from({ length: 30 }, (_, i) => [`k${i}`, i] as const));
    expect((await cache.getMany(Array.from({ length: 30 }, (_, i) => `k${i}`))).size).toBe(30);
    await cache.close();
    expect(client.status).toBe('ready');
    expect(await client.get('owned:k3')).toBe('3');
    client.disconnect();
  });

  it('one node killed: its keys fail fast, the other nodes keep working, and it recovers', async () => {
    const backend = createRedisBackend({
      clusterNodes: cluster!.seeds,
      keyPrefix: 'down:',
      timeoutMs: T,
    });
    const cache = new CacheClient({ backend, timeoutMs: T });
    try {
      const victimPort = cluster!.nodes[2]!.port;
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
      const onVictim = keys.filter((k) => owner.get(keySlot(`down:${k}`)) === victimPort);
      const elsewhere = keys.filter((k) => !onVictim.includes(k));
      expect(onVictim.length).toBeGreaterThan(0);
      expect(elsewhere.length).toBeGreaterThan(0);
      expect(await cache.setMany(keys.map((k) => [k, k] as const))).toEqual([]);

      await cluster!.nodes[2]!.kill();
      for (let round = 0; round < 3; round++) {
        for (const k of onVictim.slice(0, 5)) {
          // Straight on the backend: through the client, a key whose write failed is quarantined
          // and read from memory, which would hide what the backend does.
          const read = await timed(() => backend.get(k));
          // A transport error, not the deadline: the dead node's keys fail fast.
          expect(isCacheError(read.error, CacheErrorCode.Backend), String(read.error)).toBe(true);
          expect(read.ms).toBeLessThanOrEqual(T + MARGIN);
          const write = await timed(() => backend.set(k, entry('new'), 0));
          expect(isCacheError(write.error), String(write.error)).toBe(true);
          expect(write.ms).toBeLessThanOrEqual(T + MARGIN);
        }
        const [writable, ...readable] = elsewhere;
        for (const k of readable) expect(await cache.get(k)).toBe(k);
        expect(await cache.set(writable!, `still writable ${round}`)).toBe(true);
        expect((await cache.getMany(elsewhere)).size).toBe(elsewhere.length);
        // A batch that touches the dead node: the other nodes' share still answers, by the
        // deadline. Straight on the backend, a CacheBatchError carrying that share …
        const mixed = await timed(() => backend.getMany(keys));
        expect(mixed.ms).toBeLessThanOrEqual(T + MARGIN);
        const batch = asBatchError(mixed.error);
        expect(batch, String(mixed.error)).toBeDefined();
        expect(batch!.failedKeys).toEqual(onVictim);
        expect(batch!.indeterminate).toBe(false); // a read
        keys.forEach((k, i) => {
          const text = batch!.entries?.[i] && Buffer.from(batch!.entries[i].value).toString();
          const expected = k === writable ? `still writable ${round}` : k;
          expect(text, k).toBe(onVictim.includes(k) ? undefined : expected);
        });
        // … and through the client (`partialBatches: 'return'`), the dead node's keys read as misses.
        const viaClient = await timed(() => cache.getMany(keys));
        expect(viaClient.ms).toBeLessThanOrEqual(T + MARGIN);
        expect([...(viaClient.value?.keys() ?? [])]).toEqual(elsewhere);
        // A delete that may not have happened is never hidden: deleteMany throws, naming them.
        const deleted = await timed(() => backend.deleteMany([writable!, ...onVictim]));
        expect(asBatchError(deleted.error)?.failedKeys).toEqual(onVictim);
        expect(await backend.get(writable!)).toBeUndefined();
        await sleep(300);
      }

      await cluster!.nodes[2]!.restart();
      const started = performance.now();
      let recovered = false;
      while (!recovered && performance.now() - started < 10_000) {
        recovered = (await timed(() => cache.set(onVictim[0]!, 'back'))).value === true;
        if (!recovered) await sleep(200);
      }
      expect(recovered).toBe(true);
      expect(await cache.get(onVictim[0]!)).toBe('back');
    } finally {
      await cache.close();
    }
  });
});
