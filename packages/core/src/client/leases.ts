import type { StoredEntry } from '../backend/contract.js';
import { newLeaseMarker } from '../backend/lease-marker.js';
import { wrapGraced } from '../codec/grace.js';
import { wrapTagged } from '../tags/tag-header.js';
import type { TagSet } from '../tags/tag-options.js';
import { Busted, type Graced } from './read-path.js';
import { isPromise, type BackendPort } from '../backend/port.js';
import { CacheClosedError } from '../errors.js';
import type { ClientCore } from './client-core.js';
import type { ResolvedLease } from './lease-options.js';
import type { Ledger } from './ledger.js';
import { LEASED, MISS, UNREADABLE, type ReadPath } from './read-path.js';

/**
 * First pause between two polls of a waiter, in milliseconds; grows by half each time up to
 * {@link MAX_POLL_MS}. Slow growth keeps the gap between polls small around typical factory
 * times (tens of ms), which is what a waiter's extra latency is made of.
 */
export const FIRST_POLL_MS = 5;
/** Longest pause between two polls of a waiter, in milliseconds. */
export const MAX_POLL_MS = 100;
// A key that keeps refusing `add` yet reads as empty (a backend whose reads and writes disagree,
// or a key this process holds in doubt): give up on the lease after this many rounds.
const MAX_EMPTY_ROUNDS = 3;

/** The key a lease is about: the caller's key and its full key. */
export interface LeaseTarget {
  /** The caller's key. */
  readonly key: string;
  /** Its full key. */
  readonly fullKey: string;
}

/** A lease this process holds: the marker it stored under the key, renewed until settled. */
export interface HeldLease extends LeaseTarget {
  /** The marker: the bytes that must still be under the key for the commit to land. */
  readonly marker: StoredEntry;
  /** Set when a renewal found the marker gone: the commit will be refused. */
  lost: boolean;
  /** Stops the renewal; called once the lease is committed or released. */
  stop: () => void;
  /**
   * For a refresh lease stamped on a stale entry: what to put back on release (the entry as it
   * was, and its remaining TTL in seconds). `undefined` for a marker, which release deletes.
   */
  readonly restore?: { readonly entry: StoredEntry; readonly ttlSeconds: number } | undefined;
}

/** What {@link Leases.acquire} ended with. */
export type Acquired =
  /** This process holds the lease: run the factory, then commit or release. */
  | {
      readonly status: 'held';
      readonly lease: HeldLease;
      /** Whether it was taken after polling (time passed since the caller's read). */
      readonly polled: boolean;
    }
  /** The key holds a value (someone stored it meanwhile, or while we waited). */
  | { readonly status: 'hit'; readonly value: unknown; readonly waited: boolean }
  /** Another caller holds the lease and the wait ended without a value. */
  | { readonly status: 'busy'; readonly waitedMs: number }
  /** The key holds something this process cannot read: no lease can be taken over it. */
  | { readonly status: 'unreadable' };

const UNREADABLE_KEY: Acquired = { status: 'unreadable' };

/** Resolves after `ms` milliseconds. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Leases of one client (Facebook memcache's leases, NSDI 2013 §3.2.1, built from `add`, `setIf`
 * and `deleteIf`): the first caller to miss stores a unique marker under the key with `add` and
 * computes; others find the marker and poll for the value; the result is stored with `setIf`
 * only while the marker is still there, so a delete by anyone in between wins.
 */
export class Leases {
  readonly #core: ClientCore;
  readonly #ledger: Ledger;
  readonly #reads: ReadPath;

  constructor(core: ClientCore, paths: { ledger: Ledger; reads: ReadPath }) {
    this.#core = core;
    this.#ledger = paths.ledger;
    this.#reads = paths.reads;
  }

