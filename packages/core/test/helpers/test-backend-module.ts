// A backend module for getCache tests: what `loadBackendModule` hands back instead of a real
// backend package (core cannot depend on @stowage/backend-memory: that would be a turbo cycle).
import type { BackendModule, BackendUrlOptions, CacheBackend } from '../../src/index.js';
import { RecordingBackend } from '@stowage/testkit';

/** One call of `createBackendFromUrl`. */
export interface CreatedBackend {
  readonly packageName: string;
  readonly url: URL;
  readonly options: BackendUrlOptions;
  readonly backend: CacheBackend;
}

/** A loader that records which package was asked for and creates recording backends. */
export function testBackendLoader(): {
  load: (packageName: string) => Promise<BackendModule>;
  created: CreatedBackend[];
} {
  const created: CreatedBackend[] = [];
  return {
    created,
    load: async (packageName) => ({
      createBackendFromUrl(url, options) {
        const backend = new RecordingBackend({ async: url.protocol !== 'memory:' });
        created.push({ packageName, url, options, backend });
        return backend;
      },
    }),
  };
}
