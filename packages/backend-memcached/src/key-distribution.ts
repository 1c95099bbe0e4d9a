import { HashRing } from './hash-ring.js';
import type { ResolvedMemcachedOptions } from './memcached-options.js';
import { RendezvousHash } from './rendezvous-hash.js';

/**
 * How keys are spread over several servers: the values of the `distribution` option. Every client
 * that shares servers with this backend must pick servers the same way, or each reads and writes
 * its own copy of a key on another server.
 */
export const KeyDistribution = {
  /**
   * Ketama-style consistent hashing (160 points per server, MD5 of `host:port-i`; the key hashed
   * with `keyPrefix`). For fleets where only Stowage talks to the servers.
   */
  Ketama: 'ketama',
  /**
   * What Python's `pymemcache.client.hash.HashClient` does by default (rendezvous hashing,
   * murmur3; `keyPrefix` not hashed, as `key_prefix` is not). For servers shared with Python
   * services that use `HashClient`.
   */
  Pymemcache: 'pymemcache',
} as const;

/** One of the {@link KeyDistribution} values. */
export type KeyDistribution = (typeof KeyDistribution)[keyof typeof KeyDistribution];

/** Picks the server of a key: the index of a server in configuration order. */
export interface ServerLocator {
  /** @param key the backend's key, without `keyPrefix` */
  locate(key: string): number;
}

/**
 * The locator for `options.distribution`, or `undefined` for a single server (every key is on
 * it). Each locator prepares everything it can per server here, so a lookup hashes the key only.
 * @param addresses the servers as `servers` lists them (`host:port`, IPv6 in brackets): the
 *   names on the ketama ring
 */
export function createLocator(
  options: Pick<ResolvedMemcachedOptions, 'distribution' | 'servers' | 'keyPrefix'>,
  addresses: readonly string[],
): ServerLocator | undefined {
  if (options.servers.length < 2) return undefined;
  if (options.distribution === KeyDistribution.Pymemcache) {
    // HashClient names a node '%s:%s' % (host, port): an IPv6 host without brackets.
    return new RendezvousHash(options.servers.map((server) => `${server.host}:${server.port}`));
  }
  return new HashRing(addresses, options.keyPrefix);
}
