import type { RedisBackend } from '@stowage/backend-redis';
import type { CacheBackend } from '@stowage/core';
import { withDeadline } from './deadline.js';
import { memcachedText } from './memcached-text.js';
import { isRedisBackend } from './redis-admin.js';

/** What the server says about a key's expiry. */
export type ServerTtl =
  /** Seconds (memcached) or milliseconds (Redis) left, as `ms`. */
  | { readonly state: 'expires'; readonly ms: number }
  /** The key never expires. */
  | { readonly state: 'never' }
  /** The server holds no such key (it expired or was deleted since it was read). */
  | { readonly state: 'missing' }
  /** The backend cannot tell (in-process memory, memcached behind SASL, …), with why. */
  | { readonly state: 'unknown'; readonly reason: string };

async function redisTtl(
  backend: RedisBackend,
  fullKey: string,
  timeoutMs: number,
): Promise<ServerTtl> {
  const pttl = backend.client.callBuffer('PTTL', backend.keyPrefix + fullKey);
  const reply = await withDeadline(pttl, timeoutMs, 'redis PTTL');
  const ms = Number(reply);
  if (ms === -2) return { state: 'missing' };
  if (ms === -1) return { state: 'never' };
  return { state: 'expires', ms };
}

async function memcachedTtl(
  backend: CacheBackend,
  fullKey: string,
  timeoutMs: number,
): Promise<ServerTtl> {
  const address = backend.serverFor?.(fullKey);
  if (address === undefined)
    return { state: 'unknown', reason: 'the backend does not say which server holds the key' };
  // A printable ASCII key goes as it is (base64 would make a long key too long for the text
  // protocol's 250-byte token); others go as base64 (`b`), which carries any UTF-8 unchanged.
  const ascii = /^[\x21-\x7e]+$/.test(fullKey);
  const command = ascii
    ? `mg ${fullKey} t`
    : `mg ${Buffer.from(fullKey, 'utf8').toString('base64')} b t`;
  const reply = await memcachedText(address, command, {
    timeoutMs,
    complete: (text) => text.endsWith('\r\n'),
  });
  if (reply.startsWith('EN')) return { state: 'missing' };
  const seconds = /\bt(-?\d+)/.exec(reply)?.[1];
  if (!reply.startsWith('HD') || seconds === undefined) {
    return { state: 'unknown', reason: `unexpected reply to mg: ${reply.trim()}` };
  }
  const left = Number(seconds);
  return left < 0 ? { state: 'never' } : { state: 'expires', ms: left * 1000 };
}

/**
 * Asks the server how long `fullKey` has left: Redis `PTTL` (milliseconds), memcached's meta
 * command `mg <key> t` (whole seconds, memcached 1.6+) on the server the ring places the key on.
 * Failures of this extra request resolve `unknown` with the reason: the entry itself was read.
 */
export async function serverTtl(
  backend: CacheBackend,
  fullKey: string,
  timeoutMs: number,
): Promise<ServerTtl> {
  try {
    if (isRedisBackend(backend)) return await redisTtl(backend, fullKey, timeoutMs);
    if (backend.name === 'memcached') return await memcachedTtl(backend, fullKey, timeoutMs);
  } catch (error) {
    return { state: 'unknown', reason: (error as Error).message };
  }
  return { state: 'unknown', reason: `the ${backend.name} backend keeps no TTL a tool can read` };
}
