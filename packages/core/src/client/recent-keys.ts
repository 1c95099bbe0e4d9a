import type { CacheScope } from '../keys/key-space.js';
import { StorageLevel } from '../storage-level.js';
import { KEEP_EXPIRY, RecordLog } from './recent-keys-log.js';

/**
 * A key the client stored or found recently (Q2's `RecentKey`). memcached cannot list its keys,
 * so the client remembers them to be able to bust them later.
 */
export class RecentKey {
  /** The caller's key, without prefix or scope. */
  readonly key: string;
  /** Everything the client put before the key: prefix and scope segment, separator included. */
  readonly prefix: string;
  /** The key as stored on the server (differs from `prefix + key` only for hashed long keys). */
  readonly fullKey: string;
  /** True when the client encrypts its values. */
  isEncrypted: boolean;
  /** When the entry expires, in epoch milliseconds; `undefined` when it does not (or is unknown). */
  expiresAtMs: number | undefined;
  /**
   * When a process last recorded the key in the shared recent-keys file, in epoch milliseconds
   * (how old the entry is); set on keys read from the file (`readRecentKeysFile`), `undefined`
   * for keys only in this process's memory.
   */
  recordedAtMs: number | undefined = undefined;

  constructor(
    key: string,
    prefix = '',
    isEncrypted = false,
    expiresAtMs?: number,
    fullKey?: string,
  ) {
    this.key = key;
    this.prefix = prefix;
    this.isEncrypted = isEncrypted;
    this.expiresAtMs = expiresAtMs;
    this.fullKey = fullKey ?? prefix + key;
  }

  /** Q2's `expire_time`: when the entry expires, or `null` when it does not or is unknown. */
  get expireTime(): Date | null {
    return this.expiresAtMs === undefined ? null : new Date(this.expiresAtMs);
  }
}

/**
 * Most removals journaled between two flushes to the shared file. Past it a removal is not
 * journaled: the file then keeps listing a deleted key (a later bust deletes it again, harmless),
 * rather than memory growing without bound while the file cannot be written.
 */
const MAX_JOURNALED_REMOVALS = 100_000;

/** The default number of keys a {@link RecentKeysStack} remembers. */
export const DEFAULT_RECENT_KEYS = 100;

/** One remembered key: a node of the stack's recency list, reused once its key is evicted. */
class Slot {
  fullKey = '';
  key = '';
  prefix = '';
  isEncrypted = false;
  expiresAtMs: number | undefined = undefined;
  // The stack's change counter when this slot last changed: slots changed since the last flush
  // to the shared file are the ones with a higher number (0: seeded from the file, never dirty).
  seq = 0;
  older: Slot | undefined = undefined;
  newer: Slot | undefined = undefined;
}

/**
 * What changed in a {@link RecentKeysStack} since the shared file was last written: what a flush
 * merges into the file (see `recent-keys-sync.ts`).
 */
export interface RecentKeyChanges {
  /** Keys recorded or given a new expiry since the last flush, oldest first, expired ones left out. */
  readonly changed: readonly RecentKey[];
  /**
   * Keys removed (deleted), each with a time in epoch milliseconds no later than when its delete
   * was sent: a file entry recorded before that time is removed, a later one is kept.
   */
  readonly removed: ReadonlyMap<string, number>;
  /** When the list was cleared (`flushAll`), in epoch milliseconds, or `undefined`. */
  readonly clearedAtMs: number | undefined;
  /** The change counter the previous flush had reached (to give the changes back on failure). */
  readonly fromSeq: number;
}

/** Options of a {@link RecentKeysStack} that mirrors a shared file (set by the client). */
interface Journal {
  /** Called once when the stack changes after a flush (the flush is then scheduled). */
  readonly onDirty: () => void;
  /**
   * Subtracted from the clock to date a removal: a delete is booked after its reply, and was sent
   * at most this many milliseconds earlier (the client's `timeoutMs`).
   */
  readonly slackMs: number;
  removed: Map<string, number>;
  clearedAtMs: number | undefined;
  dirty: boolean;
}

