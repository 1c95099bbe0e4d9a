// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// A Nest application context (no HTTP adapter is installed here) with StowageModule: the client
// is injectable, a provider's @cache method runs once per tenant, app.close() closes the client.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CacheConfigError } from '@stowage/core';
import { cache, runWithCacheScope } from '@stowage/decorator';
import { InjectCache, STOWAGE_CLIENT, StowageModule } from '@stowage/nestjs';

let runs = 0;
class Plans {
  constructor(client) {
    this.client = client;
  }
  async plan(id) {
    runs++;
    return { id };
  }
}
// What `@Injectable()`, `@InjectCache()` and `@cache()` compile to with legacy decorators.
const descriptor = Object.getOwnPropertyDescriptor(Plans.prototype, 'plan');
Object.defineProperty(
  Plans.prototype,
  'plan',
  cache({ ttl: '1m' })(Plans.prototype, 'plan', descriptor),
);
InjectCache()(Plans, undefined, 0);
Injectable()(Plans);
class AppModule {}
Module({ imports: [StowageModule.forRoot({ cache: { url: 'memory://' } })], providers: [Plans] })(
  AppModule,
);

const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
const plans = app.get(Plans);
const client = app.get(STOWAGE_CLIENT);
assert.equal(plans.client, client);
for (const stack of ['acme', 'acme', 'globex']) {
  assert.deepEqual(await runWithCacheScope({ client, stack }, () => plans.plan('gold')), {
    id: 'gold',
  });
}
assert.equal(runs, 2);
assert.throws(() => StowageModule.forRoot({}), CacheConfigError);
await app.close();
await assert.rejects(client.get('k'), { code: 'E_CACHE_CLOSED' });
console.log('nestjs ESM ok');
