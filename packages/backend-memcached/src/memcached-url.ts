import { CacheConfigError, redactUrl } from '@stowage/core';
import { parseUrlOptions, type BackendUrlOptions } from '@stowage/core/backend';
import type { KeyDistribution } from './key-distribution.js';
import { MemcachedBackend } from './memcached-backend.js';
import type { MemcachedBackendOptions } from './memcached-options.js';

/** The query options a `memcached://` URL may carry. */
const URL_OPTIONS = {
  distribution: 'string',
  keyPrefix: 'string',
  connectTimeoutMs: 'integer',
  maxValueBytes: 'integer',
  breakerThreshold: 'integer',
  breakerCooldownMs: 'integer',
  breakerMaxCooldownMs: 'integer',
} as const;

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    throw new CacheConfigError(
      `the ${what} in the memcached:// URL is not valid percent-encoding`,
      {
        cause: error,
      },
    );
  }
}

/** The parts of a `memcached://` URL. */
interface UrlParts {
  readonly servers: readonly string[] | string;
  readonly username: string;
  readonly password: string | undefined;
  readonly query: URLSearchParams;
}

function urlParts(url: URL | string, hosts: readonly string[] | undefined): UrlParts {
  if (typeof url !== 'string') {
    if (url.protocol !== 'memcached:') {
      throw new CacheConfigError(
        `the memcached backend needs a memcached:// URL; got ${url.protocol}//`,
      );
    }
    // memcached has no databases or paths: a path is a mistake (a Redis URL's `/0` copied over),
    // refused rather than silently ignored.
    if (url.pathname !== '' && url.pathname !== '/') {
      throw new CacheConfigError(
        `a memcached:// URL has no path; got '${url.pathname}' in '${redactUrl(url)}'`,
      );
    }
    // WHATWG URL holds one host; getCache passes a server list in `hosts`.
    return {
      servers: hosts !== undefined && hosts.length > 0 ? hosts : url.host,
      username: url.username,
      password: url.password === '' ? undefined : url.password,
      query: url.searchParams,
    };
  }
  const match = /^memcached:\/\/(?:([^@/?#]*)@)?([^/?#]*)\/?(?:\?([^#]*))?(?:#.*)?$/i.exec(
    url.trim(),
  );
  if (match === null) {
    throw new CacheConfigError(
      `the memcached backend needs a URL like memcached://host:11211,host2:11211 (no path); got '${redactUrl(url)}'`,
    );
  }
  const [, userinfo = '', servers = '', query = ''] = match;
  const colon = userinfo.indexOf(':');
  return {
    servers,
    username: colon < 0 ? userinfo : userinfo.slice(0, colon),
    password: colon < 0 ? undefined : userinfo.slice(colon + 1),
    query: new URLSearchParams(query),
  };
}

/**
 * Creates a memcached backend from a URL, for `getCache`:
 * `memcached://[user:password@]host[:port][,host[:port]…][?distribution=pymemcache&keyPrefix=app&…]`.
 * A WHATWG `URL` holds one host, so `getCache` passes the server list in `options.hosts`; a
 * string with the whole list is accepted too. The deadline comes from `options.timeoutMs`.
 */
export function createBackendFromUrl(
  url: URL | string,
  options?: Partial<BackendUrlOptions>,
): MemcachedBackend {
  const parts = urlParts(url, options?.hosts);
  const backendOptions: {
    -readonly [K in keyof MemcachedBackendOptions]: MemcachedBackendOptions[K];
  } = { servers: parts.servers, timeoutMs: options?.timeoutMs };
  if (parts.username !== '') {
    backendOptions.username = decode(parts.username, 'user name');
    backendOptions.password =
      parts.password === undefined ? undefined : decode(parts.password, 'password');
  }
  const query = parseUrlOptions('memcached', parts.query, URL_OPTIONS);
  return new MemcachedBackend({
    ...backendOptions,
    ...query,
    // Checked with the other options, as if passed to the constructor.
    distribution: query.distribution as KeyDistribution | undefined,
  });
}