/**
 * A bounded stack of unique {@link RecentKey}s (Q2's `RecentKeysStack`), newest last. Appending a
 * key that is already there moves it to the end; past `maxSize` the oldest is dropped. Nothing
 * does I/O. A client records a key on every hit, so {@link RecentKeysStack.record} only appends
 * to a log (`recent-keys-log.ts`) that is applied in one batch when it fills or before anything
 * reads or changes the stack otherwise; a batch touches the map only for the keys it keeps.
 */
export class RecentKeysStack {
  /** Most keys kept. */
  readonly maxSize: number;
  // A map from full key to slot, and the slots in a doubly linked list from oldest to newest:
  // moving a key to the end is a few pointer writes, and evicting reuses the oldest slot.
  readonly #slots = new Map<string, Slot>();
  #oldest: Slot | undefined;
  #newest: Slot | undefined;
  readonly #now: () => number;
  readonly #encrypted: boolean;
  // Counts changes; a slot carries the count of its last change (see Slot.seq).
  #seq = 0;
  #flushedSeq = 0;
  #journal: Journal | undefined;
  /** Records not applied yet; `undefined` when `maxSize` is 0. */
  readonly #log: RecordLog | undefined;

  /**
   * @param maxSize - most keys kept (default {@link DEFAULT_RECENT_KEYS}); 0 keeps none.
   * @param now - clock in epoch milliseconds, used to hide expired entries (default `Date.now`).
   * @param options.encrypted - whether the keys {@link RecentKeysStack.record} records hold
   *   encrypted values (`RecentKey.isEncrypted`); a client's keys all share its setting.
   *   @default false
   */
  constructor(
    maxSize: number = DEFAULT_RECENT_KEYS,
    now: () => number = Date.now,
    options: { readonly encrypted?: boolean | undefined } = {},
  ) {
    if (!Number.isInteger(maxSize) || maxSize < 0) {
      throw new TypeError('`maxSize` must be an integer ≥ 0');
    }
    this.maxSize = maxSize;
    this.#now = now;
    this.#encrypted = options.encrypted ?? false;
    this.#log = maxSize > 0 ? new RecordLog(maxSize) : undefined;
  }

  /** Number of keys held, expired ones included until the next read. */
  get size(): number {
    this.#settle();
    return this.#slots.size;
  }

  /** Adds `item` as the newest key, replacing an entry with the same full key. */
  append(item: RecentKey): void {
    if (this.maxSize === 0) return;
    this.#settle();
    const slot = this.#slotFor(item.fullKey, item.key, item.prefix);
    slot.isEncrypted = item.isEncrypted;
    slot.expiresAtMs = item.expiresAtMs;
    this.#changed(slot);
  }

  /**
   * Records a key as newest (a hit or a write; a write then sets its expiry with
   * {@link RecentKeysStack.setExpiry}). A key recorded again keeps its expiry. `prefix` is what
   * the client put before the caller's key (prefix and scope).
   */
  record(fullKey: string, key: string, prefix: string): void {
    const log = this.#log;
    if (log === undefined) return;
    const journal = this.#journal;
    if (journal !== undefined && !journal.dirty) this.#dirty(journal);
    if (log.full) this.#settle();
    log.push(fullKey, key, prefix);
  }

