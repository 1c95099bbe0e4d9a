import type { CacheOperation } from '../events.js';
import type { CacheError } from '../errors.js';
import type {
  Awaitable,
  BackendCapabilities,
  BackendLimits,
  CacheBackend,
  StoredEntry,
} from './contract.js';
import { toCacheError, withDeadline, type CallInfo } from './deadline.js';
import type { CacheTraceContext } from '../tracing.js';

/** True when a backend answered with a promise rather than a value. */
export function isPromise<V>(value: Awaitable<V>): value is Promise<V> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * A rejected promise with `error` as it was thrown. The client's public methods are not `async`
 * (an in-process answer then resolves without extra ticks), so they turn throws into this.
 */
export function rejection<R>(error: unknown): Promise<R> {
  // What was thrown is passed on unchanged, as an async function would reject with it.
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
  return Promise.reject(error);
}

/** Adds the bytes of what a read found (one entry or a batch) to `trace.bytesIn`, once it is known. */
function measureIn(
  trace: CacheTraceContext,
  answer: Awaitable<StoredEntry | ReadonlyArray<StoredEntry | undefined> | undefined>,
): void {
  const add = (found: StoredEntry | ReadonlyArray<StoredEntry | undefined> | undefined): void => {
    let bytes = 0;
    if (Array.isArray(found)) {
      for (const entry of found as ReadonlyArray<StoredEntry | undefined>)
        bytes += entry?.value.byteLength ?? 0;
    } else if (found !== undefined) {
      bytes = (found as StoredEntry).value.byteLength;
    }
    trace.bytesIn = (trace.bytesIn ?? 0) + bytes;
  };
  if (isPromise(answer)) answer.then(add, () => {});
  else add(answer);
}

/** Adds the bytes of a written entry to `trace.bytesOut`. */
function measureOut(trace: CacheTraceContext, entry: StoredEntry): void {
  trace.bytesOut = (trace.bytesOut ?? 0) + entry.value.byteLength;
}

/** One write as the port sends it: the full key, the entry, and its TTL in seconds. */
export interface PortWrite {
  /** The full key (prefixed, scoped, validated). */
  readonly fullKey: string;
  /** The bytes and flags to store. */
  readonly entry: StoredEntry;
  /** Time to live in seconds; `0` = no expiry. */
  readonly ttlSeconds: number;
}

/**
 * The only caller of a backend's methods. Every call passes here, so one place decides:
 *
 * - **deadline**: an answer that is a promise gets the client's `timeoutMs`, unless the backend
 *   declares a deadline of its own no longer than that (`capabilities.timeoutMs`); a synchronous
 *   answer (an in-process backend) needs none and stays synchronous — no promise is created;
 * - **errors**: whatever a backend throws becomes a `CacheError`. A throw before any promise was
 *   returned left nothing in flight, so it is never indeterminate; a rejection of a write (deletes
 *   included) is, unless the backend said otherwise with its own `CacheBackendError`
 *   (`transportError` in `@stowage/core/backend` applies the same rule with what it knows: sent
 *   or not).
 *
 * Methods answer what the backend answered, synchronously when it did. `run` throws or rejects
 * with `CacheError` only; the hot-path methods (`get`, `getMany`, `set`, `setAndRead`) hand a
 * backend's rejection on as it is when no deadline of the port's own is needed, so no promise is
 * added per call — their callers map it in `Ledger.failed`.
 */
export class BackendPort {
  /** The backend behind the port. */
  readonly backend: CacheBackend;
  /** The client's deadline, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * The traced call in progress, set by the client only while a traced call runs its synchronous
   * part (the part that sends): the hot paths add the bytes they move to it. `undefined` when
   * nobody traces, which costs one field read per call.
   */
  trace: CacheTraceContext | undefined;
  readonly #timed: boolean;

  constructor(backend: CacheBackend, timeoutMs: number) {
    this.backend = backend;
    this.timeoutMs = timeoutMs;
    this.trace = undefined;
    const own: unknown = backend.capabilities.timeoutMs;
    // A backend that keeps a deadline no longer than ours needs no second timer per call.
    this.#timed = !(typeof own === 'number' && own > 0 && own <= timeoutMs);
  }

  /** The backend's name. */
  get name(): string {
    return this.backend.name;
  }

  /** The backend's limits. */
  get limits(): BackendLimits {
    return this.backend.limits;
  }

  /** The backend's capabilities. */
  get capabilities(): BackendCapabilities {
    return this.backend.capabilities;
  }

  /** What a call that changes nothing on the server is about, for errors (never indeterminate). */
  reading(operation: string, key: string | undefined): CallInfo {
    return { backend: this.backend.name, operation, key, write: false };
  }

  /**
   * What a call that changes the server is about — a write, delete, touch or counter — for
   * errors: its failure is indeterminate when it may have been sent.
   */
  writing(operation: string, key: string | undefined): CallInfo {
    return { backend: this.backend.name, operation, key, write: true };
  }

  /**
   * Calls `call` on the backend: a synchronous answer is returned as it is, a promise gets the
   * deadline and error mapping. `info.write` marks calls that change the server.
   */
  run<R>(info: CallInfo, call: (backend: CacheBackend) => Awaitable<R>): Awaitable<R> {
    let answer: Awaitable<R>;
    try {
      answer = call(this.backend);
    } catch (error) {
      throw this.#thrown(error, info);
    }
    return isPromise(answer) ? this.pending(answer, info) : answer;
  }

