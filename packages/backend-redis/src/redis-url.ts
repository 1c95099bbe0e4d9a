import { CacheConfigError, redactUrl } from '@stowage/core';
import type { RedisOptions } from 'ioredis';

/** What a Redis URL (`redis://` or `rediss://`) configures. */
export interface ParsedRedisUrl {
  /** Connection options for ioredis. */
  readonly redisOptions: RedisOptions;
  /** Backend options given as query parameters. */
  readonly params: Readonly<Record<UrlParam, string | undefined>>;
}

/** Query parameters a Redis URL may carry; they configure the backend, never ioredis. */
export const URL_PARAMS = ['keyPrefix', 'maxKeyBytes', 'maxValueBytes'] as const;
/** One of {@link URL_PARAMS}. */
export type UrlParam = (typeof URL_PARAMS)[number];

/**
 * Reads a `redis://[user:password@]host[:port][/db][?keyPrefix=…]` or `rediss://…` URL. It is
 * parsed here rather than by ioredis so that no query parameter ever reaches ioredis as an option
 * (ioredis would turn `?keyPrefix=` into its own key prefix) and both ioredis majors read the same
 * URL the same way. `rediss://` turns on TLS with Node's defaults (certificate verification on,
 * SNI from the host name); pass `redisOptions.tls` for a CA or client certificate.
 */
export function parseRedisUrl(input: string | URL): ParsedRedisUrl {
  let url: URL;
  try {
    url = typeof input === 'string' ? new URL(input) : input;
  } catch {
    // The parser's error quotes the input, password included: neither it nor the raw text is kept.
    throw new CacheConfigError(`redis URL '${redactUrl(String(input))}' is not a valid URL`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new CacheConfigError(
      `the redis backend needs a redis:// or rediss:// URL; got ${url.protocol}//`,
    );
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw new CacheConfigError(`redis URL '${redact(url)}' has no host`);
  const port = url.port === '' ? 6379 : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new CacheConfigError(
      `redis URL port must be an integer from 1 to 65535; got ${url.port}`,
    );
  }
  const options: RedisOptions = { host, port };
  if (url.username !== '') options.username = decodeURIComponent(url.username);
  if (url.password !== '') options.password = decodeURIComponent(url.password);
  const path = url.pathname.replace(/^\/+/, '');
  if (path !== '') {
    const db = Number(path);
    if (!/^\d+$/.test(path) || !Number.isSafeInteger(db)) {
      throw new CacheConfigError(
        `redis URL path must be a database number like /0; got '/${path}'`,
      );
    }
    options.db = db;
  }
  if (url.protocol === 'rediss:') options.tls = {};
  const params: Partial<Record<UrlParam, string>> = {};
  for (const [name, value] of url.searchParams) {
    if (!(URL_PARAMS as readonly string[]).includes(name)) {
      throw new CacheConfigError(
        `unknown redis URL parameter '${name}'; known: ${URL_PARAMS.join(', ')} (other ioredis options go in \`redisOptions\`)`,
      );
    }
    params[name as UrlParam] = value;
  }
  return { redisOptions: options, params: params as ParsedRedisUrl['params'] };
}

/** The URL without its password, for error messages. */
function redact(url: URL): string {
  if (url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.password = '***';
  return copy.href;
}
