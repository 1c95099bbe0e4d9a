// The Cluster hash slot of a key, to choose hash tags for keys read together.
export { CLUSTER_SLOTS, keySlot } from './cluster-slot.js';
// The types of the `client` option and getter, for code that passes or wraps its own client.
export type {
  CorkableStream,
  RedisArg,
  RedisClientLike,
  RedisPipelineLike,
} from './client-like.js';
export { createBackendFromUrl, createRedisBackend, RedisBackend } from './redis-backend.js';
// The options' defaults and bounds, named as the other bundled backends name theirs.
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_VALUE_BYTES,
  MAX_VALUE_BYTES_LIMIT,
} from './redis-options.js';
export type { RedisBackendOptions, RedisDriver } from './redis-options.js';
// A client you own, built from the same CACHE_URL, must not get the URL's query as ioredis
// options (ioredis would take `?keyPrefix=` as its own prefix, which the backend refuses).
export { parseRedisUrl } from './redis-url.js';
export type { ParsedRedisUrl, RedisUrlOptions } from './redis-url.js';
