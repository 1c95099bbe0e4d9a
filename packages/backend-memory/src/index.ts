export {
  createBackendFromUrl,
  createMemoryBackend,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_VALUE_BYTES,
  MemoryBackend,
} from './memory-backend.js';
export type { MemoryBackendOptions, MemoryClock } from './memory-backend.js';
