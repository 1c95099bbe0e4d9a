export type {
  Awaitable,
  BackendCapabilities,
  BackendLimits,
  BackendModule,
  BackendWarning,
  BackendUrlOptions,
  BackendWrite,
  CacheBackend,
  StoredEntry,
} from './backend.js';
export { DEFAULT_MAX_VALUE_BYTES } from './backend.js';
export {
  CacheClient,
  DEFAULT_COMPRESS_THRESHOLD,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  DEFAULT_QUARANTINE_MS,
  DEFAULT_TIMEOUT_MS,
} from './cache-client.js';
export type {
  CacheClientOptions,
  FlushOptions,
  GetOrSetOptions,
  KeyList,
  SetManyEntries,
  SetManyOptions,
  SetOptions,
} from './cache-client.js';
export { cacheKey, stableStringify } from './cache-key.js';
export { CacheReturnCode } from './cache-return-code.js';
export { createAesGcmCipher, createFernetCipher } from './cipher.js';
export type {
  AesGcmCipherOptions,
  AesGcmKey,
  CacheCipher,
  FernetCipherOptions,
  PlainItem,
} from './cipher.js';
export { Codec, looksLikeZlib } from './codec.js';
export type { CodecOptions, Deserializer, Serializer } from './codec.js';
export {
  CacheBackendError,
  CacheConfigError,
  CacheDecodeError,
  CacheError,
  CacheErrorCode,
  CacheKeyError,
  CacheScopeError,
  CacheTimeoutError,
  CacheValueError,
  CacheWriteError,
  isCacheError,
} from './errors.js';
export type { CacheBackendErrorOptions, CacheErrorOptions } from './errors.js';
export type {
  CacheEventMap,
  CacheEventName,
  CacheListener,
  CacheOperation,
  CacheStats,
  DeleteEvent,
  ErrorEvent,
  HitEvent,
  MissEvent,
  SetEvent,
  TimingEvent,
  WarningEvent,
  WarningKind,
} from './events.js';
export { BACKEND_PACKAGES, getCache } from './get-cache.js';
export type { GetCacheOptions } from './get-cache.js';
export { DEFAULT_KEY_SEPARATOR, LongKeys, MEMCACHED_MAX_KEY_BYTES } from './keys.js';
export type { CacheScope } from './keys.js';
export { LocalCacheAction } from './local-cache-action.js';
export { integerOption } from './options.js';
export type { IntegerRange } from './options.js';
export { DEFAULT_RECENT_KEYS, RecentKey, RecentKeysStack } from './recent-keys.js';
export { redactUrl } from './redact.js';
export { isStorageLevel, StorageLevel } from './storage-level.js';
export { MAX_TTL_SECONDS, toTtlSeconds } from './ttl.js';
export type { Ttl } from './ttl.js';
