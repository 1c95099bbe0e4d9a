// The client's write model on a real memcached: a write that times out and lands late must never
// make a process read, or write back, a value older than a newer confirmed write (the client
// quarantines the key, then removes only the write in doubt with `deleteIf`).
import { CacheClient, CacheReturnCode } from '@stowage/core';
import {
  FaultProxy,
  hasBinary,
  checkLateWrite,
  startMemcached,
  type ServerHandle,
} from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemcachedBackend } from '../src/index.js';

const T = 150;
const WINDOW_MS = 500;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const entry = (text: string) => ({ value: Buffer.from(text), flags: CacheReturnCode.String });

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
    expect(
      await checkLateWrite({ a, b, proxy, key: 'balance', holdMs: 400, windowMs: WINDOW_MS }),
    ).toEqual([]);
  });

  it('deleteIf keeps a write that lands between its read and its delete (CAS)', async () => {
    // Each way through the proxy takes L ms: deleteIf's `getk` reaches the server at L, its
    // answer is back at 2L, its `delete` reaches the server at 3L. B writes at 2L, in between:
    // the item's CAS has changed, so the delete must be refused and B's newer value survive
    // (an unconditional delete would remove it).
    const L = 150;
    const a = createMemcachedBackend({ servers: proxy.address, timeoutMs: 2000 });
    const b = createMemcachedBackend({ servers: server.address, timeoutMs: 1000 });
    try {
      await b.set('cas-race', entry('in-doubt'), 0);
      proxy.setMode({ kind: 'latency', ms: L });
      const deleting = a.deleteIf('cas-race', entry('in-doubt'));
      await sleep(2 * L);
      expect(await b.set('cas-race', entry('newer'), 0)).toBe(true);
      expect(await deleting).toBe(false);
      expect((await b.get('cas-race'))?.value.toString()).toBe('newer');
      // Unraced, the same call deletes the value it was given.
      proxy.setMode({ kind: 'pass' });
      expect(await a.deleteIf('cas-race', entry('newer'))).toBe(true);
      expect(await b.get('cas-race')).toBeUndefined();
    } finally {
      proxy.setMode({ kind: 'pass' });
      a.close();
      b.close();
    }
  });
});
