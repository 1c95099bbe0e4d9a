// Keeps a client's recent keys and the shared file (`localPath`) in step, off the request path:
// the stack journals changes in memory, and a background flush (one timer per batch, unref'd)
// merges them into the file under its lock.
import { resolve as resolvePath } from 'node:path';
import { CacheConfigError, CacheErrorCode, isCacheError, type CacheError } from '../errors.js';
import { booleanOption, integerOption } from '../options.js';
import {
  MAX_SHARED_RECENT_KEYS,
  readFileEntries,
  replaceRecentKeysFile,
  toRecentKey,
  type FileEntry,
} from './recent-keys-file.js';
import { removeOrphans, withFileLock } from './recent-keys-lock.js';
import type { RecentKey, RecentKeyChanges, RecentKeysStack } from './recent-keys.js';

/** Default delay from the first change of a batch to its flush to the file, in milliseconds. */
export const DEFAULT_LOCAL_FLUSH_MS = 100;
/** Longest a bust waits for other processes' flushes before reading the file, in milliseconds. */
export const MAX_BUST_WAIT_MS = 1000;
/** Longest delay between retries of a flush that failed, in milliseconds. */
const MAX_RETRY_MS = 5000;

/** Options of a {@link RecentKeysSync}. */
export interface RecentKeysSyncOptions {
  /** The shared file, an absolute path. */
  readonly path: string;
  /** Delay from the first change of a batch to its flush, in milliseconds. */
  readonly flushMs: number;
  /** Most keys the file keeps (the client's `recentKeys`). */
  readonly maxSize: number;
  /** The clock, in epoch milliseconds. */
  readonly now: () => number;
  /** How long before it is booked a delete may have been sent (the client's `timeoutMs`). */
  readonly slackMs: number;
  /** Load the file's keys into memory at start (Q2's `seed_from_file`). */
  readonly seed: boolean;
  /** Reports a problem with the file (a `warning` event); never throws. */
  readonly warn: (error: CacheError) => void;
}

/** The later of two expiries, `undefined` (none) being the latest: pruning early is unsafe. */
function laterExpiry(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : Math.max(a, b);
}

/**
 * The file's entries after a process's changes (the pure part of Q2's `UPDATE`): entries recorded
 * before a clear or a removal of their key are dropped (a later record by another process
 * survives), changed keys move to the newest end stamped `takenAtMs` (when the changes were
 * taken: each was made before), keys expired at `nowMs` are pruned, and the oldest go past
 * `maxSize`.
 */
export function mergeRecentKeys(
  file: readonly FileEntry[],
  changes: RecentKeyChanges,
  limits: { readonly nowMs: number; readonly takenAtMs: number; readonly maxSize: number },
): FileEntry[] {
  const byKey = new Map<string, FileEntry>();
  const cleared = changes.clearedAtMs;
  for (const entry of file) {
    const removedAt = changes.removed.get(entry.fullKey);
    if (cleared !== undefined && entry.recordedAtMs < cleared) continue;
    if (removedAt !== undefined && entry.recordedAtMs < removedAt) continue;
    byKey.set(entry.fullKey, entry);
  }
  for (const key of changes.changed) {
    const previous = byKey.get(key.fullKey);
    byKey.delete(key.fullKey);
    byKey.set(key.fullKey, {
      key: key.key,
      prefix: key.prefix,
      fullKey: key.fullKey,
      isEncrypted: key.isEncrypted,
      expiresAtMs:
        previous === undefined
          ? key.expiresAtMs
          : laterExpiry(previous.expiresAtMs, key.expiresAtMs),
      recordedAtMs: limits.takenAtMs,
    });
  }
  const live = [...byKey.values()].filter(
    (entry) => entry.expiresAtMs === undefined || entry.expiresAtMs > limits.nowMs,
  );
  return live.slice(Math.max(0, live.length - limits.maxSize));
}

