import type { StoredEntry } from '../backend/contract.js';
import { LEASE_FLAGS } from '../backend/lease-marker.js';
import {
  GRACE_FLAGS,
  NOT_FOUND_FLAGS,
  unwrapGraced,
  type GraceMeta,
  type GracedEntry,
} from '../codec/grace.js';
import { isPromise } from '../backend/port.js';
import { asBatchError, CacheDecodeError, type CacheError } from '../errors.js';
import type { CacheOperation } from '../events.js';
import { TAGGED_FLAGS, unwrapTagged, type TaggedEntry, type TagStamp } from '../tags/tag-header.js';
import type { TagSet } from '../tags/tag-options.js';
import { TagVersions, type TagVersion } from '../tags/tag-versions.js';
import type { ClientCore } from './client-core.js';
import type { Ledger } from './ledger.js';

/** What a read returns for a key it did not find (or found nothing it could decode). */
export const MISS: unique symbol = Symbol('miss');
/** What a `getOrSet` read returns for a key that holds another caller's lease marker. */
export const LEASED: unique symbol = Symbol('leased');
/** What {@link ReadPath.peek} returns for a key that holds a value this process cannot read. */
export const UNREADABLE: unique symbol = Symbol('unreadable');
/** What a `getOrSet` read returns for a "not found" entry (`negativeTtl`): `undefined`, cached. */
export const NOT_FOUND: unique symbol = Symbol('not found');

/**
 * A value written with `grace`, as a `getOrSet` read returns it once stale (past its `ttl`, within
 * its grace) and a `getEntry` read always: the decoded value, the entry exactly as stored (a
 * refresh commits over it with `setIf`), its header, and the codec's entry inside.
 */
export class Graced {
  readonly value: unknown;
  readonly entry: StoredEntry;
  readonly meta: GraceMeta;
  readonly inner: StoredEntry;
  /**
   * The tag stamps of a tagged entry (checked against the tags' versions when it was read), which
   * a refresh stamp and commit carry again; `undefined` for an untagged entry.
   */
  readonly stamps: readonly TagStamp[] | undefined;

  constructor(
    value: unknown,
    entry: StoredEntry,
    graced: GracedEntry & { readonly stamps?: readonly TagStamp[] | undefined },
  ) {
    this.value = value;
    this.entry = entry;
    this.meta = graced.meta;
    this.inner = graced.inner;
    this.stamps = graced.stamps;
  }
}

/**
 * What a `getOrSet` read returns for a key that holds what it must not serve but may lease over:
 * a tagged entry whose tags were busted since it was written (or whose tags differ from the
 * call's), or an untagged entry where the call gives `tags`. `entry` is what the key holds
 * exactly, so a lease replaces it with compare-and-set. Never served, never stale-served.
 */
export class Busted {
  readonly entry: StoredEntry;

  constructor(entry: StoredEntry) {
    this.entry = entry;
  }
}

/**
 * The tags of one `getOrSet` call and what its reads learnt of them: the versions its first read
 * found, then the stamps its write will carry (resolved before the factory starts, so a bust
 * during the factory makes its result a miss).
 */
export interface TagRead {
  /** The call's tags. */
  readonly set: TagSet;
  /** Each tag's version as the call's first read found it; `undefined` before that read. */
  versions: ReadonlyMap<string, TagVersion> | undefined;
}

/** The outer entry of a tagged entry being read, while its inner entry is decoded. */
interface Outer {
  readonly entry: StoredEntry;
  readonly stamps: readonly TagStamp[];
}

/** Operations whose reads want stale values and "not found" entries rather than a miss. */
function wantsStale(operation: CacheOperation): boolean {
  return operation === 'getOrSet' || operation === 'getEntry';
}

// Q2's codes are 1–4; anything above is one of Stowage's own entries (or unknown flags).
const MAX_Q2_CODE = 4;

/** One `getMany`: the caller keys, their full keys, and when it began (`-1`: not timed). */
interface Batch {
  readonly callerKeys: readonly string[];
  readonly fullKeys: readonly string[];
  readonly started: number;
}

/**
 * The read path of one client: backend read, quarantine overlay, decoding (a failure is a miss
 * plus a warning), and the bookkeeping of hits and misses. An in-process backend's answer is
 * handled synchronously, without a promise.
 *
 * `#received` takes four positional arguments: an object would be allocated on every hit.
 */