  /** Changes the expiry of a remembered key (after a write or a `touch`); `null` means none. */
  setExpiry(fullKey: string, expiresAtMs: number | null): void {
    // A write records its key and sets its expiry at once: the record is still in the log.
    if (this.#log?.expireNewest(fullKey, expiresAtMs) === true) return;
    this.#settle();
    const existing = this.#slots.get(fullKey);
    if (existing === undefined) return;
    existing.expiresAtMs = expiresAtMs ?? undefined;
    this.#changed(existing);
  }

  /** Applies the pending records (see `RecordLog`), oldest surviving key first. */
  #settle(): void {
    const log = this.#log;
    if (log === undefined || log.length === 0) return;
    const survivors = log.drain(this.maxSize);
    // Surviving keys already here leave the list first, so a new key's eviction (of the oldest)
    // never takes one of them: their newer records moved them up before that eviction.
    const existing: Array<Slot | undefined> = survivors.map((survivor) => {
      const slot = this.#slots.get(survivor.fullKey);
      if (slot !== undefined) this.#unlink(slot);
      return slot;
    });
    for (const [i, survivor] of survivors.entries()) {
      let slot = existing[i];
      if (slot !== undefined) {
        this.#link(slot);
      } else {
        slot = this.#newSlot(survivor.fullKey, survivor.key, survivor.prefix);
        slot.isEncrypted = this.#encrypted;
        slot.expiresAtMs = undefined;
      }
      if (survivor.expiresAtMs !== KEEP_EXPIRY) slot.expiresAtMs = survivor.expiresAtMs;
      this.#changed(slot);
    }
  }

  /** Removes a key (a `RecentKey` or a full key); does nothing when it is not there (Q2's `remove_safe`). */
  removeSafe(item: RecentKey | string): void {
    const fullKey = typeof item === 'string' ? item : item.fullKey;
    this.#settle();
    const journal = this.#journal;
    // Journaled even when this process never saw the key: another process may have listed it.
    if (journal !== undefined) this.#removedAt(journal, fullKey, this.#now() - journal.slackMs);
    const slot = this.#slots.get(fullKey);
    if (slot === undefined) return;
    this.#slots.delete(fullKey);
    this.#unlink(slot);
  }

  /** Forgets every key. */
  clear(): void {
    this.#log?.clear();
    this.#slots.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
    const journal = this.#journal;
    if (journal !== undefined) {
      // Removals stay journaled: one dated by a bust may be later than this (slack-dated) clear.
      journal.clearedAtMs = this.#now() - journal.slackMs;
      this.#dirty(journal);
    }
  }

  /**
   * Mirrors the stack to a shared file from now on: changes are journaled (no I/O here) and
   * `onDirty` is called once per batch of changes, to schedule a flush. Used by the client.
   * @param slackMs - how long before it is booked a delete may have been sent, in milliseconds.
   */
  journal(onDirty: () => void, slackMs: number): void {
    this.#journal = { onDirty, slackMs, removed: new Map(), clearedAtMs: undefined, dirty: false };
  }

  /** True when changes wait for a flush to the shared file. */
  get hasChanges(): boolean {
    return this.#journal?.dirty === true;
  }

  /**
   * Journals removals of `fullKeys` whose delete was sent at `sentAtMs` (epoch milliseconds): a
   * more exact time than {@link RecentKeysStack.removeSafe} can know, so the shared file drops
   * every entry recorded before it.
   */
  removedAt(fullKeys: Iterable<string>, sentAtMs: number): void {
    const journal = this.#journal;
    if (journal === undefined) return;
    for (const fullKey of fullKeys) this.#removedAt(journal, fullKey, sentAtMs);
  }

  /**
   * Takes what changed since the last call (`undefined` when nothing did) and starts a new batch.
   * A flush that fails gives the changes back with {@link RecentKeysStack.restoreChanges}.
   */
  takeChanges(): RecentKeyChanges | undefined {
    const journal = this.#journal;
    if (journal === undefined || !journal.dirty) return undefined;
    this.#settle();
    const fromSeq = this.#flushedSeq;
    const now = this.#now();
    const changed: RecentKey[] = [];
    for (let slot = this.#oldest; slot !== undefined; slot = slot.newer) {
      if (slot.seq > fromSeq && (slot.expiresAtMs === undefined || slot.expiresAtMs > now)) {
        changed.push(
          new RecentKey(slot.key, slot.prefix, slot.isEncrypted, slot.expiresAtMs, slot.fullKey),
        );
      }
    }
    const changes = {
      changed,
      removed: journal.removed,
      clearedAtMs: journal.clearedAtMs,
      fromSeq,
    };
    journal.removed = new Map();
    journal.clearedAtMs = undefined;
    journal.dirty = false;
    this.#flushedSeq = this.#seq;
    return changes;
  }

