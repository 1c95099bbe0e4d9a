import type { BackendModule, CacheBackend } from './backend/contract.js';
import { CacheClient } from './client/cache-client.js';
import {
  CLIENT_OPTION_NAMES,
  DEFAULT_TIMEOUT_MS,
  type CacheClientOptions,
} from './client/client-options.js';
import { MAX_TIMER_MS } from './backend/deadline.js';
import { CacheConfigError } from './errors.js';
import { checkOptionNames } from './option-names.js';
import { loadModule } from './load-package.js';
import type { BusUrlOptions } from './bus/contract.js';
import { busFromUrl, checkBusOption, type BusOption } from './tier/bus-link.js';
import type { L1Options } from './tier/l1-options.js';
import { redactUrl } from './redact.js';

/** Backend package for each `CACHE_URL` scheme. */
export const BACKEND_PACKAGES: Readonly<Record<string, string>> = {
  'memory:': '@stowage/backend-memory',
  'memcached:': '@stowage/backend-memcached',
  'redis:': '@stowage/backend-redis',
  'rediss:': '@stowage/backend-redis',
};

/** Options of {@link getCache}: the client options, with the backend optional. */
export interface GetCacheOptions<T = unknown> extends Omit<CacheClientOptions<T>, 'backend'> {
  /** A backend instance; when given, `url` and `CACHE_URL` are ignored. */
  readonly backend?: CacheBackend | undefined;
  /**
   * Where to store: `memory://`, `memcached://h1:11211,h2:11212`, `redis://…`, `rediss://…`.
   * A comma-separated server list reaches the backend as `BackendUrlOptions.hosts`.
   * @default process.env.CACHE_URL, else 'memory://' — except with `NODE_ENV=production`, where
   *   a missing URL is a `CacheConfigError` (set `CACHE_URL=memory://` to choose it on purpose)
   */
  readonly url?: string | undefined;
  /** Environment to read settings from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * Loads a backend package by name. Defaults to a dynamic `import()`; pass your own when a
   * bundler cannot follow dynamic imports (`(name) => import('@stowage/backend-redis')`).
   */
  readonly loadBackendModule?: ((packageName: string) => Promise<unknown>) | undefined;
}

/** The options {@link getCache} takes: the client's, `url`, `env` and `loadBackendModule`. */
const GET_CACHE_OPTION_NAMES: { readonly [K in keyof GetCacheOptions<unknown>]-?: true } = {
  ...CLIENT_OPTION_NAMES,
  url: true,
  env: true,
  loadBackendModule: true,
};

function fromEnv(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parseCompress(text: string): boolean | number {
  const lower = text.toLowerCase();
  if (lower === 'true' || lower === '1' || lower === 'yes') return true;
  if (lower === 'false' || lower === '0' || lower === 'no') return false;
  if (/^threshold:\d+$/.test(lower)) return Number(lower.slice('threshold:'.length));
  throw new CacheConfigError(
    `CACHE_COMPRESS_DATA must be true, false or threshold:<bytes>; got '${text}'`,
  );
}

/**
 * `CACHE_L1`: `true`/`1`/`yes` for the defaults, `false`/`0`/`no` for none, or the fields as a
 * query string (`maxEntries=50000&maxBytes=134217728&ttl=30s`).
 */
function parseL1(text: string): boolean | L1Options {
  const lower = text.toLowerCase();
  if (lower === 'true' || lower === '1' || lower === 'yes') return true;
  if (lower === 'false' || lower === '0' || lower === 'no') return false;
  const fields: Record<string, string | number> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    fields[name] = name === 'ttl' ? value : Number(value);
  }
  if (Object.keys(fields).length === 0) {
    throw new CacheConfigError(
      `CACHE_L1 must be true, false or maxEntries=…&maxBytes=…&ttl=…; got '${text}'`,
    );
  }
  return fields;
}

function parseTimeout(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new CacheConfigError(
      `CACHE_TIMEOUT_MS must be an integer of milliseconds from 1 to ${MAX_TIMER_MS}; got '${text}'`,
    );
  }
  return value;
}

