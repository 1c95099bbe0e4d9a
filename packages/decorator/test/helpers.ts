// Shared test helpers: a manual clock, memory-backed clients, and a fault-injecting backend.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheClient, type CacheBackend, type CacheClientOptions } from '@stowage/core';
import { createMemoryBackend, type MemoryBackend } from '@stowage/backend-memory';
import type { CacheErrorInfo } from '../src/index.js';
import type { CacheError } from '@stowage/core';
import { FaultBackend, refusedError } from '@stowage/testkit';

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
 * testkit's fault-injecting wrapper with the decorator tests' vocabulary: `fail` rejects like a
 * refused connection, `hang` never answers (the client's deadline ends the call), `hold` answers
 * at `release()`. `only` limits the fault to some operations (all when empty); `close` is never
 * faulted, so a test can always clean up.
 */
export class FaultyBackend extends FaultBackend<CacheBackend> {
  /** Operations the fault applies to; all when empty. */
  readonly only: Set<string> = new Set();
  #fault: Fault = 'none';
  readonly #wrapped: CacheBackend;

  constructor(inner: CacheBackend) {
    super(inner);
    this.#wrapped = inner;
    this.ops = this.only;
  }

  /** The fault in force. */
  get fault(): Fault {
    return this.#fault;
  }

  set fault(fault: Fault) {
    this.#fault = fault;
    this.mode =
      fault === 'fail'
        ? { kind: 'alwaysReject', error: refusedError() }
        : fault === 'none'
          ? { kind: 'pass' }
          : { kind: 'neverAnswer' };
  }

  /** Runs the calls held by `hold` now, in order. */
  release(): void {
    void this.answerLate();
  }

  override close(): ReturnType<CacheBackend['close']> {
    return this.#wrapped.close();
  }
}
