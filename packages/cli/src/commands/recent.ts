import {
  readRecentKeysFile,
  recentKeyMatcher,
  type CacheClient,
  type RecentKey,
} from '@stowage/core';
import { stringFlag, type Flags } from '../command.js';
import type { CliConfig } from '../config.js';
import { UsageError } from '../exit-codes.js';
import { formatDuration } from '../output.js';

/** A key as `keys` and `bust` list it. */
export interface ListedKey {
  /** The caller's key, without prefix or scope. */
  readonly key: string;
  /** The key on the server. */
  readonly fullKey: string;
  /** Its scope (`stack=acme`, `stack=acme session=s1`), `null` for an unscoped key. */
  readonly scope: string | null;
  /** Whether it holds an encrypted value (known for keys from the file). */
  readonly encrypted: boolean | null;
  /** When it expires (ISO 8601); `null` when it never does or it is not known. */
  readonly expiresAt: string | null;
  /** Milliseconds left; `null` when it never expires or it is not known. */
  readonly ttlMs: number | null;
  /** When a process last recorded it in the recent-keys file (ISO 8601); `null` from `--scan`. */
  readonly recordedAt: string | null;
  /** Milliseconds since then; `null` from `--scan`. */
  readonly ageMs: number | null;
}

/** The `--key-prefix` filter, checked before any I/O as core's `bustRecent` checks its `prefix`. */
export function keyPrefixOf(flags: Flags): string | undefined {
  const prefix = stringFlag(flags, 'key-prefix');
  if (prefix !== undefined && (prefix === '' || /[\s\p{Cc}]/u.test(prefix))) {
    throw new UsageError(
      '--key-prefix must be a non-empty caller-key prefix without whitespace (e.g. --key-prefix user:)',
    );
  }
  return prefix;
}

/** The recent-keys file, or a usage error saying how to name it. */
export function localPathOf(config: CliConfig, command: string): string {
  if (config.localPath === undefined) {
    throw new UsageError(
      `${command} reads the shared recent-keys file: set CACHE_LOCAL_PATH or pass --local-path${command === 'keys' ? ' (on Redis, --scan lists keys from the server instead)' : ''}`,
    );
  }
  return config.localPath;
}

/** A scope segment list after the root's head (`stack=acme:session=s1:`) for people. */
export function scopeText(segments: string): string | null {
  const parts = segments.split(':').filter((part) => part !== '');
  return parts.length === 0 ? null : parts.join(' ');
}

function listed(entry: RecentKey, rootHead: string, now: number): ListedKey {
  const expires = entry.expiresAtMs;
  const recorded = entry.recordedAtMs;
  return {
    key: entry.key,
    fullKey: entry.fullKey,
    scope: scopeText(entry.prefix.slice(rootHead.length)),
    encrypted: entry.isEncrypted,
    expiresAt: expires === undefined ? null : new Date(expires).toISOString(),
    ttlMs: expires === undefined ? null : Math.max(0, expires - now),
    recordedAt: recorded === undefined ? null : new Date(recorded).toISOString(),
    ageMs: recorded === undefined ? null : Math.max(0, now - recorded),
  };
}

/**
 * The keys of the recent-keys file that `client`'s scope holds — its own and its nested scopes',
 * or with `keyPrefix` only its own keys starting with it — selected by core's own rule, so the
 * list is what `bustRecent` deletes. Expired keys are left out.
 */
export async function recentKeysOf(
  path: string,
  clients: { readonly root: CacheClient; readonly client: CacheClient },
  keyPrefix: string | undefined,
): Promise<ListedKey[]> {
  const matches = recentKeyMatcher(clients.client.keyPrefix, keyPrefix);
  const now = Date.now();
  return (await readRecentKeysFile(path))
    .filter(matches)
    .map((entry) => listed(entry, clients.root.keyPrefix, now));
}

/** Prints keys as a table: key, scope, age, TTL left, full key. */
export function printKeyTable(write: (text: string) => void, keys: readonly ListedKey[]): void {
  const rows = keys.map((entry) => [
    entry.key,
    entry.scope ?? '-',
    entry.ageMs === null ? '-' : formatDuration(entry.ageMs),
    entry.ttlMs === null ? 'never/unknown' : formatDuration(entry.ttlMs),
    entry.fullKey,
  ]);
  const header = ['KEY', 'SCOPE', 'AGE', 'TTL LEFT', 'FULL KEY'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  for (const row of [header, ...rows]) {
    write(
      `${row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ')}\n`,
    );
  }
}
