import { hash } from 'node:crypto';
import { hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { Utils } from 'memjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemcachedBackend, type MemcachedBackend } from '../src/index.js';
import { HashRing } from '../src/hash-ring.js';
import { md5Words } from '../src/md5.js';
import { entry, textOf } from './helpers.js';

const KEYS = Array.from({ length: 20_000 }, (_, i) => `user:${i}:profile`);
const THREE = ['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.3:11211'];
const FOUR = [...THREE, '10.0.0.4:11211'];

describe("the ring's MD5", () => {
  // Characters of every UTF-8 length, and lengths around the 55/56/64-byte padding boundaries.
  const CHARS = ['a', 'Z', '0', ':', '-', 'é', 'ß', '漢', '😀', '\u0000', ' '];
  const texts = Array.from({ length: 3000 }, (_, n) =>
    Array.from({ length: n % 300 }, (_, i) => CHARS[(n * 7 + i * 13) % CHARS.length]).join(''),
  );

  it("agrees with node:crypto's MD5 on every word, for texts of 0–299 characters", () => {
    const out = new Uint32Array(4);
    for (const text of texts) {
      md5Words(text, out);
      const digest = hash('md5', text, 'buffer');
      expect([...out], text).toEqual([0, 4, 8, 12].map((at) => digest.readUInt32LE(at)));
    }
  });

  it('places every key where a ring built on node:crypto puts it', () => {
    // The ring as it was built before: crypto's MD5 for the points and for the key.
    const point = (text: string, slot: number): number =>
      hash('md5', text, 'buffer').readUInt32LE(slot * 4);
    const entries = FOUR.flatMap((name, owner) =>
      Array.from({ length: 160 }, (_, i) => ({ at: point(`${name}-${i >> 2}`, i & 3), owner })),
    );
    entries.sort((x, y) => x.at - y.at);
    const reference = (key: string): number => {
      const target = point(`app:${key}`, 0);
      return (entries.find((e) => e.at >= target) ?? entries[0])!.owner;
    };
    const ring = new HashRing(FOUR, 'app:');
    for (const key of [...KEYS.slice(0, 5000), ...texts.slice(1, 500)]) {
      expect(ring.locate(key), key).toBe(reference(key));
    }
  });
});

describe('ketama-style consistent hashing', () => {
  it('moves about a quarter of the keys from 3 to 4 servers, all onto the new one', () => {
    const before = new HashRing(THREE);
    const after = new HashRing(FOUR);
    let moved = 0;
    for (const key of KEYS) {
      const from = before.locate(key);
      const to = after.locate(key);
      if (from !== to) {
        moved++;
        expect(to).toBe(3);
      }
    }
    const share = moved / KEYS.length;
    expect(share).toBeGreaterThan(0.18);
    expect(share).toBeLessThan(0.32);
  });

  it("beats memjs's hashCode modulo, which moves three quarters", () => {
    const modulo = (key: string, n: number): number => Utils.hashCode(key) % n;
    const moved = KEYS.filter((key) => modulo(key, 3) !== modulo(key, 4)).length / KEYS.length;
    expect(moved).toBeGreaterThan(0.7);
  });

  it('spreads keys over the servers and is stable across instances and server order', () => {
    const ring = new HashRing(THREE);
    const counts = [0, 0, 0];
    for (const key of KEYS) counts[ring.locate(key)]!++;
    for (const count of counts) {
      expect(count / KEYS.length).toBeGreaterThan(0.2);
      expect(count / KEYS.length).toBeLessThan(0.47);
    }
    const again = new HashRing(THREE);
    const reversed = new HashRing([...THREE].reverse());
    for (const key of KEYS.slice(0, 2000)) {
      expect(again.locate(key)).toBe(ring.locate(key));
      expect(THREE[ring.locate(key)]).toBe([...THREE].reverse()[reversed.locate(key)]);
    }
  });

  it('removing a server moves only that server’s keys', () => {
    const four = new HashRing(FOUR);
    const three = new HashRing(THREE);
    for (const key of KEYS.slice(0, 5000)) {
      const owner = four.locate(key);
      if (owner !== 3) expect(three.locate(key)).toBe(owner);
    }
  });
});

describe.runIf(hasBinary('memcached'))('routing across real servers', () => {
  const servers: ServerHandle[] = [];
  let backend: MemcachedBackend;
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) servers.push(await startMemcached());
    backend = createMemcachedBackend({
      servers: servers.map((server) => server.address),
      keyPrefix: 'r:',
    });
  });
  afterAll(async () => {
    backend.close();
    for (const server of servers) await server.stop();
  });

  it('stores each key on the server the ring names, and nowhere else', async () => {
    const keys = Array.from({ length: 90 }, (_, i) => `route-${i}`);
    expect(
      await backend.setMany(
        keys.map((key) => ({ key, entry: entry(key) })),
        0,
      ),
    ).toEqual([]);
    const direct = servers.map((server) =>
      createMemcachedBackend({ servers: server.address, keyPrefix: 'r:' }),
    );
    try {
      for (const key of keys) {
        const owner = backend.serverFor(key);
        for (const [i, server] of servers.entries()) {
          const found = textOf(await direct[i]!.get(key));
          expect(found).toBe(server.address === owner ? key : undefined);
        }
      }
      const used = new Set(keys.map((key) => backend.serverFor(key)));
      expect(used.size).toBe(3);
      expect((await backend.getMany(keys)).map(textOf)).toEqual(keys);
    } finally {
      for (const other of direct) other.close();
    }
  });
});
