// The shared recent-keys file (Q2's `local_path`): its format, a read that never trusts it, and
// an atomic replace. Locking lives in recent-keys-lock.ts, the merge with a client's memory in
// recent-keys-sync.ts.
import { createHash } from 'node:crypto';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { CacheConfigError, CacheDecodeError } from '../errors.js';
import { ILLEGAL_KEY_CHAR } from '../keys/key-space.js';
import { siblingName } from './recent-keys-lock.js';
import { RecentKey } from './recent-keys.js';

/** The `format` field that marks a file as Stowage's recent-keys list. */
export const RECENT_KEYS_FILE_FORMAT = 'stowage/recent-keys';
/** The version of the file format this build reads and writes. */
export const RECENT_KEYS_FILE_VERSION = 1;
/**
 * A larger file is not read (it is not ours, or something is badly wrong): 256 MiB, well above
 * the largest list a client writes ({@link MAX_SHARED_RECENT_KEYS} keys of at most 250-byte keys).
 */
const MAX_FILE_BYTES = 256 * 1024 * 1024;
/** Most recent keys a client that shares them through a file may keep (`recentKeys`). */
export const MAX_SHARED_RECENT_KEYS = 100_000;
const HASHED_SHAPE = /#([0-9a-f]{64})$/;

/** A key as the file holds it: a {@link RecentKey} and when a process last wrote it there. */
export interface FileEntry {
  readonly key: string;
  readonly prefix: string;
  readonly fullKey: string;
  readonly isEncrypted: boolean;
  /** Epoch milliseconds, or `undefined` for no (or an unknown) expiry. */
  readonly expiresAtMs: number | undefined;
  /** When a process last recorded the key in the file, in epoch milliseconds. */
  readonly recordedAtMs: number;
}

/** One entry as written in the JSON file (snake case, as Q2's `RecentKey` fields). */
interface StoredEntry {
  key: string;
  prefix: string;
  full_key: string;
  is_encrypted: boolean;
  expire_time: string | null;
  recorded_at: string;
}

/** Why a file is not a recent-keys list: a corrupt, foreign or unreadable file. */
function notOurs(path: string, why: string): CacheDecodeError {
  return new CacheDecodeError(
    `recent-keys file ${path} is not readable as a recent-keys list: ${why}`,
  );
}

/**
 * True when `fullKey` is what a client stores for `prefix + key`: the same string, or (hashed
 * long keys) a head of it, `#` and its SHA-256. A file that names any other full key is refused,
 * so a forged file cannot make a bust delete a key outside the scope its entry claims.
 */
function fullKeyFits(entry: StoredEntry): boolean {
  const whole = entry.prefix + entry.key;
  if (entry.full_key === whole) return true;
  const hashed = HASHED_SHAPE.exec(entry.full_key);
  if (hashed === null) return false;
  const head = entry.full_key.slice(0, entry.full_key.length - hashed[0].length);
  const digest = createHash('sha256').update(whole, 'utf8').digest('hex');
  return hashed[1] === digest && whole.startsWith(head);
}

function parseTime(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** One stored entry, checked field by field; `undefined` when anything is off. */
function toEntry(raw: unknown): FileEntry | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const stored = raw as StoredEntry;
  if (
    typeof stored.key !== 'string' ||
    stored.key === '' ||
    typeof stored.prefix !== 'string' ||
    typeof stored.full_key !== 'string' ||
    typeof stored.is_encrypted !== 'boolean' ||
    ILLEGAL_KEY_CHAR.test(stored.full_key) ||
    !fullKeyFits(stored)
  ) {
    return undefined;
  }
  const expiresAtMs = stored.expire_time === null ? undefined : parseTime(stored.expire_time);
  const recordedAtMs = parseTime(stored.recorded_at);
  if ((stored.expire_time !== null && expiresAtMs === undefined) || recordedAtMs === undefined) {
    return undefined;
  }
  return {
    key: stored.key,
    prefix: stored.prefix,
    fullKey: stored.full_key,
    isEncrypted: stored.is_encrypted,
    expiresAtMs,
    recordedAtMs,
  };
}

