/**
 * The four operations on the shared recent-keys file (Q2's `LocalCacheAction`). The file itself
 * (`localPath`) is not implemented yet; the names are exported so code written against Q2's API
 * compiles and so the file store can use them when it lands.
 */
export const LocalCacheAction = {
  /** Read the whole list from the file. */
  Read: 'read',
  /** Atomically replace the whole file. */
  Set: 'set',
  /** Write an empty list. */
  Clear: 'clear',
  /** Read-modify-write under a lock: one append or removal. */
  Update: 'update',
} as const;

/** One of the {@link LocalCacheAction} values. */
export type LocalCacheAction = (typeof LocalCacheAction)[keyof typeof LocalCacheAction];
