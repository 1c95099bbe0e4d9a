/**
 * The four operations on the shared recent-keys file (`localPath`, Q2's `LocalCacheAction`), each
 * under Q2's name (`READ`, …) and the camel-case name used elsewhere in Stowage (`Read`, …); both
 * have Q2's string values. See the core README, "Recent keys across processes".
 */
export const LocalCacheAction = {
  /** Read the whole list from the file (no lock: the file is only ever replaced whole). */
  READ: 'read',
  /** Atomically replace the whole file (a temporary file in the same directory, renamed over it). */
  SET: 'set',
  /** Replace the file with an empty list. */
  CLEAR: 'clear',
  /** Read-modify-write under the file's lock: merge one process's changes. */
  UPDATE: 'update',
  /** Same as {@link LocalCacheAction.READ}. */
  Read: 'read',
  /** Same as {@link LocalCacheAction.SET}. */
  Set: 'set',
  /** Same as {@link LocalCacheAction.CLEAR}. */
  Clear: 'clear',
  /** Same as {@link LocalCacheAction.UPDATE}. */
  Update: 'update',
} as const;

/** One of the {@link LocalCacheAction} values. */
export type LocalCacheAction = (typeof LocalCacheAction)[keyof typeof LocalCacheAction];