  /** A pending answer with the deadline (when the backend keeps none) and error mapping on it. */
  pending<R>(answer: Promise<R>, info: CallInfo): Promise<R> {
    if (this.#timed) return withDeadline(answer, this.timeoutMs, info);
    return answer.catch((error: unknown) => Promise.reject(toCacheError(error, info)));
  }

  // The hot paths (get, getMany, set, setAndRead) call the backend without a closure, so a hit on
  // an in-process backend allocates nothing here beyond what the backend returns. That is why the
  // same try / isPromise / deadline steps are written out in each of them instead of going
  // through `run`, whose closure they would pay on every call.

  /** `backend.get`; synchronous when the backend is. */
  get(operation: CacheOperation, fullKey: string): Awaitable<StoredEntry | undefined> {
    let answer: Awaitable<StoredEntry | undefined>;
    try {
      answer = this.backend.get(fullKey);
    } catch (error) {
      throw this.#thrown(error, this.reading(operation, fullKey));
    }
    if (this.trace !== undefined) measureIn(this.trace, answer);
    if (!isPromise(answer)) return answer;
    // No extra promise on the hot path: the read path maps a rejection in `Ledger.failed`.
    return this.#timed
      ? withDeadline(answer, this.timeoutMs, this.reading(operation, fullKey))
      : answer;
  }

  /** `backend.getMany`; synchronous when the backend is. */
  getMany(
    operation: CacheOperation,
    fullKeys: readonly string[],
  ): Awaitable<ReadonlyArray<StoredEntry | undefined>> {
    let answer: Awaitable<ReadonlyArray<StoredEntry | undefined>>;
    try {
      answer = this.backend.getMany(fullKeys);
    } catch (error) {
      throw this.#thrown(error, this.reading(operation, undefined));
    }
    if (this.trace !== undefined) measureIn(this.trace, answer);
    if (!isPromise(answer)) return answer;
    return this.#timed
      ? withDeadline(answer, this.timeoutMs, this.reading(operation, undefined))
      : answer;
  }

  /** True when the backend reads a write back in the same round trip (`setAndRead`). */
  get readsBack(): boolean {
    return this.backend.setAndRead !== undefined;
  }

  /** `backend.set`; synchronous when the backend is. */
  set(operation: CacheOperation, write: PortWrite): Awaitable<boolean> {
    if (this.trace !== undefined) measureOut(this.trace, write.entry);
    let answer: Awaitable<boolean>;
    try {
      answer = this.backend.set(write.fullKey, write.entry, write.ttlSeconds);
    } catch (error) {
      throw this.#thrown(error, this.writing(operation, write.fullKey));
    }
    if (!isPromise(answer)) return answer;
    // No extra promise on the hot path: the write path maps a rejection in `Ledger.failed`.
    return this.#timed
      ? withDeadline(answer, this.timeoutMs, this.writing(operation, write.fullKey))
      : answer;
  }

  /** `backend.setAndRead`; call only when {@link BackendPort.readsBack}. */
  setAndRead(operation: CacheOperation, write: PortWrite): Awaitable<StoredEntry | undefined> {
    if (this.trace !== undefined) measureOut(this.trace, write.entry);
    let answer: Awaitable<StoredEntry | undefined>;
    try {
      answer = (this.backend.setAndRead as NonNullable<CacheBackend['setAndRead']>)(
        write.fullKey,
        write.entry,
        write.ttlSeconds,
      );
    } catch (error) {
      throw this.#thrown(error, this.writing(operation, write.fullKey));
    }
    if (!isPromise(answer)) return answer;
    // No extra promise on the hot path: the write path maps a rejection in `Ledger.failed`.
    return this.#timed
      ? withDeadline(answer, this.timeoutMs, this.writing(operation, write.fullKey))
      : answer;
  }

  /**
   * `backend.setIf` (compare-and-set) as a write of `operation`, through {@link BackendPort.run};
   * call only when the backend has it (leases are off otherwise).
   */
  setIf(
    operation: CacheOperation,
    fullKey: string,
    change: {
      readonly expected: StoredEntry;
      readonly entry: StoredEntry;
      readonly ttlSeconds: number;
    },
  ): Awaitable<StoredEntry | false | undefined> {
    return this.run(this.writing(operation, fullKey), (backend) =>
      (backend.setIf as NonNullable<CacheBackend['setIf']>)(
        fullKey,
        change.expected,
        change.entry,
        change.ttlSeconds,
      ),
    );
  }

  /**
   * `backend.deleteIf` (compare-and-delete) as a write of `operation`, through
   * {@link BackendPort.run}; call only when the backend has it.
   */
  deleteIf(operation: CacheOperation, fullKey: string, expected: StoredEntry): Awaitable<boolean> {
    return this.run(this.writing(operation, fullKey), (backend) =>
      (backend.deleteIf as NonNullable<CacheBackend['deleteIf']>)(fullKey, expected),
    );
  }

  /** A throw before any promise existed: nothing is in flight that could still land. */
  #thrown(error: unknown, info: CallInfo): CacheError {
    return toCacheError(error, info.write ? { ...info, write: false } : info);
  }

  /** Closes the backend; idempotent as the backend is. */
  async close(): Promise<void> {
    const info = this.reading('close', undefined);
    try {
      const pending = this.backend.close();
      if (isPromise(pending)) await pending;
    } catch (error) {
      throw toCacheError(error, info);
    }
  }
}
