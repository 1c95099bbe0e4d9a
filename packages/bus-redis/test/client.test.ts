// The bus under core's L1, end to end: two clients share one remote backend (an in-memory one
// standing in for memcached) and each keeps an L1; a write in one drops the other's copy.
import { CacheClient } from '@stowage/core';
import { RecordingBackend } from '@stowage/testkit';
import { describe, expect, it } from 'vitest';
import { createRedisBus } from '../src/index.js';
import { redisAvailable, sleep, until, useRedis } from './helpers.js';

describe.runIf(redisAvailable)('redis bus under CacheClient l1', () => {
  const redis = useRedis();

  it('a write in one client drops the other client’s L1 copy', async () => {
    const remote = new RecordingBackend();
    const busA = createRedisBus({ url: redis.url, channel: 'e2e' });
    const busB = createRedisBus({ url: redis.url, channel: 'e2e' });
    const a = new CacheClient({ backend: remote, prefix: 'e2e', l1: { ttl: '10s' }, bus: busA });
    const b = new CacheClient({ backend: remote, prefix: 'e2e', l1: { ttl: '10s' }, bus: busB });
    try {
      await until(() => busA.live && busB.live, 3000, 'both buses live');
      await b.set('rate', 1.08);
      expect(await a.get('rate')).toBe(1.08);
      const before = remote.calls.length;
      expect(await a.get('rate')).toBe(1.08); // from a's L1: the remote backend is not asked
      expect(remote.calls.length).toBe(before);
      await b.set('rate', 1.09);
      await until(() => busA.queued === 0 && busB.queued === 0, 2000, 'published');
      const sent = performance.now();
      while ((await a.get('rate')) !== 1.09) {
        expect(performance.now() - sent, 'a still serves its stale copy').toBeLessThan(2000);
        await sleep(2);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    expect(busA.live || busB.live).toBe(false);
  });
});
