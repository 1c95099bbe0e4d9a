// Shared test helpers: a manual clock, memory-backed clients, and a fault-injecting backend.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheClient, type CacheBackend, type CacheClientOptions } from '@stowage/core';
import { createMemoryBackend, type MemoryBackend } from '@stowage/backend-memory';
import type { CacheErrorInfo } from '../src/index.js';
import type { CacheError } from '@stowage/core';

/** A clock the memory backend and the client read; tests move it instead of sleeping. */
export interface ManualClock {
  time: number;
  now(): number;
  advance(ms: number): void;
}

export function manualClock(start = 1_000_000): ManualClock {
  const clock: ManualClock = {
    time: start,
    now: () => clock.time,
    advance: (ms) => {
      clock.time += ms;
    },
  };
  return clock;
}

/** A random client prefix, so tests sharing a server never see each other's keys. */
export function randomPrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** A client on a fresh memory backend driven by `clock`. */
export function memoryClient(
  clock: ManualClock = manualClock(),
  options: Partial<CacheClientOptions> = {},
): { client: CacheClient; backend: MemoryBackend; clock: ManualClock } {
  const backend = createMemoryBackend({ clock });
  const client = new CacheClient({
    backend,
    now: () => clock.now(),
    service: 'billing',
    ...options,
  });
  return { client, backend, clock };
}

/** The full keys of the entries a client (and its scoped clients) wrote or read, generation keys left out. */
export function entryKeys(client: CacheClient): string[] {
  return client
    .recentKeys()
    .map((entry) => entry.fullKey)
    .filter((key) => !key.endsWith(':version'));
}

/** Collects what `onError` receives. */
export function errorLog(): {
  errors: Array<{ error: CacheError; info: CacheErrorInfo }>;
  onError: (error: CacheError, info: CacheErrorInfo) => void;
  codes: () => string[];
} {
  const errors: Array<{ error: CacheError; info: CacheErrorInfo }> = [];
  return {
    errors,
    onError: (error, info) => {
      errors.push({ error, info });
    },
    codes: () => errors.map(({ error }) => error.code),
  };
}

/** A function that counts its runs and answers after `delayMs`, like a slow upstream. */
export function counted<A extends unknown[], R>(
  produce: (...args: A) => R,
  delayMs = 0,
): { fn: (...args: A) => Promise<R>; runs: () => number } {
  let runs = 0;
  const fn = async (...args: A): Promise<R> => {
    runs++;
    if (delayMs > 0) await sleep(delayMs);
    return produce(...args);
  };
  return { fn, runs: () => runs };
}

/**
 * What a {@link FaultyBackend} does with each call: `hold` runs it only at
 * {@link FaultyBackend.release} (a write on its way).
 */
export type Fault = 'none' | 'fail' | 'hang' | 'hold';

/**
 * Wraps a backend and injects faults: `fail` throws like a refused connection, `hang` never
 * answers. Its answers are promises, so the client puts its deadline on
 * every call, as it does for memcached and Redis.
 */
export class FaultyBackend implements CacheBackend {
  readonly name: string = 'faulty';
  readonly capabilities: CacheBackend['capabilities'];
  readonly limits: CacheBackend['limits'];
  fault: Fault = 'none';
  /** Operations the fault applies to; all when empty. */
  readonly only: Set<string> = new Set();
  calls = 0;
  readonly #inner: CacheBackend;

  constructor(inner: CacheBackend) {
    this.#inner = inner;
    this.capabilities = inner.capabilities;
    this.limits = inner.limits;
  }

  #run<R>(operation: string, run: () => R | Promise<R>): Promise<R> {
    this.calls++;
    const faulty = this.only.size === 0 || this.only.has(operation);
    if (faulty && this.fault === 'fail') {
      return Promise.reject(
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:11211'), { code: 'ECONNREFUSED' }),
      );
    }
    if (faulty && this.fault === 'hang') return new Promise<R>(() => {});
    if (faulty && this.fault === 'hold') {
      return new Promise<R>((resolve, reject) => {
        this.held.push(() => {
          Promise.resolve().then(run).then(resolve, reject);
        });
      });
    }
    return Promise.resolve(run());
  }

  /** Calls held by the `hold` fault, in order. */
  readonly held: Array<() => void> = [];

  /** Runs the held calls now, in order. */
  release(): void {
    for (const run of this.held.splice(0)) run();
  }

  get: CacheBackend['get'] = (key) => this.#run('get', () => this.#inner.get(key));
  getMany: CacheBackend['getMany'] = (keys) =>
    this.#run('getMany', () => this.#inner.getMany(keys));
  set: CacheBackend['set'] = (key, entry, ttl) =>
    this.#run('set', () => this.#inner.set(key, entry, ttl));
  setMany: CacheBackend['setMany'] = (writes, ttl) =>
    this.#run('setMany', () => this.#inner.setMany(writes, ttl));
  add: CacheBackend['add'] = (key, entry, ttl) =>
    this.#run('add', () => this.#inner.add(key, entry, ttl));
  touch: CacheBackend['touch'] = (key, ttl) =>
    this.#run('touch', () => this.#inner.touch(key, ttl));
  incr: CacheBackend['incr'] = (key, delta) =>
    this.#run('incr', () => this.#inner.incr(key, delta));
  decr: CacheBackend['decr'] = (key, delta) =>
    this.#run('decr', () => this.#inner.decr(key, delta));
  delete: CacheBackend['delete'] = (key) => this.#run('delete', () => this.#inner.delete(key));
  deleteMany: CacheBackend['deleteMany'] = (keys) =>
    this.#run('deleteMany', () => this.#inner.deleteMany(keys));
  clear: CacheBackend['clear'] = () => this.#run('clear', () => this.#inner.clear());
  flush: CacheBackend['flush'] = (delay) => this.#run('flush', () => this.#inner.flush(delay));
  close: CacheBackend['close'] = () => this.#inner.close();
}