function parseOptional<V>(text: string | undefined, parse: (text: string) => V): V | undefined {
  return text === undefined ? undefined : parse(text);
}

function busFromEnv(env: Readonly<Record<string, string | undefined>>): BusUrlOptions | undefined {
  const url = fromEnv(env, 'CACHE_BUS_URL');
  return url === undefined ? undefined : { url };
}

/**
 * `bus: { url }` (or `CACHE_BUS_URL`) becomes a bus here, so a missing `@stowage/bus-redis` is a
 * `CacheConfigError` now rather than a warning later. A bus instance is passed through.
 */
async function resolveBus(
  option: BusOption | undefined,
  load: ((packageName: string) => Promise<unknown>) | undefined,
): Promise<BusOption | undefined> {
  const checked = checkBusOption(option);
  if (checked === undefined || 'publish' in checked) return checked;
  return busFromUrl(checked, load);
}

/**
 * `memory://` when nothing names a backend — except in production, where a forgotten `CACHE_URL`
 * would quietly give every process its own cache (no shared busts, no shared leases): refused.
 */
function defaultUrl(env: Readonly<Record<string, string | undefined>>): string {
  if (fromEnv(env, 'NODE_ENV') === 'production') {
    throw new CacheConfigError(
      'CACHE_URL is not set and NODE_ENV is production: set CACHE_URL (memcached://host:11211, redis://host:6379), or CACHE_URL=memory:// to keep the cache in process memory on purpose',
    );
  }
  return 'memory://';
}

/** Why a URL did not parse, without the input (WHATWG's `TypeError` carries it in `input`). */
function describeUrlError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ERR_INVALID_URL') return 'invalid URL syntax, host or port';
  return error instanceof TypeError && !error.message.includes('//')
    ? error.message
    : 'invalid URL';
}

