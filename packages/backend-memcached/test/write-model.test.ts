// Issue 10 §1 on a real memcached: a write that times out and lands late must never make a
// process read, or write back, a value older than a newer confirmed write (DESIGN D14).
import { CacheClient } from '@stowage/core';
import {
  FaultProxy,
  hasBinary,
  lateWriteScenario,
  lateWriteViolations,
  startMemcached,
  type ServerHandle,
} from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemcachedBackend } from '../src/index.js';

const T = 150;
const WINDOW_MS = 500;

describe.skipIf(!hasBinary('memcached'))('the write model on memcached', () => {
  let server: ServerHandle;
  let proxy: FaultProxy;
  beforeAll(async () => {
    server = await startMemcached();
    proxy = await FaultProxy.start(server.port);
  });
  afterAll(async () => {
    await proxy.close();
    await server.stop();
  });

  it("a late write of A never makes anyone read A's older value over B's newer one", async () => {
    const a = new CacheClient({
      backend: createMemcachedBackend({ servers: proxy.address, timeoutMs: T }),
      timeoutMs: T,
      quarantineMs: WINDOW_MS,
    });
    const b = new CacheClient({
      backend: createMemcachedBackend({ servers: server.address, timeoutMs: 1000 }),
      timeoutMs: 1000,
    });
    try {
      const seen = await lateWriteScenario({
        a,
        b,
        proxy,
        key: 'balance',
        holdMs: 400,
        windowMs: WINDOW_MS,
      });
      expect(lateWriteViolations(seen)).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
