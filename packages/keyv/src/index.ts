export { StowageKeyvStore } from './keyv-store.js';
export type { KeyvSetManyEntry, StowageKeyvStoreOptions } from './keyv-store.js';
export { assertKeyvString, keyvEntryExpired, keyvTtlSeconds } from './keyv-mapping.js';
