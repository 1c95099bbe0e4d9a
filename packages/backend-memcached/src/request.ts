import { CacheBackendError, CacheTimeoutError, type CacheError } from '@stowage/core';
import { closedError, transportError } from '@stowage/core/backend';
import type { ResponseFrame } from './protocol.js';

/** Why a request failed at the transport level. */
export const FailureKind = {
  /** The deadline passed. */
  Timeout: 'timeout',
  /** Connection refused, reset, closed by the server, authentication failed. */
  Connection: 'connection',
  /** The server sent something that is not a valid answer (wrong magic, wrong order, wrong key). */
  Protocol: 'protocol',
  /** The backend was closed. */
  Closed: 'closed',
  /** The server's circuit breaker is open; nothing was sent. */
  Down: 'down',
} as const;

/** One of the {@link FailureKind} values. */
export type FailureKind = (typeof FailureKind)[keyof typeof FailureKind];

/** A transport failure, before it becomes a Stowage error. */
export interface Failure {
  readonly kind: FailureKind;
  readonly message: string;
  readonly cause?: unknown;
}

/** What a request is about, for its errors. */
export interface RequestInfo {
  readonly operation: string;
  /** The full key for single-key operations. */
  readonly key: string | undefined;
  /**
   * True for every request that changes the server (deletes, touches and counters included):
   * only these can be `indeterminate`. False for reads, also the read half of `deleteIf`.
   */
  readonly write: boolean;
  /** `host:port` of the server. */
  readonly server: string;
  /** The per-call deadline, for `CacheTimeoutError.timeoutMs`. */
  readonly timeoutMs: number;
}

/** What {@link failureError} needs of a request: what it was, and whether it left. */
export interface FailedRequest {
  readonly info: RequestInfo;
  /** True once any byte of it may have reached the server. */
  readonly written: boolean;
}

/**
 * Builds the Stowage error for a failure, with the kit's one rule for `indeterminate`: a write
 * (deletes included) that may have reached the server; never a read, never anything unsent.
 */
export function failureError(failure: Failure, request: FailedRequest): CacheError {
  const { info, written } = request;
  const where = `memcached ${info.operation} on ${info.server}`;
  if (failure.kind === FailureKind.Closed) return closedError('memcached');
  if (failure.kind === FailureKind.Timeout) {
    // The kit's `transportError` builds a CacheBackendError; a timeout keeps its own class (and
    // `timeoutMs`) but the same rule.
    const indeterminate = info.write && written;
    return new CacheTimeoutError(`${where} ${failure.message}`, {
      backend: 'memcached',
      operation: info.operation,
      key: info.key,
      indeterminate,
      timeoutMs: info.timeoutMs,
      cause: failure.cause,
    });
  }
  return transportError({
    backend: 'memcached',
    operation: info.operation,
    key: info.key,
    write: info.write,
    sent: written,
    message: `${where} failed: ${failure.message}`,
    cause: failure.cause,
  });
}

/**
 * One request sent to one server: one or more frames with consecutive opaque values, the last of
 * which always gets an answer (a non-quiet command or a `noop`). The connection hands it the
 * answers in order and settles it exactly once.
 */
export abstract class Request<T> {
  readonly info: RequestInfo;
  readonly promise: Promise<T>;
  /** Opaque value of the first frame. */
  base = 0;
  /** Index of the final frame (the number of frames minus one). */
  last = 0;
  /** Index of the last answered frame; answers must arrive in increasing order. */
  seen = -1;
  /** When the request fails with a timeout, in `performance.now()` milliseconds. */
  deadline = 0;
  /** True once any byte of it was handed to the socket. */
  written = false;
  /** The connection's socket generation it was written on (see `Connection.readyGeneration`). */
  generation = 0;
  /** The bytes to send. */
  chunks: Buffer[] = [];
  /**
   * False when every frame gets an answer (`getk`, `set`, `incr`, …): an answer may then not skip
   * a frame, so a whole answer dropped from the stream fails the request instead of reading as a
   * miss. True for quiet batches (`getkq`, `setq`, `deleteq`), which answer only some frames.
   */
  readonly quiet: boolean = false;
  /** The first error status the server answered, if any (see {@link Request.fail}). */
  #statusError: CacheBackendError | undefined;
  #resolve!: (value: T) => void;
  #reject!: (error: unknown) => void;
  #settled = false;

  constructor(info: RequestInfo) {
    this.info = info;
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /**
   * Handles the answer to frame `index` (0 … `last`). Must not throw. Returns a message when the
   * answer cannot belong to this request (a wrong key): the connection is then reset and nothing
   * of it is delivered.
   */
  abstract onFrame(frame: ResponseFrame, index: number): string | undefined;

  /** The result once the final frame was answered; may throw a Stowage error. */
  protected abstract result(): T;

  /** Called by the connection after the final frame's answer. */
  complete(): void {
    if (this.#settled) return;
    this.#settled = true;
    try {
      this.#resolve(this.result());
    } catch (error) {
      this.#reject(error);
    }
  }

  /** Called by the connection (or the backend) when the request cannot complete. */
  fail(failure: Failure): void {
    if (this.#settled) return;
    this.#settled = true;
    // A server that answered an error status (say "authentication error") and then closed the
    // connection before the closing `noop` was answered: its own answer explains the failure.
    this.#reject(this.#statusError ?? failureError(failure, this));
  }

  /** Builds an error for an unexpected status answered by the server (the connection is fine). */
  protected statusError(message: string, key?: string): CacheBackendError {
    const error = new CacheBackendError(
      `memcached ${this.info.operation} on ${this.info.server} failed: ${message}`,
      {
        backend: 'memcached',
        operation: this.info.operation,
        key: key ?? this.info.key,
        indeterminate: false,
      },
    );
    this.#statusError ??= error;
    return error;
  }
}
