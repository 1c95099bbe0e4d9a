import { randomBytes } from 'node:crypto';
import type { StoredEntry } from './contract.js';

/**
 * The flags value of a lease marker: `0x53544C45` (the ASCII of `STLE`), outside Q2's codes 1–4
 * and not 0, so no codec — Stowage's or Q2's — reads a marker as a value. Stowage reads it as a
 * miss; Q2's Python deserializer has no branch for it and returns `None`, which Q2 code treats
 * as "not cached".
 */
export const LEASE_FLAGS = 0x53_54_4c_45;

/** What every lease marker's bytes begin with; the rest is its token. */
export const LEASE_MARKER_PREFIX = 'stowage-lease:';

// Tokens are this process's random part plus a counter: unique across processes and hosts
// without paying for random bytes on every miss.
const PROCESS_PART = randomBytes(9).toString('base64url');
let counter = 0;

/**
 * A new lease marker: the entry a `getOrSet` miss stores under the key itself (with `add`, so
 * only one taker wins) while it computes the value. Each marker's bytes are unique, so
 * compare-and-set and compare-and-delete against it succeed only for the lease that wrote it.
 */
export function newLeaseMarker(): StoredEntry {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return {
    value: Buffer.from(`${LEASE_MARKER_PREFIX}${PROCESS_PART}.${counter.toString(36)}`, 'latin1'),
    flags: LEASE_FLAGS,
  };
}

/** True when `entry` is a lease marker (by its flags): a reader sees a miss, never a value. */
export function isLeaseMarker(entry: StoredEntry): boolean {
  return entry.flags === LEASE_FLAGS;
}
