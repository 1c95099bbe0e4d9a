import {
  getCache,
  isStorageLevel,
  StorageLevel,
  type CacheClient,
  type CacheScope,
} from '@stowage/core';
import { stringFlag, type Flags } from './command.js';
import { UsageError } from './exit-codes.js';

/** Where and how the CLI reaches the cache: flags over `CACHE_*` environment variables. */
export interface CliConfig {
  /** The cache URL (`--url`, else `CACHE_URL`). Never printed: it may carry a password. */
  readonly url: string;
  /** The key prefix (`--prefix`, else `CACHE_PREFIX`); `undefined` for none. */
  readonly prefix: string | undefined;
  /** The encryption passphrase (`--encryption-key`, else `CACHE_ENCRYPTION_KEY`). Never printed. */
  readonly encryptionKey: string | undefined;
  /** The shared recent-keys file (`--local-path`, else `CACHE_LOCAL_PATH`). */
  readonly localPath: string | undefined;
  /** Per-call deadline in milliseconds (`--timeout`); `undefined`: `CACHE_TIMEOUT_MS`, else 1000. */
  readonly timeoutMs: number | undefined;
  /** The scope level (`--level`), with its ids in `scope`; `undefined` for unscoped keys. */
  readonly level: StorageLevel | undefined;
  /** The scope ids for `level`. */
  readonly scope: CacheScope | undefined;
}

function setting(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): string | undefined {
  const value = flag ?? env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(
      `--timeout takes a whole number of milliseconds (e.g. --timeout 2000); got '${text}'`,
    );
  }
  return value;
}

/** The scope of `--level`/`--scope`/`--stack`, checked before any I/O. */
function parseScope(flags: Flags): Pick<CliConfig, 'level' | 'scope'> {
  const level = stringFlag(flags, 'level');
  const id = stringFlag(flags, 'scope');
  const stack = stringFlag(flags, 'stack');
  if (level === undefined) {
    if (id !== undefined || stack !== undefined) {
      throw new UsageError('--scope and --stack need --level (service, stack or session)');
    }
    return { level: undefined, scope: undefined };
  }
  if (!isStorageLevel(level)) {
    throw new UsageError(`--level must be service, stack or session; got '${level}'`);
  }
  if (id === undefined || id === '') {
    throw new UsageError(
      `--level ${level} needs --scope <${level} id> (e.g. --level stack --scope acme)`,
    );
  }
  if (stack !== undefined && level !== StorageLevel.Session) {
    throw new UsageError('--stack names the tenant of a session; use it only with --level session');
  }
  const scope: CacheScope =
    level === StorageLevel.Service
      ? { service: id }
      : level === StorageLevel.Stack
        ? { stack: id }
        : { session: id, stack };
  return { level, scope };
}

/**
 * Resolves the configuration from flags and the environment. Throws {@link UsageError} for a
 * missing URL or a bad flag value, before any I/O.
 */
export function resolveConfig(
  flags: Flags,
  env: Readonly<Record<string, string | undefined>>,
): CliConfig {
  const url = setting(stringFlag(flags, 'url'), env, 'CACHE_URL');
  if (url === undefined) {
    // An in-memory default, as getCache has, would be a cache nobody else can see.
    throw new UsageError(
      'no cache to talk to: set CACHE_URL or pass --url (memcached://host:11211, redis://host:6379)',
    );
  }
  return {
    url,
    prefix: setting(stringFlag(flags, 'prefix'), env, 'CACHE_PREFIX'),
    encryptionKey: setting(stringFlag(flags, 'encryption-key'), env, 'CACHE_ENCRYPTION_KEY'),
    localPath: setting(stringFlag(flags, 'local-path'), env, 'CACHE_LOCAL_PATH'),
    timeoutMs: parseTimeout(stringFlag(flags, 'timeout')),
    ...parseScope(flags),
  };
}

// The backends are this package's own dependencies: resolving them from here (not from core's
// folder) works under every package manager's layout, and a bundler can follow the imports.
const BACKENDS: Readonly<Record<string, () => Promise<unknown>>> = {
  '@stowage/backend-memory': () => import('@stowage/backend-memory'),
  '@stowage/backend-memcached': () => import('@stowage/backend-memcached'),
  '@stowage/backend-redis': () => import('@stowage/backend-redis'),
};

function loadBackend(name: string): Promise<unknown> {
  const load = BACKENDS[name];
  return load === undefined ? Promise.reject(new Error(`unknown backend ${name}`)) : load();
}

/** A client and, when a scope is configured, its scoped view; `close()` closes the root. */
export interface OpenCache {
  /** The unscoped client (owns the backend). */
  readonly root: CacheClient;
  /** The client keys are read and written through: scoped when `--level` was given. */
  readonly client: CacheClient;
}

/**
 * The environment a CLI client is created with: without `CACHE_LOCAL_PATH`, which `getCache`
 * would read itself — only `bust` shares the recent-keys file, and it passes `localPath`.
 */
export function clientEnv(
  env: Readonly<Record<string, string | undefined>>,
): Readonly<Record<string, string | undefined>> {
  return { ...env, CACHE_LOCAL_PATH: undefined };
}

/** Options of {@link openCache}. */
export interface OpenOptions {
  /**
   * Open with the shared recent-keys file (`localPath`), for `bust`: core's `bustRecent` reads
   * it and removes what it deleted. Otherwise the client keeps no recent keys at all: an admin
   * tool must not add its own reads to a service's list.
   * @default false
   */
  readonly recentKeysFile?: boolean | undefined;
}

/**
 * Opens the cache the configuration names, through `getCache` (so URLs, `CACHE_COMPRESS_DATA`
 * and `CACHE_TIMEOUT_MS` mean what they mean to the services).
 */
export async function openCache(
  config: CliConfig,
  env: Readonly<Record<string, string | undefined>>,
  options: OpenOptions = {},
): Promise<OpenCache> {
  const shared = options.recentKeysFile === true;
  const root = await getCache({
    url: config.url,
    prefix: config.prefix,
    encryptionKey: config.encryptionKey,
    timeoutMs: config.timeoutMs,
    env: clientEnv(env),
    ...(shared ? { localPath: config.localPath } : { recentKeys: false }),
    loadBackendModule: loadBackend,
  });
  try {
    const client = config.level === undefined ? root : root.scoped(config.level, config.scope);
    return { root, client };
  } catch (error) {
    await root.close();
    throw error;
  }
}