  /**
   * Takes the lease on `target`, or waits for the value of whoever holds it, for at most
   * `waitMs`. `seenMarker`: the caller's read already found a marker (skip the first `add`).
   * `over`: the key holds a busted tagged entry (or one without the call's `tags`): the lease
   * replaces exactly it (`setIf`) instead of `add`. `tags`: the call's tags, which a value found
   * while waiting must carry. Backend failures reject, already counted and reported.
   */
  async acquire(
    target: LeaseTarget,
    lease: ResolvedLease,
    start: {
      readonly seenMarker: boolean;
      readonly waitMs: number;
      readonly over?: StoredEntry | undefined;
      readonly tags?: TagSet | undefined;
    },
  ): Promise<Acquired> {
    const stats = this.#core.books.stats;
    const began = performance.now();
    let delay = FIRST_POLL_MS;
    let tryAdd = !start.seenMarker;
    let over = start.over;
    let waited = false;
    let polled = false;
    for (let empty = 0; ;) {
      if (this.#core.closed) throw new CacheClosedError('the cache client is closed');
      if (tryAdd) {
        const held = await this.#take(target, lease, over);
        if (held !== undefined) return { status: 'held', lease: held, polled };
      }
      polled = true;
      const found = await this.#reads.peek(target.key, target.fullKey, start.tags);
      if (found === UNREADABLE) return UNREADABLE_KEY;
      if (found instanceof Busted) {
        // A busted entry is taken over like an empty key; the same rounds bound a key that keeps
        // refusing the swap.
        if (++empty > MAX_EMPTY_ROUNDS) return UNREADABLE_KEY;
        over = found.entry;
        tryAdd = true;
        continue;
      }
      over = undefined;
      if (found === MISS) {
        // The marker went away (released, expired, deleted) since `add` failed: take it now.
        if (++empty > MAX_EMPTY_ROUNDS) return UNREADABLE_KEY;
        tryAdd = true;
        continue;
      }
      if (found !== LEASED) return { status: 'hit', value: found, waited };
      const waitedMs = performance.now() - began;
      if (waitedMs >= start.waitMs) {
        if (waited || start.waitMs > 0) stats.leaseTimeouts++;
        return { status: 'busy', waitedMs };
      }
      if (!waited) {
        waited = true;
        stats.leaseWaits++;
      }
      // Full jitter between half and all of the step, so waiters of many processes spread out.
      const step = delay * (0.5 + Math.random() / 2);
      await pause(Math.min(step, start.waitMs - waitedMs));
      delay = Math.min(delay * 1.5, MAX_POLL_MS);
      tryAdd = false;
    }
  }

  /**
   * The server TTL of a marker, in seconds. A `'seconds'` backend (memcached) counts whole
   * seconds from a clock that ticks once a second, so an item stored for `n` s may be gone after
   * `n − 1` s: the marker gets one second more, so a renewal every half `lease.ttl` always finds
   * it (a holder that died is then taken over after at most `⌈ttl⌉ + 1` s).
   */
  #markerTtl(lease: ResolvedLease): number {
    const seconds = lease.ttlMs / 1000;
    return this.#core.port.capabilities.ttlPrecision === 'seconds'
      ? Math.ceil(seconds) + 1
      : seconds;
  }

