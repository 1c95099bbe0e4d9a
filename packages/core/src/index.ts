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
} from './backend/contract.js';
export { DEFAULT_MAX_VALUE_BYTES } from './backend/contract.js';
export { BusAction } from './bus/contract.js';
export {
  DEFAULT_L1_MAX_BYTES,
  DEFAULT_L1_MAX_ENTRIES,
  DEFAULT_L1_TTL_SECONDS,
} from './tier/l1-options.js';
export type { L1Options } from './tier/l1-options.js';
export type { L1Stats } from './tier/l1-store.js';
export type { BusOption } from './tier/bus-link.js';
export {
  MAX_TAG_LENGTH,
  MAX_TAGS_PER_ENTRY,
  MAX_TAGS_PER_INVALIDATION,
} from './tags/tag-options.js';
export type { TagOptions } from './tags/tag-options.js';
export { TAGGED_FLAGS } from './tags/tag-header.js';
export { TAG_KEY_START, TAG_VERSION_FLAGS } from './tags/tag-versions.js';
export type {
  BusHandlers,
  BusMessage,
  BusModule,
  BusUrlOptions,
  CacheBus,
} from './bus/contract.js';
export type { KeyList, SetManyEntries } from './client/arguments.js';
export { CacheClient } from './client/cache-client.js';
export {
  DEFAULT_COMPRESS_THRESHOLD,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  DEFAULT_QUARANTINE_MS,
  DEFAULT_TIMEOUT_MS,
} from './client/client-options.js';
export type {
  CacheClientOptions,
  CacheEntry,
  DeleteManyOptions,
  FlushOptions,
  GetOrSetOptions,
  PartialBatches,
  NoReplyOptions,
  SetManyOptions,
  SetOptions,
} from './client/client-options.js';
export { failOpen } from './client/fail-open.js';
export type { Factory, FactoryContext } from './client/factory-run.js';
export { resolveResilience } from './client/resilience-options.js';
export type { ResilienceOptions, ResolvedResilience } from './client/resilience-options.js';
export { GRACE_FLAGS, NOT_FOUND_FLAGS } from './codec/grace.js';
export { SingleFlight } from './client/single-flight.js';
export {
  DEFAULT_LEASE_TTL_MS,
  DEFAULT_LEASE_WAIT_MS,
  resolveLease,
} from './client/lease-options.js';
export type { LeaseOptions, LeaseTimeoutAction, ResolvedLease } from './client/lease-options.js';
export type { FailOpenPolicy } from './client/fail-open.js';
export type { Flight } from './client/single-flight.js';
export { cacheKey, hashArgs, stableStringify } from './keys/cache-key.js';
export { CacheReturnCode } from './codec/cache-return-code.js';
export { createAesGcmCipher } from './codec/aes-gcm-cipher.js';
export { deserializeJson } from './codec/deserialize-json.js';
export type { DeserializeJsonOptions } from './codec/deserialize-json.js';
export type { AesGcmCipherOptions, AesGcmKey } from './codec/aes-gcm-cipher.js';
export type { CacheCipher, PlainItem } from './codec/cipher.js';
export { createFernetCipher } from './codec/fernet-cipher.js';
export type { FernetCipherOptions } from './codec/fernet-cipher.js';
export {
  asBatchError,
  CacheBackendError,
  CacheBatchError,
  CacheClosedError,
  CacheConfigError,
  CacheDecodeError,
  CacheError,
  CacheErrorCode,
  CacheFactoryError,
  CacheKeyError,
  CacheLeaseTimeoutError,
  CacheScopeError,
  CacheTimeoutError,
  CacheValueError,
  CacheWriteError,
  isCacheError,
} from './errors.js';
export type {
  CacheBackendErrorOptions,
  CacheBatchErrorOptions,
  CacheErrorOptions,
} from './errors.js';
export type { CacheLogger } from './logger.js';
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
export { getCache } from './get-cache.js';
export type { GetCacheOptions } from './get-cache.js';
export { DEFAULT_KEY_SEPARATOR, LongKeys, MEMCACHED_MAX_KEY_BYTES } from './keys/key-space.js';
export type { CacheScope } from './keys/key-space.js';
export { LocalCacheAction } from './local-cache-action.js';
export {
  DEFAULT_RECENT_KEYS,
  RecentKey,
  RecentKeysStack,
  recentKeyMatcher,
} from './client/recent-keys.js';
export type { BustRecentOptions } from './client/recent-keys.js';
export { readRecentKeysFile } from './client/recent-keys-file.js';
export { DEFAULT_LOCAL_FLUSH_MS } from './client/recent-keys-sync.js';
export { redactUrl } from './redact.js';
export { isStorageLevel, StorageLevel } from './storage-level.js';
export { MAX_TTL_SECONDS, optionSeconds, toTtlSeconds } from './ttl.js';
export type { Ttl } from './ttl.js';
export { CACHE_CHANNELS, TRACED_OPERATIONS } from './tracing.js';
export type { CacheTraceContext, TraceOutcome, TracedOperation } from './tracing.js';
