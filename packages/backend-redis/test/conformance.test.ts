import { describeBackendConformance } from '@stowage/conformance';
import { freePort, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import * as iovalkey from 'iovalkey';
import { createRedisBackend, type RedisDriver } from '../src/index.js';
import { drivers, redisAvailable, startServer } from './helpers.js';

let server: ServerHandle | undefined;
beforeAll(async () => {
  if (redisAvailable) server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

// iovalkey (the Valkey project's fork of ioredis) is accepted as a driver too.
const everyDriver: ReadonlyArray<readonly [string, RedisDriver | undefined]> = [
  ...drivers,
  ['iovalkey', iovalkey],
];

describe.skipIf(!redisAvailable)('redis backend', () => {
  for (const [label, driver] of everyDriver) {
    describeBackendConformance(`redis (${label})`, {
      // What the Redis backend must declare, written out: never read back from a backend.
      // `timeoutMs` is the backend's default deadline (`create` passes none).
      capabilities: {
        ttlPrecision: 'milliseconds',
        scopedClear: true,
        counters: 'signed64',
        delayedFlush: false,
        timeoutMs: 1000,
      },
      create: (namespace) =>
        createRedisBackend({
          url: `redis://127.0.0.1:${server!.port}`,
          keyPrefix: `${namespace}:`,
          driver,
        }),
      createUnreachable: async () =>
        createRedisBackend({
          url: `redis://127.0.0.1:${await freePort()}`,
          timeoutMs: 500,
          driver,
        }),
    });
  }
});
