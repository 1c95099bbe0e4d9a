// A real NestJS 11 app on the memory backend, reached over HTTP with node's fetch: the request
// scope separates tenants, @cache works on providers and controller methods compiled with legacy
// decorators, and Nest still reads route, parameter and pipe metadata of the wrapped methods.
import 'reflect-metadata';
import {
  PATH_METADATA,
  ROUTE_ARGS_METADATA,
  HTTP_CODE_METADATA,
} from '@nestjs/common/constants.js';
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient } from '@stowage/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StowageModule } from '../src/index.js';
import {
  headerScope,
  PlanController,
  runs,
  runsOf,
  startApp,
  type RunningApp,
} from './fixtures.js';

describe('a NestJS app with StowageModule on the memory backend', () => {
  let client: CacheClient;
  let running: RunningApp;
  const acme = { 'x-tenant': 'acme' };
  const globex = { 'x-tenant': 'globex' };

  beforeAll(async () => {
    client = new CacheClient({ backend: createMemoryBackend(), prefix: 'nest', service: 'plans' });
    running = await startApp(StowageModule.forRoot({ client, scope: headerScope }));
  });
  afterAll(async () => {
    await running?.app.close();
    await client?.close();
  });
  beforeEach(() => runs.clear());

  it('caches a provider method once per tenant and key, never across tenants', async () => {
    const first = await running.get('/plans/gold', acme);
    expect(first).toMatchObject({ status: 200, body: { id: 'gold', tenant: 'acme', run: 1 } });
    expect((await running.get('/plans/gold', acme)).body).toEqual(first.body);
    const other = await running.get('/plans/gold', globex);
    expect(other.body).toEqual({ id: 'gold', tenant: 'globex', run: 1 });
    expect((await running.get('/plans/gold', globex)).body).toEqual(other.body);
    expect([runsOf('plan', 'acme', 'gold'), runsOf('plan', 'globex', 'gold')]).toEqual([1, 1]);
    // The keys carry the tenant: the same route stored two entries.
    expect(await client.scoped('stack', { stack: 'acme' }).bustRecent()).toBeGreaterThan(0);
  });

  it('keeps concurrent requests of two tenants apart', async () => {
    const calls = Array.from({ length: 20 }, (_, i) =>
      running.get('/plans/silver', i % 2 === 0 ? acme : globex),
    );
    const answers = await Promise.all(calls);
    answers.forEach((answer, i) => {
      expect(answer.body).toMatchObject({ tenant: i % 2 === 0 ? 'acme' : 'globex', run: 1 });
    });
    expect([runsOf('plan', 'acme', 'silver'), runsOf('plan', 'globex', 'silver')]).toEqual([1, 1]);
  });

  it('runs Stack-level calls uncached for a request without a tenant', async () => {
    expect((await running.get('/plans/bronze')).body).toEqual({ id: 'bronze', run: 1 });
    expect((await running.get('/plans/bronze')).body).toMatchObject({ run: 2 });
    // …and a later tenant request does not see what the tenantless requests computed.
    expect((await running.get('/plans/bronze', acme)).body).toMatchObject({
      tenant: 'acme',
      run: 1,
    });
  });

  it('shares Service-level entries between tenants', async () => {
    expect((await running.get('/plans/rate/EUR', acme)).body).toEqual({ currency: 'EUR', run: 1 });
    expect((await running.get('/plans/rate/EUR', globex)).body).toEqual({
      currency: 'EUR',
      run: 1,
    });
    expect(runsOf('rate', 'any tenant', 'EUR')).toBe(1);
  });

  it('caches controller methods with @cache below or above the route decorators', async () => {
    for (const headers of [acme, acme, globex, globex]) {
      const square = await running.get('/plans/square/7', headers);
      expect(square).toMatchObject({ status: 203, body: { n: 7, square: 49, run: 1 } });
      const cube = await running.get('/plans/cube/3', headers);
      expect(cube).toMatchObject({ status: 200, body: { n: 3, cube: 27, run: 1 } });
      expect(cube.headers.get('x-cached-by')).toBe('stowage');
    }
    expect([runsOf('square', 'acme', 7), runsOf('square', 'globex', 7)]).toEqual([1, 1]);
    expect([runsOf('cube', 'acme', 3), runsOf('cube', 'globex', 3)]).toEqual([1, 1]);
    // ParseIntPipe ran (design:paramtypes and the route args survived the wrapper): a number key.
    expect((await running.get('/plans/square/x', acme)).status).toBe(400);
  });

  it('keeps the metadata Nest reads on the wrapped methods', () => {
    const proto = PlanController.prototype;
    expect(Reflect.getMetadata(PATH_METADATA, proto.square)).toBe('square/:n');
    expect(Reflect.getMetadata(HTTP_CODE_METADATA, proto.square)).toBe(203);
    expect(Reflect.getMetadata(PATH_METADATA, proto.cube)).toBe('cube/:n');
    expect(Reflect.getMetadata('design:paramtypes', proto, 'square')).toEqual([Number]);
    expect(Reflect.getMetadata('design:paramtypes', PlanController)).toHaveLength(2);
    const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, PlanController, 'cube') as object;
    expect(Object.values(args)).toMatchObject([{ index: 0, data: 'n' }]);
  });

  it('covers guards and what an interceptor does after the handler', async () => {
    const answer = await running.get('/plans/guarded/gold', globex);
    expect(answer.body).toMatchObject({ body: { tenant: 'globex' }, after: 'globex' });
    expect([runsOf('plan', 'globex', 'guard'), runsOf('plan', 'globex', 'after')]).toEqual([1, 1]);
  });

  it('refuses a request whose resolver throws, before the handler runs', async () => {
    const refused = await running.get('/plans/gold', { 'x-tenant': 'refuse-me' });
    expect(refused).toMatchObject({ status: 400, body: { message: 'unknown tenant' } });
    expect(runs.size).toBe(0);
  });

  it('refuses a tenant that is not a string (a repeated header) instead of guessing', async () => {
    const refused = await running.get('/plans/gold', { 'x-tenants': 'acme,globex' });
    expect(refused.status).toBe(500);
    expect(runs.size).toBe(0);
  });

  it('waits for an async resolver and refuses what it rejects', async () => {
    for (const tenant of ['acme', 'globex', 'acme', 'globex']) {
      const answer = await running.get('/plans/async', { 'x-async-tenant': tenant });
      expect(answer.body).toMatchObject({ tenant, run: 1 });
    }
    const refused = await running.get('/plans/async', { 'x-async-tenant': 'refuse-me' });
    expect(refused).toMatchObject({ status: 400, body: { message: 'unknown tenant' } });
    expect(runs.size).toBe(2);
  });

  it('injects the client the app passed', () => {
    expect(running.app.get(PlanController).client).toBe(client);
  });
});
