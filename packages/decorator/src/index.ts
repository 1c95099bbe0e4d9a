export { MIN_GENERATION_TTL_SECONDS } from './cached-call.js';
export { cached, invalidate, invalidateAll } from './cached.js';
export type { CachedFunction, CachedMethodArgs, CachedMethodName } from './cached.js';
export { cacheContext, getCacheScope, runWithCacheScope } from './context.js';
export type { CacheContext, CacheContextProvider } from './context.js';
export { cache } from './decorator.js';
export type { CacheDecorator } from './decorator.js';
export { DEFAULT_TIMEOUT_SECONDS } from './options.js';
export type { CacheErrorHandler, CacheErrorInfo, CacheOptions } from './options.js';
