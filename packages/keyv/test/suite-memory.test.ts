// @keyv/test-suite on the memory backend, through a root client with a prefix, through a tenant's
// scoped client, and with encryption on: the same 30 tests must pass on each.
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient, StorageLevel } from '@stowage/core';
import { afterAll, describe } from 'vitest';
import { runKeyvTestSuite } from './keyv-suite.js';

describe('@keyv/test-suite on memory, root client', () => {
  const client = new CacheClient({ backend: createMemoryBackend(), prefix: 'app' });
  afterAll(() => client.close());
  runKeyvTestSuite(() => client);
});

describe('@keyv/test-suite on memory, a scoped client', () => {
  const root = new CacheClient({ backend: createMemoryBackend(), prefix: 'app' });
  afterAll(() => root.close());
  runKeyvTestSuite(() => root.scoped(StorageLevel.Stack, { stack: 'acme' }));
});

describe('@keyv/test-suite on memory, encrypted and always compressed', () => {
  const client = new CacheClient({
    backend: createMemoryBackend(),
    prefix: 'app',
    encryptionKey: 'keyv suite passphrase',
    compress: true,
  });
  afterAll(() => client.close());
  runKeyvTestSuite(() => client);
});
