// A ring of two real memcached servers: stats reads each of them, and inspect asks the server
// the backend's ring places a key on for its TTL (the other one would answer "missing").
import { getCache } from '@stowage/core';
import { hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stowageJson } from './helpers.js';

const KEYS = Array.from({ length: 12 }, (_, i) => `item-${i}`);

describe.runIf(hasBinary('memcached'))('stowage on a ring of two memcached servers', () => {
  let servers: ServerHandle[] = [];
  let env: Record<string, string>;
  /** One key held by each server, in server order. */
  let onEach: string[] = [];

  beforeAll(async () => {
    servers = await Promise.all([startMemcached(), startMemcached()]);
    const url = `memcached://${servers.map((server) => server.address).join(',')}`;
    env = { CACHE_URL: url, CACHE_PREFIX: 'ring' };
    const writer = await getCache({ url, prefix: 'ring', env: {} });
    for (const key of KEYS) await writer.set(key, key, { ttl: 120 });
    const holder = (key: string): string | undefined =>
      writer.backend.serverFor?.(writer.fullKey(key));
    onEach = servers.map((server) => KEYS.find((key) => holder(key) === server.address) ?? '');
    await writer.close();
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('reports each server and the items over both', async () => {
    const { code, json } = await stowageJson(['stats'], env);
    expect(code).toBe(0);
    const reported = json['servers'] as Array<{ server: string; items: number }>;
    expect(reported.map((entry) => entry.server)).toEqual(servers.map((server) => server.address));
    expect(reported.every((entry) => entry.items > 0)).toBe(true);
    expect(reported.reduce((sum, entry) => sum + entry.items, 0)).toBe(KEYS.length);
  });

  it("reads a key's TTL from the server that holds it, on either server", async () => {
    expect(onEach.every((key) => key !== '')).toBe(true);
    for (const key of onEach) {
      const { json } = await stowageJson(['inspect', key], env);
      const ttl = json['ttl'] as { state: string; ms?: number };
      expect(ttl.state, key).toBe('expires');
      expect(ttl.ms).toBeGreaterThan(100_000);
    }
  });
});
