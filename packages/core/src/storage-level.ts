/**
 * The scope a cached value is stored at (Q2's `StorageLevel`). A scoped client adds the scope's
 * segment to every key, so two tenants or two sessions never share an entry.
 */
export const StorageLevel = {
  /** Shared by every tenant of one service; the segment is the service name. */
  Service: 'service',
  /** One tenant (Q2's stack / customer key); the segment is the stack id. */
  Stack: 'stack',
  /** The same level as {@link StorageLevel.Stack}, by the name most Node services use for it. */
  Tenant: 'stack',
  /** One user session; the segment is the session id. */
  Session: 'session',
} as const;

/** One of the {@link StorageLevel} values. */
export type StorageLevel = (typeof StorageLevel)[keyof typeof StorageLevel];

const LEVELS: ReadonlySet<string> = new Set(Object.values(StorageLevel));

/** True when `value` is one of the {@link StorageLevel} values. */
export function isStorageLevel(value: unknown): value is StorageLevel {
  return typeof value === 'string' && LEVELS.has(value);
}
