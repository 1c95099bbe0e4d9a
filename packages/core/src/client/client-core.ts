import { setMaxListeners } from 'node:events';
import { BackendPort } from '../backend/port.js';
import { toCacheError } from '../backend/deadline.js';
import type { Codec } from '../codec/codec.js';
import { isCacheError } from '../errors.js';
import { CacheEvents, type CacheOperation, type CacheStats } from '../events.js';
import type { PartialBatches, ResolvedClientOptions } from './client-options.js';
import type { ResolvedLease } from './lease-options.js';
import { SingleFlight } from './single-flight.js';
import { Ledger, type Books } from './ledger.js';
import { WriteQuarantine } from './quarantine.js';
import { RecentKeysStack } from './recent-keys.js';
import { RecentKeysSync } from './recent-keys-sync.js';
import { LastGood } from './last-good.js';
import { TieredBackend } from '../tier/tiered-backend.js';
import { CacheBackendError } from '../errors.js';

/**
 * The controller `close()` aborts. Every running factory listens to its signal, so it may hold
 * many listeners at once: no limit, or Node warns of a leak at the eleventh concurrent miss.
 */
function shutdownController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** The settings every path reads. */
export interface ClientSettings {
  /** TTL of writes that give none, in seconds. */
  readonly defaultTtlSeconds: number;
  /** The service name `scoped(StorageLevel.Service)` uses by default. */
  readonly service: string | undefined;
  /** Whether `close()` closes the backend. */
  readonly ownsBackend: boolean;
  /** What a partly failed batch does. */
  readonly partialBatches: PartialBatches;
  /** Largest stored payload, in bytes (the backend's limit). */
  readonly maxValueBytes: number;
  /** The client's leases for `getOrSet`; `false` when off or the backend has no `setIf`. */
  readonly lease: ResolvedLease | false;
  /** The client's TTL jitter, a fraction (0 = none). */
  readonly jitter: number;
  /** Whether traces carry full keys. */
  readonly traceKeys: boolean;
}

/**
 * The engine a client and every client scoped from it share: the port to the backend, the codec,
 * the books (stats, events, recent keys, quarantine), the `getOrSet` flights and the lifecycle.
 * It holds no per-scope state; each client adds its key space and its own ledger.
 */
export class ClientCore {
  /** The only caller of the backend. */
  readonly port: BackendPort;
  /** Encodes values into entries and back. */
  readonly codec: Codec;
  /** Stats, events, recent keys and quarantine. */
  readonly books: Books;
  /**
   * `getOrSet` flights of this process by full key (single-flight). A write or delete of a key by
   * this process supersedes its flight before it is sent: later callers must not join a run that
   * read the key before that write, and the run must not store over it.
   */
  readonly flights: SingleFlight = new SingleFlight();
  /** See {@link ClientSettings}. */
  readonly settings: ClientSettings;
  /**
   * Aborted by `close()`: every factory's `signal` follows it, so running factories and
   * background refreshes stop when the client closes.
   */
  readonly shutdown: AbortController = shutdownController();
  /** Background refreshes in flight (`staleWhileRevalidate`, `softTimeout`); `close()` waits for them. */
  readonly background: Set<Promise<unknown>> = new Set();
  /** Set by `close()`. */
  closed = false;
  /** The pending close, once `close()` was called. */
  closing: Promise<void> | undefined;
  /** Removes this client's listener for the backend's own warnings. */
  readonly detachWarnings: (() => void) | undefined;
  /** Books what concerns full keys only (quarantine and backend warnings): no key head. */
  readonly keyless: Ledger;
  /** The shared recent-keys file (`localPath`), or `undefined` when the keys stay in memory. */
  readonly recentFile: RecentKeysSync | undefined;
  /** The L1 tier in front of the backend (`l1`), or `undefined`. */
  readonly tier: TieredBackend | undefined;

