export { CLUSTER_SLOTS, keySlot } from './cluster-slot.js';
export {
  parseRedisUrl,
  reconnectDelay,
  safeClusterOptions,
  safeRedisOptions,
  URL_PARAMS,
} from './connection.js';
export type {
  CorkableStream,
  ParsedRedisUrl,
  RedisArg,
  RedisClientLike,
  RedisPipelineLike,
  UrlParam,
} from './connection.js';
export {
  createBackendFromUrl,
  createRedisBackend,
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_VALUE_BYTES,
  MAX_VALUE_BYTES_LIMIT,
  RedisBackend,
} from './redis-backend.js';
export type { RedisBackendOptions, RedisDriver } from './redis-backend.js';
export {
  decodeStored,
  encodeStored,
  FOREIGN_FLAGS,
  HEADER_BYTES,
  LEGACY_HEADER_BYTES,
  readStored,
  StoredProblem,
} from './stored-format.js';
