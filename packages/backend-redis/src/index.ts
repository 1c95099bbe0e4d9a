export { CLUSTER_SLOTS, keySlot } from './cluster-slot.js';
export type {
  CorkableStream,
  RedisArg,
  RedisClientLike,
  RedisPipelineLike,
} from './client-like.js';
export { createBackendFromUrl, createRedisBackend, RedisBackend } from './redis-backend.js';
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_VALUE_BYTES,
  MAX_VALUE_BYTES_LIMIT,
} from './redis-options.js';
export type { RedisBackendOptions, RedisDriver } from './redis-options.js';
// Public on purpose: a caller who owns the ioredis client builds it from the same URL with the
// same safe defaults (see the README's "Caller-owned clients").
export { parseRedisUrl } from './redis-url.js';
export type { ParsedRedisUrl } from './redis-url.js';
export { safeClusterOptions, safeRedisOptions } from './safe-options.js';
// Public on purpose: the stored format, for tools that read the server directly.
export {
  decodeStored,
  encodeStored,
  FOREIGN_FLAGS,
  HEADER_BYTES,
  LEGACY_HEADER_BYTES,
  readStored,
  StoredProblem,
} from './stored-format.js';