  constructor(options: ResolvedClientOptions) {
    const backend = options.backend;
    this.tier =
      options.l1 === undefined
        ? undefined
        : new TieredBackend(backend, {
            l1: options.l1,
            bus: options.bus,
            now: options.now,
            warn: (error) => this.#busWarning(error),
            // A value another process deleted or replaced is not served stale from here either.
            changedElsewhere: (keys) => {
              const lastGood = this.books.lastGood;
              if (keys === undefined) lastGood.clear();
              else for (const key of keys) lastGood.forget(key);
            },
          });
    this.port = new BackendPort(this.tier ?? backend, options.timeoutMs);
    this.codec = options.codec;
    if (this.tier !== undefined) this.codec.memoizeDecoded();
    this.settings = {
      defaultTtlSeconds: options.defaultTtlSeconds,
      service: options.service,
      ownsBackend: options.ownsBackend,
      partialBatches: options.partialBatches,
      maxValueBytes: backend.limits.maxValueBytes,
      lease: backend.setIf === undefined ? false : options.lease,
      jitter: options.jitter,
      traceKeys: options.traceKeys,
    };
    const stats: CacheStats = {
      hits: 0,
      misses: 0,
      sets: 0,
      setFailures: 0,
      deletes: 0,
      errors: 0,
      decodeErrors: 0,
      integrityFailures: 0,
      listenerErrors: 0,
      joins: 0,
      leasesTaken: 0,
      leaseWaits: 0,
      leaseTimeouts: 0,
      leasesLost: 0,
      staleHits: 0,
      staleServed: 0,
    };
    const events = new CacheEvents(() => {
      stats.listenerErrors++;
    });
    const recent = new RecentKeysStack(options.recentKeys, options.now, {
      encrypted: this.codec.encrypted,
    });
    const quarantine =
      options.quarantineMs === 0
        ? undefined
        : new WriteQuarantine(options.quarantineMs, {
            // Compare-and-delete where the backend has it, so a newer write by anyone survives;
            // otherwise delete outright: a miss is always safe.
            delete: async (fullKey, expected) =>
              expected !== undefined && backend.deleteIf !== undefined
                ? this.port.deleteIf('quarantine', fullKey, expected)
                : this.port.run(this.port.writing('quarantine', fullKey), (store) =>
                    store.delete(fullKey),
                  ),
            onGiveUp: (fullKey, error) => {
              const cacheError = toCacheError(error, this.port.writing('quarantine', fullKey));
              this.keyless.warn('quarantine', cacheError, { operation: 'quarantine', fullKey });
            },
          });
    this.books = {
      stats,
      events,
      recent,
      quarantine,
      lastGood: new LastGood(options.now, options.codec),
      now: options.now,
      backend: backend.name,
      logger: options.logger,
    };
    this.keyless = new Ledger(this.books, '');
    const local = options.localPath;
    this.recentFile =
      local === undefined
        ? undefined
        : new RecentKeysSync(recent, {
            ...local,
            maxSize: options.recentKeys,
            now: options.now,
            slackMs: options.timeoutMs,
            warn: (error) => this.keyless.warn('recentKeys', error, { operation: 'recentKeys' }),
          });
    this.detachWarnings = backend.onWarning?.((warning) => {
      const info = this.port.reading(warning.operation, warning.key);
      const error = isCacheError(warning.error) ? warning.error : toCacheError(warning.error, info);
      this.keyless.warn('backend', error, {
        operation: warning.operation as CacheOperation,
        fullKey: warning.key,
      });
    });
  }

  /** Reports what the L1's bus absorbed as a `bus` warning. */
  #busWarning(error: Error): void {
    const cacheError = isCacheError(error)
      ? error
      : new CacheBackendError(`bus: ${error.message}`, {
          backend: 'bus',
          operation: 'bus',
          cause: error,
        });
    this.keyless.warn('bus', cacheError, { operation: 'bus' });
  }
}
