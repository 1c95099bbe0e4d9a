import { CacheConfigError, redactUrl } from '@stowage/core';
import { parseUrlOptions } from '@stowage/core/backend';
import type { RedisOptions } from 'ioredis';

/** The query options a Redis URL may carry; they configure the backend, never ioredis. */
const URL_OPTIONS = {
  keyPrefix: 'string',
  maxKeyBytes: 'integer',
  maxValueBytes: 'integer',
} as const;

/** The backend options a Redis URL's query sets (`?keyPrefix=billing:&maxValueBytes=2048`). */
export interface RedisUrlOptions {
  /** The backend's `keyPrefix`. */
  readonly keyPrefix?: string;
  /** The backend's `maxKeyBytes`, in bytes: a positive integer. */
  readonly maxKeyBytes?: number;
  /** The backend's `maxValueBytes`, in bytes: a positive integer. */
  readonly maxValueBytes?: number;
}

/** What a Redis URL (`redis://` or `rediss://`) configures. */
export interface ParsedRedisUrl {
  /** Connection options for ioredis: host, port, user, password, database, TLS. */
  readonly redisOptions: RedisOptions;
  /** Backend options given as query parameters; never passed to ioredis. */
  readonly params: RedisUrlOptions;
}

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
  if (host === '') throw new CacheConfigError(`redis URL '${redactUrl(url)}' has no host`);
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
  // `redis` or `rediss`, so a message names the scheme the caller wrote.
  const scheme = url.protocol.slice(0, -1);
  return { redisOptions: options, params: parseUrlOptions(scheme, url.searchParams, URL_OPTIONS) };
}
