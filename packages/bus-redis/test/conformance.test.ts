import { describeBusConformance } from '@stowage/conformance';
import { startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { createRedisBus } from '../src/index.js';
import { redisAvailable } from './helpers.js';

describe.runIf(redisAvailable)('redis bus', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });
  describeBusConformance('redis', {
    create: () => createRedisBus({ url: `redis://127.0.0.1:${server.port}`, channel: 'conf' }),
  });
});
