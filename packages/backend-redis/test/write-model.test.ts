// On a real redis-server: a write that times out and lands late must never make a process read,
// or write back, a value older than a newer confirmed write (the client's write quarantine).
import { CacheClient } from '@stowage/core';
import { FaultProxy, checkLateWrite, startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend } from '../src/index.js';
import { redisAvailable } from './helpers.js';

const T = 150;
const WINDOW_MS = 500;

describe.skipIf(!redisAvailable)('the write model on Redis', () => {
  let server: ServerHandle;
  let proxy: FaultProxy;
  beforeAll(async () => {
    server = await startRedis();
    proxy = await FaultProxy.start(server.port);
  });
  afterAll(async () => {
    await proxy.close();
    await server.stop();
  });

  it("a late write of A never makes anyone read A's older value over B's newer one", async () => {
    const open = (port: number): ReturnType<typeof createRedisBackend> =>
      createRedisBackend({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'wm:', timeoutMs: T });
    const a = new CacheClient({ backend: open(proxy.port), timeoutMs: T, quarantineMs: WINDOW_MS });
    const b = new CacheClient({ backend: open(server.port), timeoutMs: 1000 });
    expect(
      await checkLateWrite({ a, b, proxy, key: 'balance', holdMs: 400, windowMs: WINDOW_MS }),
    ).toEqual([]);
  });
});