  /** Gives back changes a flush could not write, to be written by the next one. */
  restoreChanges(changes: RecentKeyChanges): void {
    const journal = this.#journal;
    if (journal === undefined) return;
    this.#settle();
    this.#flushedSeq = Math.min(this.#flushedSeq, changes.fromSeq);
    for (const [fullKey, atMs] of changes.removed) this.#removedAt(journal, fullKey, atMs);
    if (changes.clearedAtMs !== undefined) {
      journal.clearedAtMs = Math.max(journal.clearedAtMs ?? 0, changes.clearedAtMs);
    }
    this.#dirty(journal);
  }

  /**
   * Adds keys read from the shared file (oldest first) as older than every key this process
   * recorded, without marking them changed: the file has them. Keys this process removed or
   * already holds are skipped, and nothing is added past `maxSize` or after a `clear()`.
   */
  seed(entries: readonly RecentKey[]): void {
    this.#settle();
    const journal = this.#journal;
    if (journal?.clearedAtMs !== undefined) return;
    for (let i = entries.length - 1; i >= 0 && this.#slots.size < this.maxSize; i--) {
      const entry = entries[i] as RecentKey;
      if (this.#slots.has(entry.fullKey) || journal?.removed.has(entry.fullKey) === true) continue;
      const slot = new Slot();
      slot.fullKey = entry.fullKey;
      slot.key = entry.key;
      slot.prefix = entry.prefix;
      slot.isEncrypted = entry.isEncrypted;
      slot.expiresAtMs = entry.expiresAtMs;
      this.#slots.set(entry.fullKey, slot);
      this.#linkOldest(slot);
    }
  }

  /** Marks a slot changed: one counter write, and a flush scheduled on the first change of a batch. */
  #changed(slot: Slot): void {
    slot.seq = ++this.#seq;
    const journal = this.#journal;
    if (journal !== undefined && !journal.dirty) this.#dirty(journal);
  }

