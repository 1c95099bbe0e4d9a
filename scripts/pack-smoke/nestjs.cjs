// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// NestJS apps are CommonJS: the CommonJS build of @stowage/nestjs in a Nest application context,
// with a client the app owns (left open on close) and forRootAsync.
require('reflect-metadata');
const assert = require('node:assert/strict');
const { Injectable, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { InjectCache, STOWAGE_CLIENT, StowageModule } = require('@stowage/nestjs');

class Settings {
  constructor() {
    this.prefix = 'smoke';
  }
}
Injectable()(Settings);
class SettingsModule {}
Module({ providers: [Settings], exports: [Settings] })(SettingsModule);

(async () => {
  const { CacheClient } = await import('@stowage/core');
  const { createMemoryBackend } = await import('@stowage/backend-memory');
  const owned = new CacheClient({ backend: createMemoryBackend() });
  class Reader {
    constructor(client) {
      this.client = client;
    }
  }
  InjectCache()(Reader, undefined, 0);
  Injectable()(Reader);

  class AppModule {}
  Module({ imports: [StowageModule.forRoot({ client: owned })], providers: [Reader] })(AppModule);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  assert.equal(app.get(Reader).client, owned);
  await app.close();
  await owned.set('k', 1); // the app's own client stays open
  assert.equal(await owned.get('k'), 1);
  await owned.close();

  class AsyncModule {}
  Module({
    imports: [
      StowageModule.forRootAsync({
        imports: [SettingsModule],
        inject: [Settings],
        useFactory: (settings) => ({ cache: { url: 'memory://', prefix: settings.prefix } }),
      }),
    ],
  })(AsyncModule);
  const second = await NestFactory.createApplicationContext(AsyncModule, { logger: false });
  const created = second.get(STOWAGE_CLIENT);
  await created.set('k', 2);
  assert.equal(await created.get('k'), 2);
  await second.close();
  await assert.rejects(created.get('k'), { code: 'E_CACHE_CLOSED' });
  console.log('nestjs CommonJS ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
