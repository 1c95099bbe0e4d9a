import { createHash } from 'node:crypto';
import { CacheValueError } from '../errors.js';

/** Most tags one entry may carry (after duplicates collapse). */
export const MAX_TAGS_PER_ENTRY = 32;
/** Longest tag, in UTF-16 code units. Tags are hashed, so length costs nothing on the server. */
export const MAX_TAG_LENGTH = 256;
/** Most tags one `invalidateTags` call may name (one `deleteMany`). */
export const MAX_TAGS_PER_INVALIDATION = 1000;

// Two different lone surrogates encode to the same UTF-8 bytes (U+FFFD): their digests would collide.
const LONE_SURROGATE = /\p{Cs}/u;

/** The `tags` option of `set`, `setMany` and `getOrSet`. */
export interface TagOptions {
  /**
   * Tags of the entry (group invalidation): `invalidateTags(['user:1'])` makes every entry
   * written with the tag `user:1` a miss, in every process, on every backend. Each tag is a
   * non-empty, well-formed string of at most {@link MAX_TAG_LENGTH} code units; an entry carries
   * at most {@link MAX_TAGS_PER_ENTRY} (duplicates count once). Order does not matter. `[]` is
   * the same as no tags. Tags are scoped like keys: a tenant's tag `user:1` is not another
   * tenant's. Cost: a tagged read makes a second round trip for the tags' versions (`get`,
   * `getMany`), except `getOrSet` with `tags`, which reads the entry and its versions in one.
   * A `getOrSet` with `tags` serves only an entry written with exactly these tags.
   * @default undefined (no tags)
   */
  readonly tags?: readonly string[] | undefined;
}

/** A checked tag list: sorted, without duplicates, with each tag's digest. */
export interface TagSet {
  /** The tags, sorted, each once. */
  readonly tags: readonly string[];
  /** `digests[i]` is the base64url SHA-256 of `tags[i]`. */
  readonly digests: readonly string[];
}

// Digests of recent tags: a hot `getOrSet` names the same tags on every call, and hashing them
// costs more than the rest of an in-process hit. Cleared when full rather than kept in LRU order.
const DIGESTS = new Map<string, string>();
const MAX_REMEMBERED_DIGESTS = 10_000;

/** The base64url SHA-256 of a tag's UTF-8 bytes: what names its version key. */
export function tagDigest(tag: string): string {
  let digest = DIGESTS.get(tag);
  if (digest === undefined) {
    digest = createHash('sha256').update(tag, 'utf8').digest('base64url');
    if (DIGESTS.size >= MAX_REMEMBERED_DIGESTS) DIGESTS.clear();
    DIGESTS.set(tag, digest);
  }
  return digest;
}

/** Checks one tag, or throws `CacheValueError` naming what is wrong (no I/O). */
function checkTag(tag: unknown, key: string | undefined): string {
  if (typeof tag !== 'string') {
    throw new CacheValueError(
      `a tag must be a string; got ${tag === null ? 'null' : typeof tag}`,
      key,
    );
  }
  if (tag.length === 0) throw new CacheValueError('a tag must not be empty', key);
  if (tag.length > MAX_TAG_LENGTH) {
    throw new CacheValueError(
      `a tag is at most ${MAX_TAG_LENGTH} characters; got one of ${tag.length}`,
      key,
    );
  }
  if (LONE_SURROGATE.test(tag)) {
    throw new CacheValueError('a tag contains a lone UTF-16 surrogate (not well-formed)', key);
  }
  return tag;
}

/**
 * Checks a `tags` option, or throws `CacheValueError` before any I/O. Resolves `undefined` for
 * no tags (`undefined` or `[]`).
 *
 * @param limit Most distinct tags allowed; {@link MAX_TAGS_PER_ENTRY} by default.
 */
export function checkTags(
  tags: unknown,
  key?: string,
  limit: number = MAX_TAGS_PER_ENTRY,
): TagSet | undefined {
  if (tags === undefined) return undefined;
  // A string is an iterable of its characters: `tags: 'user:1'` would tag with 'u', 's', …
  if (!Array.isArray(tags)) {
    throw new CacheValueError(
      `\`tags\` must be an array of strings${typeof tags === 'string' ? `, not a string (wrap it: ['${tags.slice(0, 40)}'])` : ''}`,
      key,
    );
  }
  if (tags.length === 0) return undefined;
  const unique = [...new Set(tags.map((tag: unknown) => checkTag(tag, key)))].sort();
  if (unique.length > limit) {
    throw new CacheValueError(`at most ${limit} distinct tags; got ${unique.length}`, key);
  }
  return { tags: unique, digests: unique.map(tagDigest) };
}
