/**
 * Attribute keys on Stowage's spans and metric points: the OpenTelemetry database semantic
 * conventions where they say something (`db.*`, `server.*`, `error.type`), `stowage.*` for what
 * only a cache knows. Copied as strings rather than imported from
 * `@opentelemetry/semantic-conventions`, as OpenTelemetry recommends for instrumentations (no
 * runtime dependency); a test checks them against that package.
 */
export const STOWAGE_ATTRIBUTES = {
  /** `memcached`, `redis`, or `stowage.<backend>` for others (see `dbSystemNames`). */
  dbSystemName: 'db.system.name',
  /** The Stowage operation: `get`, `getMany`, `getOrSet`, … (never a backend command). */
  dbOperationName: 'db.operation.name',
  /** Entries in a `setMany` of 0 or ≥ 2 entries (the conventions never set it to 1). */
  dbOperationBatchSize: 'db.operation.batch.size',
  /** Host of the server, when the backend reports it or the `serverAddress` option sets it. */
  serverAddress: 'server.address',
  /** Port of the server, when known. */
  serverPort: 'server.port',
  /** A failed call's error code (`E_CACHE_TIMEOUT`, …), else its class name, else `_OTHER`. */
  errorType: 'error.type',
  /** How the call ended: `hit`, `miss`, `stale`, `notFound`, `ok`, `noop` or `error`. */
  outcome: 'stowage.outcome',
  /** Scope level of the client (`service`, `stack`, `session`); absent for the root client. */
  level: 'stowage.level',
  /** The full key — only when the client was created with `traceKeys: true`. */
  key: 'stowage.key',
  /** Keys a `getMany`, `setMany` or `deleteMany` concerns. */
  keyCount: 'stowage.key_count',
  /** Stored bytes read (after compression and encryption), in bytes. */
  bytesIn: 'stowage.bytes_in',
  /** Stored bytes written (after compression and encryption), in bytes. */
  bytesOut: 'stowage.bytes_out',
  /** On `getOrSet`: whether the call waited for another caller's lease. */
  leaseWaited: 'stowage.lease_waited',
  /** On factory spans (which carry no `db.*` attributes): the backend's name. */
  backend: 'stowage.backend',
} as const;

/** Names of the instruments this package records; units in each entry's comment. */
export const STOWAGE_METRICS = {
  /** Histogram, seconds: every client operation (the semantic conventions' stable metric). */
  operationDuration: 'db.client.operation.duration',
  /** Histogram, seconds: `getOrSet` factory runs (kept out of the database metric). */
  factoryDuration: 'stowage.client.factory.duration',
  /** Counter, `{hit}`: reads that found a value or a remembered "not found". */
  hits: 'stowage.client.hits',
  /** Counter, `{miss}`: reads that found nothing usable. */
  misses: 'stowage.client.misses',
  /** Counter, `{serve}`: reads answered with a value past its `ttl` (grace). */
  staleServes: 'stowage.client.stale_serves',
  /** Counter, `{error}`: calls that threw, by `error.type`. */
  errors: 'stowage.client.errors',
  /** Counter, bytes: stored bytes read. */
  bytesIn: 'stowage.client.bytes_in',
  /** Counter, bytes: stored bytes written. */
  bytesOut: 'stowage.client.bytes_out',
  /** Counter, `{wait}`: `getOrSet` calls that waited for another caller's lease. */
  leaseWaits: 'stowage.client.lease_waits',
} as const;

/**
 * Bucket boundaries of the duration histograms, in seconds: the semantic conventions' advice
 * (1 ms … 10 s) with sub-millisecond buckets in front, because an in-process hit takes tens of
 * microseconds and would otherwise land in one bucket with a 900 µs network round trip. The
 * conventions' boundaries are all kept, so series still merge with other database clients'.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10,
];
