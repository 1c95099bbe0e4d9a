// The lock of the recent-keys file's read-modify-write (Q2's `LocalCacheAction.UPDATE`). Our own
// rather than proper-lockfile: core has no runtime dependencies, the lock is held for a read and
// a write of a small file (milliseconds), and the holders all run on one host, so a dead holder is
// known by its PID at once instead of after a stale timeout that renews the lock from a timer.
import { createHash, randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { link, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CacheError, CacheErrorCode } from '../errors.js';

/** How long a writer waits for the lock before giving up (the flush is retried later), in ms. */
export const LOCK_WAIT_MS = 5000;
/** A lock older than this is taken over even if its PID is alive (a reused PID, a hung holder), in ms. */
export const LOCK_STALE_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let tag: string | undefined;

/**
 * Eight hex digits naming this host and PID namespace. A PID says whether its process is alive
 * only to a process that sees the same PIDs: containers sharing a volume do not, so a lock or
 * file of another tag is judged by its age alone, never by its PID. Computed on first use (by a
 * flush, off the request path).
 */
export function processTag(): string {
  if (tag === undefined) {
    let namespace = '';
    try {
      namespace = readlinkSync('/proc/self/ns/pid'); // Linux: 'pid:[4026531836]'
    } catch {
      // No /proc: the host name alone.
    }
    tag = createHash('sha256').update(`${hostname()}|${namespace}`).digest('hex').slice(0, 8);
  }
  return tag;
}

/**
 * A name next to `path` that no other process or call uses, carrying the PID and
 * {@link processTag} of its maker: `<path>.<pid>.<tag>.<random>.<suffix>`.
 */
export function siblingName(path: string, suffix: string): string {
  return `${path}.${process.pid}.${processTag()}.${randomBytes(6).toString('hex')}.${suffix}`;
}

/** True when a process of this host and PID namespace made it and is gone. */
function deadHere(pid: number, madeBy: string | undefined): boolean {
  return madeBy === processTag() && !processAlive(pid);
}

/** Whether a process with this PID runs on this host (EPERM: it does, as another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder's PID and tag as its lock file says (`'<pid> <tag>'`), or `undefined`. */
async function holderOf(
  lockPath: string,
): Promise<{ pid: number; tag: string | undefined } | undefined> {
  try {
    const [pid, madeBy] = (await readFile(lockPath, 'utf8')).trim().split(' ');
    const number = Number.parseInt(pid ?? '', 10);
    return Number.isInteger(number) ? { pid: number, tag: madeBy } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the lock when its holder is dead (a process of this host and PID namespace) or it is
 * older than {@link LOCK_STALE_MS}; true when
 * the caller should try again at once. The lock is renamed aside first (atomic: one of several
 * breakers wins), and put back if what was moved turns out to be a newer, live lock.
 */
async function breakIfStale(lockPath: string): Promise<boolean> {
  let before;
  try {
    before = await stat(lockPath);
  } catch {
    return true; // released meanwhile
  }
  const holder = await holderOf(lockPath);
  const old = Date.now() - before.mtimeMs > LOCK_STALE_MS;
  if (!old && (holder === undefined || !deadHere(holder.pid, holder.tag))) return false;
  const aside = siblingName(lockPath, 'stale');
  try {
    await rename(lockPath, aside);
  } catch {
    return true; // another breaker or the holder got there first
  }
  const moved = await stat(aside).catch(() => undefined);
  if (moved !== undefined && moved.ino !== before.ino) {
    // A new holder took the lock between our look and the rename: give it back (no-clobber).
    await link(aside, lockPath).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
  return true;
}

/**
 * Runs `critical` holding the exclusive lock `<path>.lock`. The lock file is made with its
 * holder's PID already in it (written aside, then hard-linked into place — `link` fails when the
 * lock exists), so it is never seen empty. Waits up to {@link LOCK_WAIT_MS}, then throws a
 * `CacheError` (`E_CACHE_TIMEOUT`).
 */
export async function withFileLock<R>(path: string, critical: () => Promise<R>): Promise<R> {
  const lockPath = `${path}.lock`;
  const candidate = siblingName(lockPath, 'new');
  await writeFile(candidate, `${process.pid} ${processTag()}\n`, { mode: 0o600, flag: 'wx' });
  try {
    const deadline = Date.now() + LOCK_WAIT_MS;
    let pause = 1;
    for (;;) {
      try {
        await link(candidate, lockPath);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      if (await breakIfStale(lockPath)) continue;
      if (Date.now() > deadline) {
        throw new CacheError(
          CacheErrorCode.Timeout,
          `could not lock ${path} within ${LOCK_WAIT_MS} ms (held by PID ${String((await holderOf(lockPath))?.pid)})`,
        );
      }
      await sleep(pause);
      pause = Math.min(pause * 2, 25);
    }
  } finally {
    await unlink(candidate).catch(() => undefined);
  }
  const mine = await stat(lockPath);
  try {
    return await critical();
  } finally {
    // Only our own lock: one taken over as stale now belongs to someone else.
    const now = await stat(lockPath).catch(() => undefined);
    if (now?.ino === mine.ino) await unlink(lockPath).catch(() => undefined);
  }
}

/**
 * Removes what killed processes left next to `path`: temporary files, lock candidates and
 * stale-lock leftovers ({@link siblingName}) whose maker is dead (a process of this host and PID
 * namespace) or which are older than {@link LOCK_STALE_MS} (any other's: a live writer's last
 * milliseconds). Call it holding the lock; errors are ignored (another process may remove the
 * same file).
 */
export async function removeOrphans(path: string): Promise<void> {
  const name = basename(path);
  const pattern = /^\.(\d+)\.([0-9a-f]{8})\.[0-9a-f]{12}\.(tmp|new|stale)$/;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return;
  }
  for (const entry of names) {
    const rest = entry.startsWith(`${name}.lock`)
      ? entry.slice(name.length + 5)
      : entry.startsWith(name)
        ? entry.slice(name.length)
        : undefined;
    const match = rest === undefined ? null : pattern.exec(rest);
    if (match === null) continue;
    const file = join(dirname(path), entry);
    const old = async (): Promise<boolean> =>
      Date.now() - ((await stat(file).catch(() => undefined))?.mtimeMs ?? Date.now()) >
      LOCK_STALE_MS;
    if (deadHere(Number(match[1]), match[2]) || (await old())) {
      await unlink(file).catch(() => undefined);
    }
  }
}
