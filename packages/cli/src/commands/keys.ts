import { DEFAULT_TIMEOUT_MS } from '@stowage/core';
import { JSON_OPTION, SCOPE_OPTIONS, type Command, type CommandContext } from '../command.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { printJson } from '../output.js';
import { isRedisBackend, scanKeys } from '../redis-admin.js';
import {
  keyPrefixOf,
  localPathOf,
  printKeyTable,
  recentKeysOf,
  scopeText,
  type ListedKey,
} from './recent.js';

// The scope segments a key space puts after its prefix: `service=…:`, `stack=…:`, `session=…:`.
const SCOPE_SEGMENTS = /^(?:(?:service|stack|session)=[^:]*:)*/;

/** `keys --scan`: what the Redis server holds under the scope, with server TTLs. */
async function scanned(
  context: CommandContext,
  keyPrefix: string | undefined,
): Promise<ListedKey[]> {
  const { root, client } = await context.open();
  const backend = root.backend;
  if (!isRedisBackend(backend)) {
    throw new UsageError(
      `--scan lists keys with Redis SCAN; the ${backend.name} backend cannot list its keys (use the recent-keys file: --local-path)`,
    );
  }
  const found = await scanKeys(
    backend,
    client.keyPrefix + (keyPrefix ?? ''),
    backend.capabilities.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  );
  const now = Date.now();
  return found
    .filter((entry) => entry.ttlMs !== undefined)
    .map((entry) => {
      const rest = entry.fullKey.slice(root.keyPrefix.length);
      const segments = SCOPE_SEGMENTS.exec(rest)?.[0] ?? '';
      return {
        key: rest.slice(segments.length),
        fullKey: entry.fullKey,
        scope: scopeText(segments),
        encrypted: null,
        expiresAt:
          entry.ttlMs === null || entry.ttlMs === undefined
            ? null
            : new Date(now + entry.ttlMs).toISOString(),
        ttlMs: entry.ttlMs ?? null,
        recordedAt: null,
        ageMs: null,
      };
    })
    .sort((a, b) => a.fullKey.localeCompare(b.fullKey));
}

async function run(context: CommandContext): Promise<ExitCode> {
  const { io, flags, config } = context;
  const keyPrefix = keyPrefixOf(flags);
  const scan = flags['scan'] === true;
  const path = scan ? undefined : localPathOf(config, 'keys');
  const keys =
    path === undefined
      ? await scanned(context, keyPrefix)
      : await recentKeysOf(path, await context.open(), keyPrefix);
  if (flags['json'] === true) {
    printJson(io, { source: scan ? 'scan' : 'file', keys });
  } else if (keys.length === 0) {
    io.stdout('no keys\n');
  } else {
    printKeyTable(io.stdout, keys);
    io.stdout(`${keys.length} key${keys.length === 1 ? '' : 's'}\n`);
  }
  return ExitCode.Ok;
}

/** `stowage keys`: the recent keys of a scope. */
export const keysCommand: Command = {
  name: 'keys',
  summary: 'list recent keys from the shared recent-keys file (or a Redis SCAN)',
  usage: 'stowage keys [--level L --scope ID] [--key-prefix P] [--scan] [--json]',
  help: `Lists the keys the service's processes recorded in the shared recent-keys file
(CACHE_LOCAL_PATH), unexpired ones, oldest first: the caller key, its scope, its age (since a
process last recorded it), the TTL left and the key on the server. With --level/--scope only that scope's keys and its nested scopes'
(a tenant's sessions); with --key-prefix only keys of exactly that scope whose caller key starts
with it — the keys 'stowage bust' with the same flags deletes.

Options:
  --key-prefix P         only caller keys starting with P (e.g. user:42:)
  --scan                 Redis only: list what the server holds under the prefix and scope with
                         SCAN (never KEYS), with the server's TTLs, instead of reading the file
  --json                 print { source: 'file' | 'scan', keys: [{ key, fullKey, scope,
                         encrypted, expiresAt, ttlMs, recordedAt, ageMs }] }

Examples:
  CACHE_URL=memcached://10.0.0.5:11211 CACHE_PREFIX=billing CACHE_LOCAL_PATH=/run/billing/recent-keys.json stowage keys --level stack --scope acme
  stowage keys --url redis://cache:6379 --prefix billing --scan --key-prefix report:`,
  options: {
    ...SCOPE_OPTIONS,
    ...JSON_OPTION,
    'key-prefix': { type: 'string' },
    scan: { type: 'boolean' },
  },
  args: { min: 0, max: 0, name: '' },
  run,
};