  /**
   * Stores a new marker under the key: with `add`, or with `setIf` over `over` (a busted entry
   * the key holds). The held lease, or `undefined` when someone else got there first.
   */
  async #take(
    target: LeaseTarget,
    lease: ResolvedLease,
    over: StoredEntry | undefined,
  ): Promise<HeldLease | undefined> {
    const port = this.#core.port;
    const marker = newLeaseMarker();
    const ttlSeconds = this.#markerTtl(lease);
    let added: boolean;
    try {
      if (over === undefined) {
        const pending = port.run(port.writing('getOrSet', target.fullKey), (backend) =>
          backend.add(target.fullKey, marker, ttlSeconds),
        );
        added = isPromise(pending) ? await pending : pending;
      } else {
        const change = { expected: over, entry: marker, ttlSeconds };
        const pending = port.setIf('getOrSet', target.fullKey, change);
        const result = isPromise(pending) ? await pending : pending;
        added = result !== false && result !== undefined;
      }
    } catch (error) {
      // An `add` in doubt may have left the marker: the quarantine removes it (compare-and-
      // delete) when its window ends, and this process reads the key as a miss meanwhile.
      throw this.#ledger.failed('getOrSet', error, { ...target, entry: marker });
    }
    if (!added) return undefined;
    this.#core.books.stats.leasesTaken++;
    return this.#hold(target, marker, lease);
  }

  /** A held lease whose marker is renewed every half of its TTL until `stop()`. */
  #hold(target: LeaseTarget, marker: StoredEntry, lease: ResolvedLease): HeldLease {
    const port = this.#core.port;
    const ttlSeconds = this.#markerTtl(lease);
    let renewing = false;
    const held: HeldLease = {
      key: target.key,
      fullKey: target.fullKey,
      marker,
      lost: false,
      stop: () => {
        clearInterval(timer);
      },
    };
    const renew = async (): Promise<void> => {
      if (renewing || held.lost) return;
      renewing = true;
      try {
        const pending = port.setIf('getOrSet', target.fullKey, {
          expected: marker,
          entry: marker,
          ttlSeconds,
        });
        if ((isPromise(pending) ? await pending : pending) === false) {
          held.lost = true;
          held.stop();
        }
      } catch {
        // A failed renewal is not fatal: the marker lives out its TTL, and the commit's own
        // compare decides whether the result lands.
      } finally {
        renewing = false;
      }
    };
    const timer = setInterval(() => void renew(), Math.max(1, Math.floor(lease.ttlMs / 2)));
    // The factory's own work keeps the process alive; a renewal timer must not.
    timer.unref();
    return held;
  }

  /**
   * Takes the refresh lease on a stale entry: stamps it, with `setIf`, with a token and an expiry
   * (`lease.ttl` from now) that every reader sees, so one caller across processes refreshes it.
   * The stamp is not renewed: a refresh slower than the lease can be taken over by another
   * caller, whose stamp then refuses the first one's commit. Resolves `undefined` when the entry
   * changed since it was read (someone refreshed, stamped, wrote or deleted it).
   */
  async stamp(
    target: LeaseTarget,
    stale: Graced,
    lease: ResolvedLease,
  ): Promise<HeldLease | undefined> {
    const port = this.#core.port;
    const now = this.#core.books.now();
    const token = Buffer.from(newLeaseMarker().value).toString('latin1');
    const graced = wrapGraced(stale.inner, {
      ...stale.meta,
      leaseUntil: now + lease.ttlMs,
      token,
    });
    // A tagged entry stays tagged, with the stamps it was read with.
    const stamped = stale.stamps === undefined ? graced : wrapTagged(graced, stale.stamps);
    // The entry keeps the physical life it had: its grace still ends at `staleUntil`.
    const ttlSeconds = Math.max(0.001, (stale.meta.staleUntil - now) / 1000);
    let result;
    try {
      const pending = port.setIf('getOrSet', target.fullKey, {
        expected: stale.entry,
        entry: stamped,
        ttlSeconds,
      });
      result = isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw this.#ledger.failed('getOrSet', error, { ...target, entry: stamped });
    }
    if (result === false || result === undefined) return undefined;
    this.#core.books.stats.leasesTaken++;
    return {
      key: target.key,
      fullKey: target.fullKey,
      marker: stamped,
      lost: false,
      stop: () => {},
      restore: { entry: stale.entry, ttlSeconds },
    };
  }

  /**
   * Gives a lease up without storing, so waiters take over at once instead of after its TTL: a
   * marker is deleted if it is still this lease's ({@link Leases.drop}); a stamp on a stale entry
   * is replaced by the entry as it was (compare-and-set). Never rejects: a failure is counted and
   * reported, and the marker or stamp expires by itself.
   */
  async release(held: HeldLease): Promise<void> {
    const restore = held.restore;
    if (restore === undefined) return this.drop(held);
    held.stop();
    if (held.lost) return;
    await this.#settle(held, (port) =>
      port.setIf('getOrSet', held.fullKey, {
        expected: held.marker,
        entry: restore.entry,
        ttlSeconds: restore.ttlSeconds,
      }),
    );
  }

  /**
   * Deletes the key while it still holds this lease's marker or stamp (compare-and-delete): a
   * released marker, or a refresh that found the value gone (`undefined`), so the stale copy
   * must not be served any more. Without compare-and-delete a plain delete could remove a newer
   * value: the marker is left to expire.
   */
  async drop(held: HeldLease): Promise<void> {
    held.stop();
    if (held.lost || this.#core.port.backend.deleteIf === undefined) return;
    await this.#settle(held, (port) => port.deleteIf('getOrSet', held.fullKey, held.marker));
  }

  /** Sends the last call of a lease; a failure is counted and reported, never thrown. */
  async #settle(held: HeldLease, send: (port: BackendPort) => unknown): Promise<void> {
    try {
      const pending = send(this.#core.port);
      if (isPromise(pending)) await pending;
    } catch (error) {
      this.#ledger.failed('getOrSet', error, { key: held.key, fullKey: held.fullKey });
    }
  }
}
