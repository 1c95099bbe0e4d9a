export {
  createBackendFromUrl,
  createMemcachedBackend,
  DEFAULT_BREAKER_COOLDOWN_MS,
  DEFAULT_BREAKER_MAX_COOLDOWN_MS,
  DEFAULT_BREAKER_THRESHOLD,
  DEFAULT_MAX_VALUE_BYTES,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT_MS,
  MemcachedBackend,
  toExpiration,
} from './memcached-backend.js';
export type { MemcachedBackendOptions } from './memcached-backend.js';
export { BreakerState } from './breaker.js';
