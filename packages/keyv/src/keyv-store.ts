import { EventEmitter } from 'node:events';
import { CacheWriteError, type CacheClient } from '@stowage/core';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import { assertKeyvString, keyvEntryExpired, keyvTtlSeconds } from './keyv-mapping.js';

/** Options of {@link StowageKeyvStore}. */
export interface StowageKeyvStoreOptions {
  /**
   * `disconnect()` (Keyv's, cache-manager's, Nest's on shutdown) also closes the client. Leave it
   * off when the client is shared with other code. A scoped client's `close()` does nothing, so
   * this only matters for a root client.
   *
   * @default false
   */
  readonly ownsClient?: boolean;
  /**
   * Clock for `has()`'s check of Keyv's own `expires`, in epoch milliseconds.
   *
   * @default Date.now
   */
  readonly now?: () => number;
}

/** One entry of Keyv's `setMany`: the serialized value and its TTL in milliseconds. */
export interface KeyvSetManyEntry {
  /** The key as Keyv passes it (`namespace:key` with Keyv's default key prefixing). */
  readonly key: string;
  /** What Keyv's serializer made of `{ value, expires }`. */
  readonly value: unknown;
  /** Milliseconds; `undefined` for no TTL. */
  readonly ttl?: number | undefined;
}

/**
 * A Keyv 5 storage adapter over a Stowage {@link CacheClient}: any backend, a scoped client for
 * one tenant, encryption and compression included. Keyv serializes, Stowage stores the string
 * under Keyv's key (`keyv:<key>` with Keyv's default namespace) in the client's prefix and scope.
 *
 * Every method rejects with core's typed errors (`instanceof CacheError`). Keyv emits the errors
 * of `set`, `setMany`, `delete`, `deleteMany` and `clear` itself; for reads (`get`, `getMany`,
 * `has`, `hasMany`), which Keyv 5 does not report, this adapter emits `error` before rejecting.
 *
 * @example
 * const keyv = new Keyv({ store: new StowageKeyvStore(cache.scoped(StorageLevel.Stack, { stack })) });
 */
export class StowageKeyvStore extends EventEmitter implements KeyvStoreAdapter {
  /**
   * Options record Keyv reads (`dialect`) and test suites write to; the adapter itself reads
   * only what was given to the constructor.
   */
  opts: Record<string, unknown>;
  #namespace: string | undefined;
  /** Every namespace Keyvs have set on this store (more than one when Keyvs share it). */
  readonly #namespaces = new Set<string | undefined>();
  /** Keyv wrote a key without the namespace in front (its `useKeyPrefix: false`). */
  #unprefixed = false;
  readonly #client: CacheClient<unknown>;
  readonly #ownsClient: boolean;
  readonly #now: () => number;

  /**
   * @param client - the client whose prefix, scope, codec and backend the entries go through.
   * @param options - see {@link StowageKeyvStoreOptions}.
   */
  constructor(client: CacheClient<unknown>, options: StowageKeyvStoreOptions = {}) {
    super();
    this.#client = client;
    this.#ownsClient = options.ownsClient ?? false;
    this.#now = options.now ?? Date.now;
    this.opts = { dialect: 'stowage', ownsClient: this.#ownsClient };
  }

  /**
   * Keyv's namespace, set by each Keyv on its store. Keyv already puts it in front of every key;
   * the adapter uses it only to choose which remembered keys `clear()` deletes.
   */
  get namespace(): string | undefined {
    return this.#namespace;
  }

  set namespace(namespace: string | undefined) {
    this.#namespace = namespace;
    this.#namespaces.add(namespace);
  }

  /** The client this store reads and writes through. */
  get client(): CacheClient<unknown> {
    return this.#client;
  }

  /**
   * Reads Keyv's serialized entry. Resolves `undefined` on a miss, and for a value that is not a
   * string: Keyv did not write it, and handing it to Keyv would make a foreign value a hit.
   */
  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const value = await this.#read(this.#client.get(key));
    return (typeof value === 'string' ? value : undefined) as StoredData<Value> | undefined;
  }

