import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheClient, isCacheError } from '@stowage/core';
import { startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend } from '../src/index.js';
import { drivers, inspector, redisAvailable, sleep, timed } from './helpers.js';

const T = 500;
const MARGIN = 300;

async function waitFor(
  check: () => Promise<boolean>,
  limitMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe.skipIf(!redisAvailable)('redis sentinel', () => {
  let master: ServerHandle;
  let replica: ServerHandle;
  let sentinel: ServerHandle;
  let dir: string;
  beforeAll(async () => {
    master = await startRedis();
    replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    const replicaInfo = inspector(replica.port);
    await waitFor(
      async () => (await replicaInfo.info('replication')).includes('master_link_status:up'),
      10_000,
      'the replica to sync',
    );
    replicaInfo.disconnect();
    dir = mkdtempSync(join(tmpdir(), 'stowage-sentinel-'));
    const configFile = join(dir, 'sentinel.conf');
    writeFileSync(
      configFile,
      [
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds mymaster 1000',
        'sentinel failover-timeout mymaster 5000',
        '',
      ].join('\n'),
    );
    sentinel = await startRedis({ configFile, dir, args: ['--sentinel'] });
    const sentinelClient = inspector(sentinel.port);
    await waitFor(
      async () =>
        ((await sentinelClient.call('SENTINEL', 'REPLICAS', 'mymaster')) as unknown[]).length > 0,
      15_000,
      'Sentinel to discover the replica',
    );
    sentinelClient.disconnect();
  }, 60_000);
  afterAll(async () => {
    await sentinel?.stop();
    await replica?.stop();
    await master?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const open = (driver: (typeof drivers)[number][1]): CacheClient =>
    new CacheClient({
      backend: createRedisBackend({
        redisOptions: { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'mymaster' },
        keyPrefix: 'sen:',
        timeoutMs: T,
        driver,
      }),
      timeoutMs: T,
    });

  for (const [label, driver] of drivers) {
    it(`finds the master through Sentinel (${label})`, async () => {
      const cache = open(driver);
      const key = `greeting-${label.replace(' ', '-')}`;
      expect(await cache.set(key, 'hello')).toBe(true);
      expect(await cache.get(key)).toBe('hello');
      expect(await cache.incr('visits')).toBeUndefined();
      await cache.close();
    });
  }

  it('follows a failover by itself: calls settle by the deadline meanwhile', async () => {
    const cache = open(undefined);
    try {
      expect(await cache.set('before', 'failover')).toBe(true);
      const promoted = inspector(replica.port);
      await waitFor(
        async () => (await promoted.get('sen:before')) !== null,
        5000,
        'the write to reach the replica',
      );
      await master.kill();
      const started = performance.now();
      let recovered = false;
      while (!recovered && performance.now() - started < 20_000) {
        const write = await timed(() => cache.set('after', 'failover'));
        expect(write.ms).toBeLessThanOrEqual(T + MARGIN);
        if (write.error !== undefined) expect(isCacheError(write.error)).toBe(true);
        recovered = write.value === true;
        if (!recovered) await sleep(200);
      }
      expect(recovered).toBe(true);
      // The promoted replica answers, with what was replicated before the failover.
      expect(await cache.get('before')).toBe('failover');
      expect(await promoted.info('replication')).toContain('role:master');
      expect(await promoted.exists('sen:after')).toBe(1);
      promoted.disconnect();
    } finally {
      await cache.close();
    }
  }, 40_000);
});