/** Parses a file's text into its entries, oldest first, or throws naming what is wrong. */
export function parseRecentKeysFile(path: string, text: string): FileEntry[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw notOurs(path, 'not JSON (corrupt)');
  }
  const header = document as { format?: unknown; version?: unknown; keys?: unknown } | null;
  if (typeof header !== 'object' || header === null || header.format !== RECENT_KEYS_FILE_FORMAT) {
    throw notOurs(path, `no "format": "${RECENT_KEYS_FILE_FORMAT}" (a foreign file)`);
  }
  if (header.version !== RECENT_KEYS_FILE_VERSION || !Array.isArray(header.keys)) {
    throw notOurs(path, `unknown version ${String(header.version)}`);
  }
  const entries: FileEntry[] = [];
  const seen = new Set<string>();
  for (const raw of header.keys as unknown[]) {
    const entry = toEntry(raw);
    if (entry === undefined) throw notOurs(path, `an entry is malformed: ${JSON.stringify(raw)}`);
    // Unique by full key; a repeated one (only a hand-edited file has it) keeps its last place.
    if (seen.has(entry.fullKey))
      entries.splice(
        entries.findIndex((e) => e.fullKey === entry.fullKey),
        1,
      );
    seen.add(entry.fullKey);
    entries.push(entry);
  }
  return entries;
}

/**
 * Reads every entry of the file (Q2's `LocalCacheAction.READ`), expired ones included, oldest
 * first: `[]` when the file does not exist; throws `CacheDecodeError` when it is corrupt, foreign
 * or too large, and the file system's error when it cannot be read. Atomic replaces mean a reader
 * never sees a half-written file, so no lock is taken.
 */
export async function readFileEntries(path: string): Promise<FileEntry[]> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_FILE_BYTES) throw notOurs(path, `${info.size} bytes, over 256 MiB`);
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  if (text === '') throw notOurs(path, 'empty (corrupt)');
  return parseRecentKeysFile(path, text);
}

/**
 * The live keys of a recent-keys file, oldest first, without a client — for tools such as the
 * `stowage` CLI. Keys whose `expireTime` has passed are left out; a missing file is `[]`.
 *
 * @param path - the file a client's `localPath` names.
 * @param options.now - the clock, in epoch milliseconds. @default Date.now
 * @throws CacheConfigError for a path that is not a non-empty string, before any I/O.
 * @throws CacheDecodeError when the file is corrupt or not a recent-keys file (the message names
 *   the path and what is wrong); the file system's error when it cannot be read.
 *
 * @example
 * for (const entry of await readRecentKeysFile('/run/billing/recent-keys.json')) console.log(entry.fullKey);
 */
export async function readRecentKeysFile(
  path: string,
  options: { readonly now?: (() => number) | undefined } = {},
): Promise<RecentKey[]> {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new CacheConfigError(
      'readRecentKeysFile: `path` must be a non-empty file path without NUL characters',
    );
  }
  const now = (options.now ?? Date.now)();
  return (await readFileEntries(path))
    .filter((entry) => entry.expiresAtMs === undefined || entry.expiresAtMs > now)
    .map(toRecentKey);
}

/** A file entry as the public {@link RecentKey}. */
export function toRecentKey(entry: FileEntry): RecentKey {
  const key = new RecentKey(
    entry.key,
    entry.prefix,
    entry.isEncrypted,
    entry.expiresAtMs,
    entry.fullKey,
  );
  key.recordedAtMs = entry.recordedAtMs;
  return key;
}

/** The file's text for `entries`, oldest first. */
export function formatRecentKeysFile(entries: readonly FileEntry[]): string {
  const keys: StoredEntry[] = entries.map((entry) => ({
    key: entry.key,
    prefix: entry.prefix,
    full_key: entry.fullKey,
    is_encrypted: entry.isEncrypted,
    expire_time: entry.expiresAtMs === undefined ? null : new Date(entry.expiresAtMs).toISOString(),
    recorded_at: new Date(entry.recordedAtMs).toISOString(),
  }));
  return `${JSON.stringify({ format: RECENT_KEYS_FILE_FORMAT, version: RECENT_KEYS_FILE_VERSION, keys })}\n`;
}

/**
 * Replaces the file with `entries` atomically (Q2's `LocalCacheAction.SET`; `CLEAR` is this with
 * `[]`): the text goes to a temporary file in the same directory, which is then renamed over the
 * file. A process killed at any point leaves the old file or the new one, never a torn one (an
 * orphaned temporary file at worst, which the next writer removes). Mode 0600: keys name tenants.
 */
export async function replaceRecentKeysFile(
  path: string,
  entries: readonly FileEntry[],
): Promise<void> {
  const temporary = siblingName(path, 'tmp');
  try {
    // 'wx': never follow or reuse a file someone placed under the name.
    await writeFile(temporary, formatRecentKeysFile(entries), { mode: 0o600, flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}
