// Where a cached function's entries live in one scope, and what this process knows about them:
// the scoped client, the generation key and the root client's flights and known generations,
// made once per scope and reused by every call there.
import { SingleFlight, StorageLevel, type CacheClient } from '@stowage/core';
import type { ResolvedContext } from './context.js';

// Bound on remembered generations and scoped clients, so a stream of session ids cannot grow them.
const MAX_REMEMBERED = 1024;

/**
 * What this process last learned of one scope's generation token, from a read of the generation
 * key or from its own write of it. Shared by every cached function of a root client, so an
 * `invalidateAll` through one function is seen at once by another function with the same name.
 */
interface KnownGeneration {
  token: string;
  /**
   * `performance.now()` when the read that found the token, or the write that stored it, began:
   * the `generationWindow` counts from here (`-Infinity` when no window asked for the time).
   */
  seenAt: number;
  /** The observation's place in {@link observe}'s order: an older observation never replaces a newer one. */
  order: number;
}

/** When a read or a write of a generation token began, in the two orders that matter. */
export interface Observation {
  readonly seenAt: number;
  readonly order: number;
}

// Counts reads (when they begin) and writes (when they end) of generation keys, so a read that
// began before this process stored a new token cannot put the older token back when it lands
// late: after a local `invalidateAll` resolves, this process never trusts the token it replaced.
let observations = 0;

/** Starts an observation of a generation key at `seenAt` (`performance.now()`, or `-Infinity`). */
export function observe(seenAt: number): Observation {
  return { seenAt, order: ++observations };
}

/**
 * Everything about a function in one scope that does not depend on the call's arguments, made
 * once per scoped client and name and reused by every call there, so a hit allocates no keys of
 * its own but the entry key, and its map lookups hash strings that were hashed before.
 */
export interface Scope {
  /** The root client of the call's context: its flights are shared by every cached function. */
  readonly root: CacheClient;
  /** The client scoped to the call's level and id. */
  readonly client: CacheClient;
  /** The storage level, its id and, for Session, the tenant: what picked `client`. */
  readonly slot: Slot;
  /** `[keyPrefix:]` + the static name: names the generation key and reports. */
  readonly name: string;
  /** The key holding the current generation token of this function in this scope. */
  readonly generationKey: string;
  /** `generationKey` with the scope in front: identifies the generation across scopes. */
  readonly scopeKey: string;
  /** The flights of the root client. */
  readonly flights: Flights;
  /** The generations this process knows for the root client, by `scopeKey`. */
  readonly known: Map<string, KnownGeneration>;
}

/** What picks a scoped client: the level, its id and, for Session, the tenant (else `undefined`). */
export interface Slot {
  readonly level: StorageLevel;
  readonly id: string | undefined;
  readonly stack: string | undefined;
}

/**
 * The flights of every cached function by root client (core's single-flight): calls through one
 * root client share a run per entry; calls through another client (another backend, another
 * prefix) never join it.
 */
const flightsByRoot = new WeakMap<CacheClient, Flights>();

/** A root client's flights, and how many of them this package started and has not landed. */
export interface Flights {
  readonly single: SingleFlight;
  /**
   * Flights started and not landed yet. While it is 0 there is nothing to join, and a hit skips
   * building and hashing its flight key.
   */
  running: number;
}

function flightsOf(root: CacheClient): Flights {
  let flights = flightsByRoot.get(root);
  if (flights === undefined) {
    flights = { single: new SingleFlight(), running: 0 };
    flightsByRoot.set(root, flights);
  }
  return flights;
}

/**
 * The generations this process knows, by root client: a token is only ever trusted for the
 * backend it was read from (two root clients with one prefix may sit on different backends).
 */
const knownByRoot = new WeakMap<CacheClient, Map<string, KnownGeneration>>();

function knownOf(root: CacheClient): Map<string, KnownGeneration> {
  let known = knownByRoot.get(root);
  if (known === undefined) {
    known = new Map();
    knownByRoot.set(root, known);
  }
  return known;
}

const scopedClients = new WeakMap<CacheClient, Map<string, CacheClient>>();

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (!map.has(key) && map.size >= MAX_REMEMBERED) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

/** Records that `token` is the generation of `scope`, unless a newer observation said otherwise. */
export function learn(scope: Scope, token: string, seen: Observation): void {
  const known = scope.known.get(scope.scopeKey);
  if (known === undefined) {
    remember(scope.known, scope.scopeKey, { token, seenAt: seen.seenAt, order: seen.order });
  } else if (known.order < seen.order) {
    known.token = token;
    known.seenAt = seen.seenAt;
    known.order = seen.order;
  }
}

/** Forgets the generation of `scope` (the cache holds none), unless a newer observation knows one. */
export function forget(scope: Scope, seen: Observation): void {
  const known = scope.known.get(scope.scopeKey);
  if (known !== undefined && known.order < seen.order) scope.known.delete(scope.scopeKey);
}

/** The level, its id and (for Session) the tenant that pick a call's scoped client. */
export function slotOf(level: StorageLevel, context: ResolvedContext): Slot {
  if (level === StorageLevel.Stack) return { level, id: context.stack, stack: undefined };
  if (level === StorageLevel.Session) return { level, id: context.session, stack: context.stack };
  return { level, id: context.service, stack: undefined };
}

/** Whether two slots pick the same scoped client of one root. */
export function sameSlot(a: Slot, b: Slot): boolean {
  return a.level === b.level && a.id === b.id && a.stack === b.stack;
}

/**
 * The root's client scoped to `slot`, cached per root (bounded): scoped clients are reused, so
 * what is keyed by them (a function's scopes) is too.
 */
export function scopedClient(root: CacheClient, slot: Slot, context: ResolvedContext): CacheClient {
  // `root.scoped` resolves and checks the scope (core's one resolver): a missing id throws
  // CacheScopeError there, so a slot below is only ever filled with a valid scope.
  const { level, id } = slot;
  let byScope = scopedClients.get(root);
  if (byScope === undefined) {
    byScope = new Map();
    scopedClients.set(root, byScope);
  }
  // A session's client depends on its tenant too (core nests Session under Stack).
  const key =
    level === StorageLevel.Session
      ? `${level}\0${context.stack ?? ''}\0${id ?? ''}`
      : `${level}\0${id ?? ''}`;
  let client = byScope.get(key);
  if (client === undefined) {
    client = root.scoped(level, {
      service: context.service,
      stack: context.stack,
      session: context.session,
    });
    remember(byScope, key, client);
  }
  return client;
}

/** Makes the scope of function `at.name` for the scoped client `client` of `root`. */
export function makeScope(
  root: CacheClient,
  client: CacheClient,
  at: { readonly slot: Slot; readonly name: string },
): Scope {
  const generationKey = `${at.name}:version`;
  return {
    root,
    client,
    slot: at.slot,
    name: at.name,
    generationKey,
    scopeKey: client.keyPrefix + generationKey,
    flights: flightsOf(root),
    known: knownOf(root),
  };
}