export class ReadPath {
  readonly #core: ClientCore;
  readonly #ledger: Ledger;
  readonly #tags: TagVersions;
  /**
   * Set while the inner entry of a tagged entry is decoded (synchronously): that entry was
   * admitted as a whole, a graced value inside is not remembered for outages (a busted entry
   * must never be stale-served, and an outage cannot tell), and a `Graced` keeps the outer entry.
   */
  #outer: Outer | undefined;

  constructor(core: ClientCore, ledger: Ledger, tags: TagVersions) {
    this.#core = core;
    this.#ledger = ledger;
    this.#tags = tags;
  }

  /**
   * Reads one key: the decoded value or {@link MISS}, synchronously when the backend answered
   * synchronously, else a promise of it. Failures are thrown (or the promise rejects) already
   * counted and reported.
   */
  one(operation: CacheOperation, key: string, fullKey: string): unknown {
    const started = this.#ledger.started();
    let entry;
    try {
      entry = this.#core.port.get(operation, fullKey);
    } catch (error) {
      throw this.#failed(operation, error, { key, fullKey, started });
    }
    if (isPromise(entry)) {
      return entry.then(
        (found) =>
          found?.flags === TAGGED_FLAGS
            ? this.#taggedOne(operation, { key, fullKey, started }, found)
            : this.#timed(operation, started, this.#received(operation, key, fullKey, found)),
        (error: unknown) => {
          throw this.#failed(operation, error, { key, fullKey, started });
        },
      );
    }
    if (entry?.flags === TAGGED_FLAGS) {
      return this.#taggedOne(operation, { key, fullKey, started }, entry);
    }
    return this.#timed(operation, started, this.#received(operation, key, fullKey, entry));
  }

