// The decorator end to end on a real memcached: the same suite as on the memory backend, against
// a server the test starts on 127.0.0.1 and stops by PID. Time moves in real time here.
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe } from 'vitest';
import { describeDecoratorSuite } from './suite.js';

describe.runIf(hasBinary('memcached'))('end to end on memcached', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startMemcached();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeDecoratorSuite('memcached', {
    createBackend: () => createMemcachedBackend({ servers: server.address }),
    advanceTime: (ms) => sleep(ms),
  });
});
