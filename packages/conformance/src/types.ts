import type { BackendCapabilities, CacheBackend } from '@stowage/core';

/**
 * A backend with two servers, one of them down, for the partial-batch tests: `healthyKey` lands
 * on the server that answers, `failedKey` on the one that does not.
 */
export interface PartialBatchFixture<B extends CacheBackend = CacheBackend> {
  /** A backend spread over a healthy server and a down one (a stopped server or a closed port). */
  readonly backend: B;
  /** A key the backend sends to the healthy server. */
  readonly healthyKey: string;
  /** A key the backend sends to the server that is down. */
  readonly failedKey: string;
  /**
   * Stops whatever the fixture started. The suite closes `backend` itself first.
   * @default nothing to stop
   */
  readonly teardown?: (() => void | Promise<void>) | undefined;
}

/** Options of `describeBackendConformance`. */
export interface ConformanceOptions<B extends CacheBackend> {
  /**
   * The capabilities the backend is expected to declare, written as a **literal** in the test
   * file, never read back from a backend (that would make the check a tautology). Passed
   * statically because `it.skipIf` runs before any backend exists; the first test checks that the
   * live backend declares exactly these.
   */
  readonly capabilities: BackendCapabilities;
  /**
   * Creates a backend isolated under `namespace` (a random `cf-<uuid>` per call). Called once for
   * the suite and again by the tests that need a second instance on the same server (isolation,
   * close, the client pass).
   */
  readonly create: (namespace: string) => B | Promise<B>;
  /**
   * Moves the backend's clock forward by `ms`, in milliseconds, for the TTL and delayed-flush
   * tests. Backends with an injectable clock pass it here.
   * @default undefined (the suite waits in real time; a `'seconds'` backend about 2.1 s per wait)
   */
  readonly advanceTime?: ((ms: number) => void | Promise<void>) | undefined;
  /**
   * Creates a backend whose server cannot be reached (a closed port, so nothing can be sent), for
   * the failure tests: reads reject with `CacheBackendError`/`CacheTimeoutError` and
   * `indeterminate: false`, writes and deletes too (nothing was sent). Give it a short deadline.
   * @default undefined (the unreachable-server tests are skipped; right for in-process backends)
   */
  readonly createUnreachable?: (() => B | Promise<B>) | undefined;
  /**
   * Creates a backend over two servers, one of them down, for the partial-batch tests
   * (`CacheBatchError`). Only for backends that spread keys over several servers.
   * @default undefined (the partial-batch tests are skipped)
   */
  readonly createPartial?:
    (() => PartialBatchFixture<B> | Promise<PartialBatchFixture<B>>) | undefined;
  /**
   * Whether the backend implements `setIf` (compare-and-set), which leases need. `false` for a
   * backend without it: the lease tests are skipped and one test checks that it really has none
   * (the client then falls back to single-flight within the process).
   * @default true
   */
  readonly leases?: boolean | undefined;
  /**
   * Smallest key limit, in UTF-8 bytes, the created backends may declare. A backend whose
   * namespace prefix counts against memcached's 250 bytes declares less; the key tests use the
   * declared `limits.maxKeyBytes`.
   * @default 250
   */
  readonly minKeyBytes?: number | undefined;
  /**
   * Backend-specific tests registered inside the same `describe`; `backend()` returns the suite's
   * live instance (emptied with `clear()` after each test).
   * @default undefined
   */
  readonly extra?: ((backend: () => B) => void) | undefined;
}
