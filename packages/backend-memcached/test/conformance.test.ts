import { randomUUID } from 'node:crypto';
import { describeBackendConformance, type PartialBatchFixture } from '@stowage/conformance';
import { MEMCACHED_MAX_KEY_BYTES } from '@stowage/core';
import { freePort, hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, describe } from 'vitest';
import { createMemcachedBackend, type MemcachedBackend } from '../src/index.js';

const available = hasBinary('memcached');
const server: ServerHandle | undefined = available ? await startMemcached() : undefined;
afterAll(async () => {
  await server?.stop();
});

// The suite's namespaces are `cf-<uuid>`; as a key prefix (`cf-<uuid>:`) their bytes count
// against memcached's 250-byte limit.
const namespaceBytes = Buffer.byteLength(`cf-${randomUUID()}:`);

/** The first `cf-partial-<n>` key the backend sends to `address`. */
function keyOn(backend: MemcachedBackend, address: string): string {
  for (let n = 0; n < 10_000; n++) {
    const key = `cf-partial-${n}`;
    if (backend.serverFor(key) === address) return key;
  }
  throw new Error(`no key lands on ${address}`);
}

/** The live server beside a closed port: connections to the second one are refused. */
async function createPartial(): Promise<PartialBatchFixture<MemcachedBackend>> {
  const down = `127.0.0.1:${await freePort()}`;
  const backend = createMemcachedBackend({
    servers: [server!.address, down],
    keyPrefix: `cf-${randomUUID()}:`,
    timeoutMs: 500,
  });
  return {
    backend,
    healthyKey: keyOn(backend, server!.address),
    failedKey: keyOn(backend, down),
  };
}

describe.runIf(available)('memcached (real server)', () => {
  describeBackendConformance('memcached', {
    // What the memcached backend must declare, written out: never read back from a backend.
    // `timeoutMs` is the backend's default deadline (`create` passes none).
    capabilities: {
      ttlPrecision: 'seconds',
      scopedClear: false,
      counters: 'unsigned64',
      delayedFlush: true,
      timeoutMs: 1000,
    },
    minKeyBytes: MEMCACHED_MAX_KEY_BYTES - namespaceBytes,
    create: (namespace) =>
      createMemcachedBackend({ servers: server!.address, keyPrefix: `${namespace}:` }),
    createUnreachable: async () =>
      createMemcachedBackend({ servers: `127.0.0.1:${await freePort()}`, timeoutMs: 500 }),
    createPartial,
  });
});
