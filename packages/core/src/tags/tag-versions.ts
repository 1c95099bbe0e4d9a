import { randomBytes } from 'node:crypto';
import type { StoredEntry } from '../backend/contract.js';
import { isPromise } from '../backend/port.js';
import { toBytes } from '../bytes.js';
import { CacheWriteError } from '../errors.js';
import type { CacheOperation } from '../events.js';
import { hashKey, type KeySpace } from '../keys/key-space.js';
import type { ClientCore } from '../client/client-core.js';
import type { Ledger } from '../client/ledger.js';
import { TAG_VERSION_BYTES, type TagStamp } from './tag-header.js';
import type { TagSet } from './tag-options.js';

/**
 * Flags of a tag's version entry: `0x53545456` (`STTV`). Its bytes are the version: 16 random
 * bytes, unique per creation, so a version never comes back after a bust (no ABA).
 */
export const TAG_VERSION_FLAGS = 0x53_54_54_56;

/**
 * What a tag's version key starts with after the key space's head. Reserved in the key space
 * (`keys/key-space.ts`): no caller key may start with it, so no caller key is a version key.
 */
export const TAG_KEY_START = 'stowage-tag=';

/**
 * Server TTL of a tag's version entry, in seconds: 30 days. An entry that outlives its tags'
 * versions reads as a miss (a miss is always safe); a version lives at least as long as any
 * entry written with a shorter TTL right after it was created.
 */
export const TAG_VERSION_TTL_SECONDS: number = 30 * 24 * 60 * 60;

// A write that keeps losing its tag version (busted between its `add` and its re-read, again and
// again) gives up after this many rounds instead of looping.
const MAX_ROUNDS = 3;

/** A tag's version as read: its bytes, or that the key held nothing or something else. */
export type TagVersion = Uint8Array | 'missing' | 'unreadable';

/** The version bytes of what a version key held. */
function versionOf(found: StoredEntry | undefined): TagVersion {
  if (found === undefined) return 'missing';
  if (found.flags !== TAG_VERSION_FLAGS || found.value.byteLength !== TAG_VERSION_BYTES) {
    return 'unreadable';
  }
  return found.value;
}

/** A new version entry. */
function newVersion(): StoredEntry {
  return { value: randomBytes(TAG_VERSION_BYTES), flags: TAG_VERSION_FLAGS };
}

/**
 * The tag versions of one key space: read them (batched), create missing ones, bust them. A
 * version key is `head + 'stowage-tag=' + digest`, so tenants' tags never meet. These keys are
 * not caller keys: never recorded as recent keys, never counted as hits, misses or sets.
 */
export class TagVersions {
  readonly #core: ClientCore;
  readonly #ledger: Ledger;
  readonly #keys: KeySpace;

  constructor(core: ClientCore, ledger: Ledger, keys: KeySpace) {
    this.#core = core;
    this.#ledger = ledger;
    this.#keys = keys;
  }

  /** The full key of a tag's version, hashed when the head leaves too little room. */
  key(digest: string): string {
    const full = this.#keys.head + TAG_KEY_START + digest;
    const limit = this.#keys.options.maxKeyBytes;
    return Buffer.byteLength(full, 'utf8') > limit ? hashKey(full, limit) : full;
  }

  /** Parses what a version key held (one of the answers of a shared `getMany`). */
  parse(found: StoredEntry | undefined): TagVersion {
    return versionOf(found);
  }

  /**
   * Reads the versions of `digests` with one `getMany`. Failures reject, already counted and
   * reported.
   */
  async read(
    operation: CacheOperation,
    digests: readonly string[],
  ): Promise<Map<string, TagVersion>> {
    const port = this.#core.port;
    let found: ReadonlyArray<StoredEntry | undefined>;
    try {
      const pending = port.getMany(
        operation,
        digests.map((digest) => this.key(digest)),
      );
      found = isPromise(pending) ? await pending : pending;
    } catch (error) {
      throw this.#ledger.failed(operation, error);
    }
    return new Map(digests.map((digest, i) => [digest, versionOf(found[i])]));
  }

  /**
   * Whether every stamp still holds: the tag's version now is the one the entry was written
   * under. A missing or unreadable version fails (every entry carrying that tag is stale).
   */
  static matches(stamps: readonly TagStamp[], versions: ReadonlyMap<string, TagVersion>): boolean {
    for (const stamp of stamps) {
      const now = versions.get(stamp.digest);
      if (typeof now !== 'object' || !toBytes(now).equals(stamp.version)) return false;
    }
    return true;
  }

  /**
   * The stamps a write of `set` carries: each tag's current version, reading those not in
   * `known` and creating missing ones with `add` (a lost race re-reads the winner's). A version
   * that holds something else is replaced, which busts it: always safe. Rejects after
   * {@link MAX_ROUNDS} lost rounds, or when the backend fails (counted and reported).
   */
  async stamps(
    operation: CacheOperation,
    set: TagSet,
    known?: ReadonlyMap<string, TagVersion>,
  ): Promise<TagStamp[]> {
    const versions = new Map(known);
    for (let round = 0; ; round++) {
      const unknown = set.digests.filter((digest) => !versions.has(digest));
      if (unknown.length > 0) {
        for (const [digest, version] of await this.read(operation, unknown)) {
          versions.set(digest, version);
        }
      }
      const absent = set.digests.filter((digest) => typeof versions.get(digest) !== 'object');
      if (absent.length === 0) {
        return set.digests.map((digest) => ({
          digest,
          version: versions.get(digest) as Uint8Array,
        }));
      }
      if (round === MAX_ROUNDS) {
        throw new CacheWriteError(
          `could not settle the versions of ${absent.length} tag(s): busted again on every try`,
          '',
        );
      }
      await Promise.all(absent.map((digest) => this.#create(operation, digest, versions)));
    }
  }

  /**
   * Creates the version of `digest`: `add` when the key held nothing (a lost race leaves the
   * winner's version to be read next round), `set` over something unreadable.
   */
  async #create(
    operation: CacheOperation,
    digest: string,
    versions: Map<string, TagVersion>,
  ): Promise<void> {
    const port = this.#core.port;
    const fullKey = this.key(digest);
    const entry = newVersion();
    const replace = versions.get(digest) === 'unreadable';
    let stored: boolean;
    try {
      const pending = port.run(port.writing(operation, fullKey), (backend) =>
        replace
          ? backend.set(fullKey, entry, TAG_VERSION_TTL_SECONDS)
          : backend.add(fullKey, entry, TAG_VERSION_TTL_SECONDS),
      );
      stored = isPromise(pending) ? await pending : pending;
    } catch (error) {
      // A create in doubt may have landed: the quarantine deletes it later, which busts the tag.
      throw this.#ledger.failed(operation, error, { fullKey, entry });
    }
    if (stored) versions.set(digest, entry.value);
    else versions.delete(digest);
  }

  /** The full keys of `set`'s versions, for a bust (`deleteMany`). */
  keysOf(set: TagSet): string[] {
    return set.digests.map((digest) => this.key(digest));
  }
}