/** A file-system failure as the `CacheError` a warning carries. */
function fileError(path: string, error: unknown): CacheError {
  if (isCacheError(error)) return error;
  return new CacheConfigError(`recent-keys file ${path}: ${(error as Error).message}`, {
    cause: error,
  });
}

/**
 * The link between one client's {@link RecentKeysStack} and the shared file. Every flush is one
 * read-modify-write under the file's lock; flushes of a process run one at a time.
 */
export class RecentKeysSync {
  readonly #stack: RecentKeysStack;
  readonly #options: RecentKeysSyncOptions;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #failures = 0;
  #lastTakenAtMs = 0;
  #cleaned = false;
  #closed = false;

  constructor(stack: RecentKeysStack, options: RecentKeysSyncOptions) {
    this.#stack = stack;
    this.#options = options;
    stack.journal(() => this.#schedule(options.flushMs), options.slackMs);
    if (options.seed) {
      // An unreadable file only means nothing to seed: the bust reads it again.
      this.#chain = this.#readLive()
        .catch((error: unknown) => {
          options.warn(fileError(options.path, error));
          return [];
        })
        .then((entries) => stack.seed(entries));
    }
  }

  /** The file's path. */
  get path(): string {
    return this.#options.path;
  }

  /**
   * Writes what changed to the file now, after any flush already running; resolves when it is
   * written or has failed (a failure is a warning, and the changes wait for the next flush).
   */
  flush(): Promise<void> {
    this.#chain = this.#chain.then(() => this.#flushOnce());
    return this.#chain;
  }

  /**
   * Every live key this process or any other recorded, for a bust: the file's (a corrupt file is
   * a warning and reads as empty) and this process's memory, without duplicates. It first waits
   * one flush interval (at most {@link MAX_BUST_WAIT_MS}), so keys other processes recorded before
   * the call have reached the file (when their flush is not held up by the lock). When the file
   * exists but cannot be read (permissions, I/O), `keys` holds this process's keys only and
   * `unread` says why: the bust deletes those, then rejects with it — a bust of this process's
   * keys alone must not look like a bust of every process's.
   */
  async listForBust(): Promise<{ keys: RecentKey[]; unread: CacheError | undefined }> {
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(this.#options.flushMs, MAX_BUST_WAIT_MS)),
    );
    const byKey = new Map<string, RecentKey>();
    let unread: CacheError | undefined;
    try {
      for (const key of await this.#readLive()) byKey.set(key.fullKey, key);
    } catch (error) {
      unread = fileError(this.#options.path, error);
    }
    for (const key of this.#stack.list()) byKey.set(key.fullKey, key);
    return { keys: [...byKey.values()], unread };
  }

  /**
   * The time to date a delete this process is about to send: later than every batch this
   * process has taken, so its removal beats the entries those batches write (a tie would keep
   * them: an entry recorded in the same millisecond as a delete may be newer than it). Waits for
   * the clock to pass the last batch: a millisecond, at most ten.
   */
  async deleteTime(): Promise<number> {
    let time = this.#options.now();
    // Bounded: an injected clock may stand still (then the tie keeps the entries, harmless).
    for (let tries = 0; time <= this.#lastTakenAtMs && tries < 10; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      time = this.#options.now();
    }
    return time;
  }

  /**
   * Stops the timer and writes the last changes, trying three times: after close nothing retries
   * them, and keys lost here are keys another process cannot bust.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
    for (let tries = 1; tries < 3 && this.#stack.hasChanges; tries++) await this.flush();
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined) return;
    // After close() a change (a late background write) is written at once rather than lost —
    // unless writing already failed: no retry loop once the client is closed.
    if (this.#closed) {
      if (this.#failures === 0) void this.flush();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, delayMs);
    this.#timer.unref();
  }

  async #readLive(): Promise<RecentKey[]> {
    const now = this.#options.now();
    return (await this.#readEntries())
      .filter((entry) => entry.expiresAtMs === undefined || entry.expiresAtMs > now)
      .map(toRecentKey);
  }

  /**
   * The file's entries; a corrupt or foreign file is a warning and `[]` (the next flush replaces
   * it). Any other failure (permissions, I/O) is thrown: a flush that took it for an empty list
   * would overwrite every other process's keys.
   */
  async #readEntries(): Promise<FileEntry[]> {
    try {
      return await readFileEntries(this.#options.path);
    } catch (error) {
      if (!isCacheError(error, CacheErrorCode.Decode)) throw error;
      this.#options.warn(error);
      return [];
    }
  }

  async #flushOnce(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const changes = this.#stack.takeChanges();
    if (changes === undefined) return;
    const { path, maxSize, now } = this.#options;
    // Every change was made by now: the latest time a removal must beat (see mergeRecentKeys).
    const takenAtMs = now();
    this.#lastTakenAtMs = takenAtMs;
    try {
      await withFileLock(path, async () => {
        if (!this.#cleaned) {
          this.#cleaned = true;
          await removeOrphans(path);
        }
        const merged = mergeRecentKeys(await this.#readEntries(), changes, {
          nowMs: now(),
          takenAtMs,
          maxSize,
        });
        await replaceRecentKeysFile(path, merged);
      });
      this.#failures = 0;
    } catch (error) {
      // Nothing is lost: the changes wait for the next try, which backs off up to 5 s.
      this.#failures++;
      this.#options.warn(fileError(path, error));
      this.#stack.restoreChanges(changes);
      clearTimeout(this.#timer);
      this.#timer = undefined;
      if (!this.#closed) {
        this.#schedule(Math.min(this.#options.flushMs * 2 ** this.#failures, MAX_RETRY_MS));
      }
    }
  }
}

/** The shared-file options of a client, checked: what {@link RecentKeysSync} is built from. */
export interface ResolvedLocalPath {
  /** The file, made absolute (every process must name the same file whatever its cwd). */
  readonly path: string;
  /** Delay from a change to its flush, in milliseconds. */
  readonly flushMs: number;
  /** Load the file's keys into memory at start. */
  readonly seed: boolean;
}

/**
 * Checks `localPath`, `seedFromFile` and `localFlushMs` (no I/O: the file is first touched by a
 * flush or a seed), or throws `CacheConfigError` naming the option. `undefined` without a path.
 */
export function resolveLocalPath(
  options: {
    readonly localPath?: string | undefined;
    readonly seedFromFile?: boolean | undefined;
    readonly localFlushMs?: number | undefined;
  },
  recentKeys: number,
): ResolvedLocalPath | undefined {
  const { localPath, seedFromFile, localFlushMs } = options;
  booleanOption(seedFromFile, 'seedFromFile');
  if (localPath === undefined) {
    if (seedFromFile === true || localFlushMs !== undefined) {
      throw new CacheConfigError('`seedFromFile` and `localFlushMs` need `localPath`');
    }
    return undefined;
  }
  if (typeof localPath !== 'string' || localPath.trim() === '' || localPath.includes('\0')) {
    throw new CacheConfigError('`localPath` must be a non-empty file path without NUL characters');
  }
  if (recentKeys === 0) {
    throw new CacheConfigError('`localPath` shares recent keys; it needs `recentKeys` above 0');
  }
  // Every flush reads and rewrites the whole list: keep it small enough to do that often.
  if (recentKeys > MAX_SHARED_RECENT_KEYS) {
    throw new CacheConfigError(
      `\`recentKeys\` must be at most ${MAX_SHARED_RECENT_KEYS} with \`localPath\`; got ${recentKeys}`,
    );
  }
  return {
    path: resolvePath(localPath),
    flushMs: integerOption(localFlushMs, 'localFlushMs', DEFAULT_LOCAL_FLUSH_MS, {
      min: 1,
      max: 60_000,
    }),
    seed: seedFromFile === true,
  };
}