  /** {@link StowageKeyvStore.get} for many keys in one batch, `undefined` where missing. */
  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const found = await this.#read(this.#client.getMany(keys));
    return keys.map((key) => {
      const value = found.get(key);
      return (typeof value === 'string' ? value : undefined) as StoredData<Value | undefined>;
    });
  }

  /**
   * Stores Keyv's serialized string; `ttl` in milliseconds. Resolves `true` when the server holds
   * exactly it (the client's integrity check), `false` when the write was refused or not confirmed
   * — and then deletes the key, so the value from before does not stay readable: cache-manager's
   * `set` ignores Keyv's `false`, and its callers would read the old value as if it were new.
   */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    assertKeyvString(value, key);
    const seconds = keyvTtlSeconds(ttl, key);
    this.#noteKey(key);
    const stored = await this.#client.set(
      key,
      value,
      seconds === undefined ? undefined : { ttl: seconds },
    );
    if (!stored) await this.#client.delete(key);
    return stored;
  }

  /**
   * Stores many entries: one `setMany` per distinct TTL. Every key, value and TTL is checked
   * before anything is sent. A key given twice is written once, with its last value and TTL — as
   * sequential `set`s would leave it; batches of different TTLs run side by side and must not
   * race over one key.
   *
   * @throws CacheWriteError when some entries were not stored (the message lists them; `key` is the
   *   first), after deleting those keys: Keyv 5 types a store's `setMany` as resolving nothing, so
   *   an error is the only way to say so — Keyv emits it and answers `false` for every entry.
   */
  async setMany(entries: KeyvSetManyEntry[]): Promise<void> {
    const last = new Map<
      string,
      { readonly value: string; readonly seconds: number | undefined }
    >();
    for (const { key, value, ttl } of entries) {
      this.#client.fullKey(key);
      assertKeyvString(value, key);
      this.#noteKey(key);
      last.set(key, { value, seconds: keyvTtlSeconds(ttl, key) });
    }
    const groups = new Map<number | undefined, Array<readonly [string, string]>>();
    for (const [key, { value, seconds }] of last) {
      const group = groups.get(seconds) ?? [];
      group.push([key, value]);
      groups.set(seconds, group);
    }
    const notStored = new Set<string>();
    await Promise.all(
      [...groups].map(async ([seconds, pairs]) => {
        const refused = await this.#client.setMany(
          pairs,
          seconds === undefined ? undefined : { ttl: seconds },
        );
        for (const key of refused) notStored.add(key);
      }),
    );
    if (notStored.size === 0) return;
    const refused = [...notStored];
    // As in set(): an entry not stored must not leave the value from before readable.
    await this.#client.deleteMany(refused);
    throw new CacheWriteError(
      `setMany: ${refused.length} of ${last.size} entries not stored: ${refused.slice(0, 10).join(', ')}${refused.length > 10 ? ', …' : ''}`,
      refused[0] as string,
    );
  }

  /** Deletes a key. Resolves whether it existed. */
  async delete(key: string): Promise<boolean> {
    return this.#client.delete(key);
  }

  /**
   * Deletes keys, each with its own `delete` so the answer can say whether they existed (a batch
   * delete cannot): resolves `true` when every key existed. Bad keys are refused before any I/O;
   * when a delete fails, the others still run and the first failure is thrown.
   */
  async deleteMany(keys: string[]): Promise<boolean> {
    for (const key of keys) this.#client.fullKey(key);
    // A key listed twice is deleted once: the second delete would find nothing and answer false.
    const unique = [...new Set(keys)];
    const settled = await Promise.allSettled(unique.map((key) => this.#client.delete(key)));
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return settled.every((result) => result.status === 'fulfilled' && result.value);
  }

  /**
   * Whether the key holds an entry Keyv wrote that has not passed its own `expires` (backends that
   * count whole seconds keep an entry up to a second longer than Keyv's TTL).
   */
  async has(key: string): Promise<boolean> {
    const value = await this.#read(this.#client.get(key));
    return typeof value === 'string' && !keyvEntryExpired(value, this.#now());
  }

  /** {@link StowageKeyvStore.has} for many keys in one batch. */
  async hasMany(keys: string[]): Promise<boolean[]> {
    const found = await this.#read(this.#client.getMany(keys));
    const now = this.#now();
    return keys.map((key) => {
      const value = found.get(key);
      return typeof value === 'string' && !keyvEntryExpired(value, now);
    });
  }

  /**
   * Deletes the remembered keys of this Keyv namespace in this client's scope — core's
   * `bustRecent({ prefix: '<namespace>:' })`: the keys the client stored or read recently (its
   * `recentKeys` window; with the client option `localPath`, every process's on this host), with
   * one `deleteMany`. Never a server flush, never another scope's keys (not even a tenant's
   * sessions). On a store shared by Keyvs of several namespaces, the keys of all of them. Keys
   * nobody remembers — another host's writes, keys pushed out of the window — stay until their
   * TTL: memcached cannot list keys, and Stowage does not scan Redis.
   *
   * Without a namespace (`namespace: undefined` on the Keyv), or once Keyv wrote a key without it
   * (`useKeyPrefix: false`), every key this process remembers in the client's own scope.
   */
  async clear(): Promise<void> {
    // A store that Keyvs of several namespaces share cannot tell which of them calls clear(): Keyv
    // sets its namespace on the store when it is built, so the last one built wins. Clearing only
    // that one could leave the caller's entries readable; clearing all of them only costs misses.
    const namespaces = this.#namespaces.size > 1 ? [...this.#namespaces] : [this.#namespace];
    if (this.#unprefixed || namespaces.some((namespace) => !namespace)) return this.#clearScope();
    for (const namespace of namespaces) await this.#client.bustRecent({ prefix: `${namespace}:` });
  }

  /**
   * Notes a key Keyv writes that does not carry the store's namespace (Keyv's `useKeyPrefix:
   * false`): `clear()` can then no longer pick the namespace's keys by prefix, and clears the
   * whole scope instead of leaving them readable.
   */
  #noteKey(key: string): void {
    if (this.#unprefixed || !this.#namespace) return;
    // On a shared store, a key may carry any of the namespaces Keyvs have set.
    for (const namespace of this.#namespaces) {
      if (namespace && key.startsWith(`${namespace}:`)) return;
    }
    this.#unprefixed = true;
  }

  /** Deletes every key this process remembers in the client's own scope (nested scopes not). */
  async #clearScope(): Promise<void> {
    const keys = this.#client
      .recentKeys()
      // A root client lists its scopes' keys too; only entries this client would address itself.
      .filter((entry) => this.#client.fullKey(entry.key) === entry.fullKey)
      .map((entry) => entry.key);
    if (keys.length > 0) await this.#client.deleteMany(keys);
  }

  /** Closes the client when the store owns it (`ownsClient`); otherwise does nothing. */
  async disconnect(): Promise<void> {
    if (this.#ownsClient) await this.#client.close();
  }

  /** Keyv 5 swallows a store's read errors: emit them (when someone listens), then reject. */
  async #read<R>(pending: Promise<R>): Promise<R> {
    try {
      return await pending;
    } catch (error) {
      if (this.listenerCount('error') > 0) this.emit('error', error);
      throw error;
    }
  }
}