  #dirty(journal: Journal): void {
    if (journal.dirty) return;
    journal.dirty = true;
    journal.onDirty();
  }

  /** Journals one removal; of two times for a key the later wins (both precede its delete). */
  #removedAt(journal: Journal, fullKey: string, atMs: number): void {
    const known = journal.removed.get(fullKey);
    if (known === undefined && journal.removed.size >= MAX_JOURNALED_REMOVALS) return;
    if (known === undefined || known < atMs) journal.removed.set(fullKey, atMs);
    this.#dirty(journal);
  }

  /**
   * The live keys, oldest first; drops expired ones. Each call returns new `RecentKey` objects, a
   * snapshot: changing one does not change the stack.
   */
  list(): RecentKey[] {
    this.#settle();
    const now = this.#now();
    const live: RecentKey[] = [];
    let slot = this.#oldest;
    while (slot !== undefined) {
      const next = slot.newer;
      if (slot.expiresAtMs !== undefined && slot.expiresAtMs <= now) {
        this.#slots.delete(slot.fullKey);
        this.#unlink(slot);
      } else {
        live.push(
          new RecentKey(slot.key, slot.prefix, slot.isEncrypted, slot.expiresAtMs, slot.fullKey),
        );
      }
      slot = next;
    }
    return live;
  }

  /** Iterates the live keys, oldest first. */
  [Symbol.iterator](): IterableIterator<RecentKey> {
    return this.list()[Symbol.iterator]();
  }

  /**
   * The slot of `fullKey`, made newest: the existing one, or a new one (the oldest, reused, when
   * the stack is full). Flags and expiry are left to the caller.
   */
  #slotFor(fullKey: string, key: string, prefix: string): Slot {
    const slot = this.#slots.get(fullKey);
    if (slot === undefined) return this.#newSlot(fullKey, key, prefix);
    this.#unlink(slot);
    slot.key = key;
    slot.prefix = prefix;
    this.#link(slot);
    return slot;
  }

  /**
   * A slot for `fullKey`, which the stack does not hold, made newest: the oldest one reused when
   * the stack is full, else a new one. Flags and expiry are left to the caller.
   */
  #newSlot(fullKey: string, key: string, prefix: string): Slot {
    const oldest = this.#oldest;
    let slot: Slot;
    if (oldest !== undefined && this.#slots.size >= this.maxSize) {
      this.#slots.delete(oldest.fullKey);
      this.#unlink(oldest);
      slot = oldest;
    } else {
      slot = new Slot();
    }
    slot.fullKey = fullKey;
    slot.key = key;
    slot.prefix = prefix;
    this.#slots.set(fullKey, slot);
    this.#link(slot);
    return slot;
  }

  /** Puts a slot that is in no list at the newest end. */
  #link(slot: Slot): void {
    slot.older = this.#newest;
    slot.newer = undefined;
    if (this.#newest === undefined) this.#oldest = slot;
    else this.#newest.newer = slot;
    this.#newest = slot;
  }

  /** Puts a slot that is in no list at the oldest end. */
  #linkOldest(slot: Slot): void {
    slot.newer = this.#oldest;
    slot.older = undefined;
    if (this.#oldest === undefined) this.#newest = slot;
    else this.#oldest.older = slot;
    this.#oldest = slot;
  }

  #unlink(slot: Slot): void {
    if (slot.older === undefined) this.#oldest = slot.newer;
    else slot.older.newer = slot.newer;
    if (slot.newer === undefined) this.#newest = slot.older;
    else slot.newer.older = slot.older;
    slot.older = undefined;
    slot.newer = undefined;
  }
}

// The `level=` forms a scope segment starts with (`stack=`, `session=`, `service=`).
const SCOPE_STARTS: readonly string[] = Object.values(StorageLevel).map((level) => `${level}=`);

/**
 * Which recent keys belong to the key space whose head is `head` (`'app:stack=acme:'`): keys
 * stored under exactly that head, and keys of scopes nested in it (a tenant's sessions,
 * `'app:stack=acme:session=s1:'`, or every scope under the root's prefix). Heads end with the
 * separator and scope ids never contain it, so tenant `acme` never matches tenant `acme2`'s
 * `'app:stack=acme2:'`; what follows the head must be a scope segment, so a key space of another
 * service whose prefix merely starts with this head never matches either.
 *
 * @param keyPrefix - when given, only keys stored under exactly `head` whose caller key starts
 *   with it (`'user:'`): a key prefix never reaches into nested scopes.
 */
export function recentKeyMatcher(head: string, keyPrefix?: string): (entry: RecentKey) => boolean {
  if (keyPrefix !== undefined) {
    return (entry) => entry.prefix === head && entry.key.startsWith(keyPrefix);
  }
  return (entry) =>
    entry.prefix === head ||
    (entry.prefix.startsWith(head) &&
      SCOPE_STARTS.some((start) => entry.prefix.startsWith(start, head.length)));
}

/** Options of `CacheClient.bustRecent`: which recent keys to bust. */
export interface BustRecentOptions {
  /**
   * Bust one scope only, relative to the client as `scoped(level, scope)` would make it (a
   * Session nests under the client's tenant or `scope.stack`); its nested scopes (a tenant's
   * sessions) go with it. A level without its id throws `CacheScopeError` before any I/O.
   * @default the client's own scope (the root: every scope under its prefix)
   */
  readonly level?: StorageLevel | undefined;
  /** The scope ids for `level`. */
  readonly scope?: CacheScope | undefined;
  /**
   * Bust only keys whose caller key starts with this (`'user:42:'`), stored directly in the
   * chosen scope (not in scopes nested in it). A non-empty string.
   * @default every key of the scope
   */
  readonly prefix?: string | undefined;
}