// scheme, optional userinfo, the host list, and the rest (path, query, fragment).
const URL_PARTS = /^([a-z][a-z0-9+.-]*:)\/\/(?:([^@/?#]*)@)?([^/?#]*)(.*)$/is;

/**
 * Parses a cache URL. WHATWG `URL` rejects memcached's comma-separated server list, so a list is
 * split here: the `URL` gets the first host, and every host is checked and returned in `hosts`.
 */
function parseCacheUrl(raw: string): { url: URL; hosts: string[] } {
  try {
    const parts = URL_PARTS.exec(raw);
    const list = parts?.[3] ?? '';
    if (parts === null || !list.includes(',')) {
      const url = new URL(raw);
      return { url, hosts: url.host === '' ? [] : [url.host] };
    }
    const [, scheme, userinfo, , rest] = parts;
    const hosts = list.split(',').map((host) => {
      const parsed = new URL(`${scheme}//${host}`);
      if (parsed.host === '' || host === '') throw new TypeError(`empty host in '${list}'`);
      return parsed.host;
    });
    const auth = userinfo === undefined ? '' : `${userinfo}@`;
    return { url: new URL(`${scheme}//${auth}${hosts[0]}${rest}`), hosts };
  } catch (error) {
    // The parser's own error quotes the input, password included: only its reason is kept.
    throw new CacheConfigError(
      `cache URL '${redactUrl(raw)}' is not a valid URL (${describeUrlError(error)})`,
    );
  }
}

/**
 * Creates a client the way Q2's `get_cache` does, from options and the environment. Options win
 * over environment variables:
 *
 * | variable | meaning |
 * |---|---|
 * | `CACHE_URL` | `memory://` (default), `memcached://h1:11211,h2:11212`, `redis://…`, `rediss://…` |
 * | `CACHE_PREFIX` | key prefix |
 * | `CACHE_ENCRYPTION_KEY` | turns on AES-256-GCM with this passphrase |
 * | `CACHE_COMPRESS_DATA` | `true`, `false` or `threshold:<bytes>` |
 * | `CACHE_TIMEOUT_MS` | per-call deadline in milliseconds |
 * | `CACHE_LOCAL_PATH` | `localPath`: the file that shares recent keys across processes |
 * | `CACHE_L1` | `l1`: `true`, `false`, or `maxEntries=…&maxBytes=…&ttl=…` |
 * | `CACHE_BUS_URL` | `bus: { url }`: the Redis invalidation bus (needs `@stowage/bus-redis` and `l1`) |
 *
 * The backend package for the URL's scheme is loaded at run time (`require` from CommonJS,
 * `import()` from ESM, so one copy of core is loaded); when it is not installed the promise
 * rejects with a `CacheConfigError` naming the package to install. With `NODE_ENV=production`
 * and no URL, it rejects rather than fall back to process memory.
 *
 * @example
 * const cache = await getCache({ prefix: 'billing' }); // CACHE_URL=memcached://10.0.0.5:11211
 */
export async function getCache<T = unknown>(
  options: GetCacheOptions<T> = {},
): Promise<CacheClient<T>> {
  if (typeof options !== 'object' || options === null) {
    throw new CacheConfigError('getCache options must be an object');
  }
  checkOptionNames(options, GET_CACHE_OPTION_NAMES, 'getCache');
  // What only getCache reads stays here; the rest are the client's options.
  const { url: urlOption, env: envOption, loadBackendModule, backend: given, ...rest } = options;
  const env = envOption ?? process.env;
  const timeoutText = fromEnv(env, 'CACHE_TIMEOUT_MS');
  const timeoutMs =
    options.timeoutMs ??
    (timeoutText === undefined ? DEFAULT_TIMEOUT_MS : parseTimeout(timeoutText));
  const compressText = fromEnv(env, 'CACHE_COMPRESS_DATA');
  const encryptionText = env['CACHE_ENCRYPTION_KEY'];
  if (
    options.encryptionKey === undefined &&
    options.cipher === undefined &&
    encryptionText !== undefined &&
    encryptionText.trim() === ''
  ) {
    // Set but blank (a missing secret in a deploy): refusing is safer than storing tenant data
    // unencrypted while the operator believes it is encrypted.
    throw new CacheConfigError(
      'CACHE_ENCRYPTION_KEY is set but empty; set a key, or unset the variable to store values unencrypted',
    );
  }
  const clientOptions: CacheClientOptions<T> = {
    ...rest,
    backend: undefined as never,
    prefix: options.prefix ?? fromEnv(env, 'CACHE_PREFIX'),
    encryptionKey:
      options.encryptionKey ??
      (options.cipher === undefined ? fromEnv(env, 'CACHE_ENCRYPTION_KEY') : undefined),
    compress:
      options.compress ?? (compressText === undefined ? undefined : parseCompress(compressText)),
    timeoutMs,
    localPath: options.localPath ?? fromEnv(env, 'CACHE_LOCAL_PATH'),
    l1: options.l1 ?? parseOptional(fromEnv(env, 'CACHE_L1'), parseL1),
    bus: await resolveBus(options.bus ?? busFromEnv(env), loadBackendModule),
  };

  let backend = given;
  if (backend === undefined) {
    const rawUrl = urlOption ?? fromEnv(env, 'CACHE_URL') ?? defaultUrl(env);
    const { url, hosts } = parseCacheUrl(rawUrl);
    const packageName = BACKEND_PACKAGES[url.protocol];
    if (packageName === undefined) {
      throw new CacheConfigError(
        `cache URL scheme '${url.protocol}' is not supported; use memory://, memcached://, redis:// or rediss://`,
      );
    }
    const module = (await loadModule(packageName, {
      load: loadBackendModule,
      why: `${url.protocol}//`,
    })) as Partial<BackendModule>;
    if (typeof module.createBackendFromUrl !== 'function') {
      throw new CacheConfigError(
        `${packageName} does not export createBackendFromUrl; is it a Stowage backend?`,
      );
    }
    backend = module.createBackendFromUrl(url, { timeoutMs, hosts });
  }
  return new CacheClient<T>({ ...clientOptions, backend });
}