  /** A one-key read found a tagged entry: a second round trip reads its tags' versions. */
  async #taggedOne(
    operation: CacheOperation,
    at: { readonly key: string; readonly fullKey: string; readonly started: number },
    found: StoredEntry,
  ): Promise<unknown> {
    const tagged = this.#unwrap(operation, at, found);
    let versions: ReadonlyMap<string, TagVersion> = new Map();
    if (tagged !== undefined) {
      try {
        versions = await this.#tags.read(operation, digestsOf([tagged]));
      } catch (error) {
        this.#ledger.timing(operation, at.started, 'error');
        throw error;
      }
    }
    const value = this.#checked(operation, at, { found, tagged, versions });
    return this.#timed(operation, at.started, value);
  }

  /** Takes a tagged entry apart; a malformed header is a decode warning and `undefined`. */
  #unwrap(
    operation: CacheOperation,
    at: { readonly key: string; readonly fullKey: string },
    found: StoredEntry,
  ): TaggedEntry | undefined {
    const tagged = unwrapTagged(found);
    if (tagged === undefined) {
      const error = new CacheDecodeError('malformed tag header', {
        key: at.fullKey,
        flags: found.flags,
      });
      this.#ledger.warn('decode', error, { operation, ...at });
    }
    return tagged;
  }

  /**
   * A tagged entry once its tags' versions are known: the inner entry, decoded as any entry,
   * when every stamp holds (and, with `required`, the tags are exactly those); else a miss —
   * {@link Busted} for `getOrSet`, which may lease over it.
   */
  #checked(
    operation: CacheOperation,
    at: { readonly key: string; readonly fullKey: string },
    read: {
      readonly found: StoredEntry;
      readonly tagged: TaggedEntry | undefined;
      readonly versions: ReadonlyMap<string, TagVersion>;
      readonly required?: TagSet | undefined;
    },
  ): unknown {
    const { key, fullKey } = at;
    const { found, tagged } = read;
    const admitted = this.#ledger.admit(fullKey, found) !== undefined;
    const holds =
      tagged !== undefined &&
      admitted &&
      (read.required === undefined || sameTags(tagged.stamps, read.required)) &&
      tagged.inner.flags !== LEASE_FLAGS &&
      TagVersions.matches(tagged.stamps, read.versions);
    if (!holds) {
      this.#ledger.miss(operation, key, fullKey);
      return operation === 'getOrSet' && admitted ? new Busted(found) : MISS;
    }
    this.#outer = { entry: found, stamps: tagged.stamps };
    try {
      return this.#received(operation, key, fullKey, tagged.inner);
    } finally {
      this.#outer = undefined;
    }
  }

  /**
   * `getOrSet` with `tags`: the entry and its tags' versions in one `getMany`. The versions are
   * kept in `tags` for the call's write. Serves only an entry carrying exactly these tags, each
   * at its current version; another entry is {@link Busted}. Failures reject, already counted.
   */
  async withTags(key: string, fullKey: string, tags: TagRead): Promise<unknown> {
    const started = this.#ledger.started();
    const { digests } = tags.set;
    const port = this.#core.port;
    let found: ReadonlyArray<StoredEntry | undefined>;
    try {
      const keys = [fullKey, ...digests.map((digest) => this.#tags.key(digest))];
      const pending = port.getMany('getOrSet', keys);
      found = isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw this.#failed('getOrSet', error, { key, fullKey, started });
    }
    const versions = new Map(digests.map((digest, i) => [digest, this.#tags.parse(found[i + 1])]));
    tags.versions = versions;
    const entry = found[0];
    let value: unknown;
    if (entry === undefined || entry.flags === LEASE_FLAGS) {
      value = this.#received('getOrSet', key, fullKey, entry);
    } else if (entry.flags !== TAGGED_FLAGS) {
      // Written without tags: a bust of these tags would not reach it.
      this.#ledger.miss('getOrSet', key, fullKey);
      value = this.#ledger.admit(fullKey, entry) === undefined ? MISS : new Busted(entry);
    } else {
      const at = { key, fullKey };
      const tagged = this.#unwrap('getOrSet', at, entry);
      value = this.#checked('getOrSet', at, { found: entry, tagged, versions, required: tags.set });
    }
    return this.#timed('getOrSet', started, value);
  }

  /** Emits the timing of a one-key read that began at `started` (`-1`: nobody listens). */
  #timed(operation: CacheOperation, started: number, value: unknown): unknown {
    if (started >= 0) this.#ledger.timing(operation, started, value === MISS ? 'miss' : 'hit');
    return value;
  }

  #failed(
    operation: CacheOperation,
    error: unknown,
    at: { readonly key: string; readonly fullKey: string; readonly started: number },
  ): CacheError {
    this.#ledger.timing(operation, at.started, 'error');
    return this.#ledger.failed(operation, error, at);
  }

  /** Decodes what a read found and books the hit or the miss. */
  #received(
    operation: CacheOperation,
    key: string,
    fullKey: string,
    found: StoredEntry | undefined,
  ): unknown {
    const ledger = this.#ledger;
    if (found !== undefined && found.flags > MAX_Q2_CODE) {
      const special = this.#special(operation, key, fullKey, found);
      if (special !== undefined) return special;
    }
    // A key in doubt after a timed-out write reads only what this process confirmed since (the
    // outer entry of a tagged one was admitted as a whole).
    const entry = this.#outer === undefined ? ledger.admit(fullKey, found) : found;
    if (entry !== undefined) {
      try {
        const value = this.#core.codec.decode(entry, fullKey);
        ledger.hit(operation, key, fullKey);
        return value;
      } catch (error) {
        ledger.warn('decode', error as CacheError, { operation, key, fullKey });
      }
    }
    ledger.miss(operation, key, fullKey);
    return MISS;
  }

  /**
   * Stowage's own entries: a lease marker (another caller is computing the key), a "not found"
   * entry, a graced entry (fresh, or stale past its `ttl`). Plain reads see a miss for all but a
   * fresh value; `getOrSet` and `getEntry` see {@link LEASED}, {@link NOT_FOUND} and
   * {@link Graced}. Returns `undefined` for other flags (decoded, and refused, as usual).
   */
  #special(operation: CacheOperation, key: string, fullKey: string, found: StoredEntry): unknown {
    const ledger = this.#ledger;
    const flags = found.flags;
    if (flags === LEASE_FLAGS) {
      // Never a value, and no decode warning.
      ledger.miss(operation, key, fullKey);
      return operation === 'getOrSet' ? LEASED : MISS;
    }
    if (flags === NOT_FOUND_FLAGS) {
      if (wantsStale(operation)) {
        ledger.hit(operation, key, fullKey);
        return NOT_FOUND;
      }
      ledger.miss(operation, key, fullKey);
      return MISS;
    }
    if (flags !== GRACE_FLAGS) return undefined;
    const value = this.#graced(operation, key, fullKey, found);
    if (value === MISS) ledger.miss(operation, key, fullKey);
    else if (value instanceof Graced && value.meta.freshUntil <= this.#core.books.now())
      this.#core.books.stats.staleHits++;
    else ledger.hit(operation, key, fullKey);
    return value;
  }

  /** A graced entry: its value while fresh, a {@link Graced} after (to those who want one), else MISS. */
  #graced(operation: CacheOperation, key: string, fullKey: string, found: StoredEntry): unknown {
    const outer = this.#outer;
    const entry = outer === undefined ? this.#ledger.admit(fullKey, found) : found;
    if (entry === undefined) return MISS;
    const graced = unwrapGraced(entry);
    let value: unknown;
    try {
      if (graced === undefined)
        throw new CacheDecodeError('malformed grace header', { key: fullKey, flags: entry.flags });
      value = this.#core.codec.decode(graced.inner, fullKey);
    } catch (error) {
      this.#ledger.warn('decode', error as CacheError, { operation, key, fullKey });
      return MISS;
    }
    const { meta } = graced;
    const now = this.#core.books.now();
    if (now >= meta.staleUntil) return MISS;
    if (!wantsStale(operation)) return now < meta.freshUntil ? value : MISS;
    if (outer !== undefined) {
      if (now < meta.freshUntil && operation === 'getOrSet') return value;
      return new Graced(value, outer.entry, { ...graced, stamps: outer.stamps });
    }
    this.#core.books.lastGood.remember(fullKey, graced.inner, meta.staleUntil);
    if (now < meta.freshUntil && operation === 'getOrSet') return value;
    return new Graced(value, entry, graced);
  }

  /**
   * A `getOrSet` waiter's poll: the decoded value (booked as a hit), {@link MISS} when the key
   * holds nothing, {@link LEASED} for a lease marker, {@link UNREADABLE} for a value that does
   * not decode or a key in doubt here, {@link Busted} for a tagged entry whose tags were busted
   * (or, with `tags`, an entry without exactly these tags): a second round trip reads the tags'
   * versions. Misses and markers are not booked: one call polls many times. Failures reject
   * already counted and reported.
   */
  async peek(key: string, fullKey: string, tags?: TagSet): Promise<unknown> {
    let found: StoredEntry | undefined;
    try {
      const pending = this.#core.port.get('getOrSet', fullKey);
      found = isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw this.#ledger.failed('getOrSet', error, { key, fullKey });
    }
    if (found === undefined) return MISS;
    if (found.flags === LEASE_FLAGS) return LEASED;
    if (found.flags === TAGGED_FLAGS) return this.#peekTagged({ key, fullKey }, found, tags);
    if (tags !== undefined) {
      // Written without tags: a bust of these tags would not reach it.
      return this.#ledger.admit(fullKey, found) === undefined ? UNREADABLE : new Busted(found);
    }
    return this.#peeked(key, fullKey, found);
  }

  /** A waiter's poll found a tagged entry: checked against its tags' versions, read now. */
  async #peekTagged(
    at: { readonly key: string; readonly fullKey: string },
    found: StoredEntry,
    tags: TagSet | undefined,
  ): Promise<unknown> {
    const tagged = this.#unwrap('getOrSet', at, found);
    const versions =
      tagged === undefined ? new Map() : await this.#tags.read('getOrSet', digestsOf([tagged]));
    if (this.#ledger.admit(at.fullKey, found) === undefined) return UNREADABLE;
    const holds =
      tagged !== undefined &&
      (tags === undefined || sameTags(tagged.stamps, tags)) &&
      tagged.inner.flags !== LEASE_FLAGS &&
      TagVersions.matches(tagged.stamps, versions);
    if (!holds) return new Busted(found);
    this.#outer = { entry: found, stamps: tagged.stamps };
    try {
      return this.#peeked(at.key, at.fullKey, tagged.inner);
    } finally {
      this.#outer = undefined;
    }
  }

  /** Decodes what a waiter's poll found (neither nothing nor a marker). */
  #peeked(key: string, fullKey: string, found: StoredEntry): unknown {
    if (found.flags === NOT_FOUND_FLAGS || found.flags === GRACE_FLAGS) {
      const value = this.#special('getOrSet', key, fullKey, found);
      return value === MISS ? UNREADABLE : value;
    }
    const entry = this.#outer === undefined ? this.#ledger.admit(fullKey, found) : found;
    if (entry === undefined) return UNREADABLE;
    try {
      const value = this.#core.codec.decode(entry, fullKey);
      this.#ledger.hit('getOrSet', key, fullKey);
      return value;
    } catch (error) {
      this.#ledger.warn('decode', error as CacheError, { operation: 'getOrSet', key, fullKey });
      return UNREADABLE;
    }
  }

  /**
   * Reads many distinct keys (`fullKeys[i]` is the full key of `callerKeys[i]`) in one backend
   * call: a map of the hits, in the order given. A partly failed batch is counted and reported,
   * then answered with what the healthy part found (`partialBatches: 'return'`) or thrown.
   */
  many(
    callerKeys: readonly string[],
    fullKeys: readonly string[],
  ): Map<string, unknown> | Promise<Map<string, unknown>> {
    const batch: Batch = { callerKeys, fullKeys, started: this.#ledger.started() };
    let entries;
    try {
      entries = this.#core.port.getMany('getMany', fullKeys);
    } catch (error) {
      return this.#manyFailed(batch, error);
    }
    if (isPromise(entries)) {
      return entries.then(
        (found) => this.#gotMany(batch, found),
        (error: unknown) => this.#manyFailed(batch, error),
      );
    }
    return this.#gotMany(batch, entries);
  }

  #manyFailed(batch: Batch, error: unknown): Map<string, unknown> | Promise<Map<string, unknown>> {
    const keys = batch.fullKeys.length;
    this.#ledger.timingOf('getMany', { started: batch.started, keys, outcome: 'error' });
    const failure = this.#ledger.failed('getMany', error);
    const partial = asBatchError(failure);
    if (
      partial?.entries === undefined ||
      partial.entries.length !== keys ||
      this.#core.settings.partialBatches === 'throw'
    ) {
      throw failure;
    }
    // The healthy part's answer; the failed part's keys read as misses (timing already sent).
    return this.#gotMany({ ...batch, started: -1 }, partial.entries);
  }

  #gotMany(
    batch: Batch,
    entries: ReadonlyArray<StoredEntry | undefined>,
  ): Map<string, unknown> | Promise<Map<string, unknown>> {
    for (const entry of entries) {
      if (entry?.flags === TAGGED_FLAGS) return this.#gotTagged(batch, entries);
    }
    const { callerKeys, fullKeys } = batch;
    const result = new Map<string, unknown>();
    for (let i = 0; i < fullKeys.length; i++) {
      const key = callerKeys[i] as string;
      const value = this.#received('getMany', key, fullKeys[i] as string, entries[i]);
      if (value !== MISS) result.set(key, value);
    }
    const outcome = result.size > 0 ? 'hit' : 'miss';
    this.#ledger.timingOf('getMany', { started: batch.started, keys: fullKeys.length, outcome });
    return result;
  }

  /**
   * A `getMany` that found tagged entries: one more `getMany` reads the versions of every tag
   * they carry, then each entry is checked and decoded. A failure of that read fails the call
   * (an entry that cannot be checked is never served).
   */
  async #gotTagged(
    batch: Batch,
    entries: ReadonlyArray<StoredEntry | undefined>,
  ): Promise<Map<string, unknown>> {
    const { callerKeys, fullKeys } = batch;
    const tagged = new Map<number, TaggedEntry | undefined>();
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry?.flags !== TAGGED_FLAGS) continue;
      tagged.set(
        i,
        this.#unwrap(
          'getMany',
          { key: callerKeys[i] as string, fullKey: fullKeys[i] as string },
          entry,
        ),
      );
    }
    let versions: ReadonlyMap<string, TagVersion>;
    try {
      versions = await this.#tags.read('getMany', digestsOf(tagged.values()));
    } catch (error) {
      this.#ledger.timingOf('getMany', {
        started: batch.started,
        keys: fullKeys.length,
        outcome: 'error',
      });
      throw error;
    }
    const result = new Map<string, unknown>();
    for (let i = 0; i < fullKeys.length; i++) {
      const at = { key: callerKeys[i] as string, fullKey: fullKeys[i] as string };
      const found = entries[i];
      const value = tagged.has(i)
        ? this.#checked('getMany', at, {
            found: found as StoredEntry,
            tagged: tagged.get(i),
            versions,
          })
        : this.#received('getMany', at.key, at.fullKey, found);
      if (value !== MISS) result.set(at.key, value);
    }
    const outcome = result.size > 0 ? 'hit' : 'miss';
    this.#ledger.timingOf('getMany', { started: batch.started, keys: fullKeys.length, outcome });
    return result;
  }
}

/** Every distinct tag digest the stamps of `entries` name (malformed entries skipped). */
function digestsOf(entries: Iterable<TaggedEntry | undefined>): string[] {
  const digests = new Set<string>();
  for (const entry of entries) {
    for (const stamp of entry?.stamps ?? []) digests.add(stamp.digest);
  }
  return [...digests];
}

/** Whether `stamps` name exactly the tags of `set` (an entry's tags against a call's). */
function sameTags(stamps: readonly TagStamp[], set: TagSet): boolean {
  if (stamps.length !== set.digests.length) return false;
  // Both ways: a header naming one tag twice must not stand for two.
  return (
    stamps.every((stamp) => set.digests.includes(stamp.digest)) &&
    set.digests.every((digest) => stamps.some((stamp) => stamp.digest === digest))
  );
}
