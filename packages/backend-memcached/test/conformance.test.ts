import { randomUUID } from 'node:crypto';
import { describeBackendConformance } from '@stowage/conformance';
import { MEMCACHED_MAX_KEY_BYTES } from '@stowage/core';
import { freePort, hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, describe } from 'vitest';
import { createMemcachedBackend } from '../src/index.js';

const available = hasBinary('memcached');
const server: ServerHandle | undefined = available ? await startMemcached() : undefined;
afterAll(async () => {
  await server?.stop();
});

// The suite's namespaces are `cf-<uuid>`; as a key prefix (`cf-<uuid>:`) their bytes count
// against memcached's 250-byte limit.
const namespaceBytes = Buffer.byteLength(`cf-${randomUUID()}:`);

describe.runIf(available)('memcached (real server)', () => {
  describeBackendConformance('memcached', {
    capabilities: createMemcachedBackend({ servers: '127.0.0.1:1' }).capabilities,
    minKeyBytes: MEMCACHED_MAX_KEY_BYTES - namespaceBytes,
    create: (namespace) =>
      createMemcachedBackend({ servers: server!.address, keyPrefix: `${namespace}:` }),
    createUnreachable: async () =>
      createMemcachedBackend({ servers: `127.0.0.1:${await freePort()}`, timeoutMs: 500 }),
  });
});
