// The same NestJS app on a real redis-server started on 127.0.0.1 for this file and stopped by
// PID: the module creates the client from a CACHE_URL-style setting given by a config provider,
// two tenants get separate entries (checked in Redis itself), and app.close() closes the client
// and its connection. With CI=true a missing redis-server fails the run instead of skipping.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { CacheClosedError, type CacheClient } from '@stowage/core';
import { hasBinary, startRedis, type ServerHandle } from '@stowage/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageModule, STOWAGE_CLIENT } from '../src/index.js';
import { headerScope, runsOf, startApp } from './fixtures.js';

@Injectable()
class Settings {
  url = '';
}

@Module({ providers: [Settings], exports: [Settings] })
class SettingsModule {}

describe.runIf(hasBinary('redis-server'))('a NestJS app on a real Redis', () => {
  let server: ServerHandle;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis({ host: server.host, port: server.port, lazyConnect: true });
    await redis.connect();
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  /** Connections the server has, besides this test's own. */
  async function otherConnections(): Promise<number> {
    const list = await redis.client('LIST');
    return String(list).trim().split('\n').length - 1;
  }

  it('keeps tenants apart in Redis and closes the connection on shutdown', async () => {
    const running = await startApp(
      StowageModule.forRootAsync({
        imports: [SettingsModule],
        inject: [Settings],
        useFactory: (settings: Settings) => {
          settings.url = `redis://${server.address}`;
          return { cache: { url: settings.url, prefix: 'nest' }, scope: headerScope };
        },
      }),
    );
    const client = running.app.get<CacheClient>(STOWAGE_CLIENT);
    try {
      for (const tenant of ['acme', 'globex', 'acme', 'globex']) {
        const answer = await running.get('/plans/gold', { 'x-tenant': tenant });
        expect(answer.body).toMatchObject({ id: 'gold', tenant, run: 1 });
      }
      expect([runsOf('plan', 'acme', 'gold'), runsOf('plan', 'globex', 'gold')]).toEqual([1, 1]);
      const keys = await redis.keys('nest:*');
      expect(keys.some((key) => key.startsWith('nest:stack=acme:PlanService.plan:v'))).toBe(true);
      expect(keys.some((key) => key.startsWith('nest:stack=globex:PlanService.plan:v'))).toBe(true);
      expect(keys.every((key) => /^nest:stack=(acme|globex):/.test(key))).toBe(true);
      expect(await otherConnections()).toBeGreaterThan(0);
    } finally {
      await running.app.close();
    }
    await expect(client.get('k')).rejects.toBeInstanceOf(CacheClosedError);
    await expect.poll(otherConnections, { timeout: 5_000 }).toBe(0);
  });
});
