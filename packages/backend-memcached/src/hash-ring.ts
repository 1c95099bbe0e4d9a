import { md5Words } from './md5.js';

/** Points per server on the ring (libmemcached's ketama uses 160: 40 MD5 digests × 4). */
const POINTS_PER_SERVER = 160;

/** The four little-endian words of the last digest (reused: no allocation per key). */
const digest = new Uint32Array(4);

/**
 * Ketama-style consistent hashing: every server owns 160 points on a 32-bit ring (MD5 of
 * `host:port-i`), a key goes to the first point at or after the MD5 of its bytes. Adding a fourth
 * server to three moves about a quarter of the keys (memjs's `hashCode % n` moves three quarters),
 * and only onto the new server.
 */
export class HashRing {
  readonly #points: Uint32Array;
  readonly #owners: Uint16Array;
  readonly #keyPrefix: string;

  /**
   * @param names one stable name per server (`host:port`); the index is what {@link HashRing.locate} returns
   * @param keyPrefix the backend's `keyPrefix`, hashed with the key: the ring places the key as it goes on the wire
   */
  constructor(names: readonly string[], keyPrefix = '') {
    this.#keyPrefix = keyPrefix;
    const entries: Array<{ point: number; owner: number }> = [];
    names.forEach((name, owner) => {
      for (let i = 0; i < POINTS_PER_SERVER / 4; i++) {
        md5Words(`${name}-${i}`, digest);
        for (let slot = 0; slot < 4; slot++) entries.push({ point: digest[slot] as number, owner });
      }
    });
    // Ties (vanishingly rare) are broken by server name order, so every process builds the same ring.
    entries.sort(
      (a, b) =>
        a.point - b.point || (names[a.owner] as string).localeCompare(names[b.owner] as string),
    );
    this.#points = Uint32Array.from(entries, (entry) => entry.point);
    this.#owners = Uint16Array.from(entries, (entry) => entry.owner);
  }

  /** Index of the server that owns `key` (the backend's key; `keyPrefix` is put before it here). */
  locate(key: string): number {
    md5Words(this.#keyPrefix + key, digest);
    const target = digest[0] as number;
    const points = this.#points;
    let low = 0;
    let high = points.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((points[middle] as number) < target) low = middle + 1;
      else high = middle;
    }
    return this.#owners[low === points.length ? 0 : low] as number;
  }
}
