export { BreakerState } from './breaker.js';
export { KeyDistribution } from './key-distribution.js';
export { createMemcachedBackend, MemcachedBackend } from './memcached-backend.js';
export {
  DEFAULT_BREAKER_COOLDOWN_MS,
  DEFAULT_BREAKER_MAX_COOLDOWN_MS,
  DEFAULT_BREAKER_THRESHOLD,
  DEFAULT_DISTRIBUTION,
  DEFAULT_MAX_VALUE_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT_MS,
} from './memcached-options.js';
export type { MemcachedBackendOptions } from './memcached-options.js';
export { createBackendFromUrl } from './memcached-url.js';
