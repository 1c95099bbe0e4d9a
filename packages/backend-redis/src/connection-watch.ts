import type { RedisClientLike } from './client-like.js';
import { ignoreRejection } from './replies.js';

/** Why the backend could not send a command: the connection is down or not ready in time. */
export class NotConnectedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NotConnectedError';
  }
}

/**
 * Follows a client's connection state so a command is only ever sent on a ready connection.
 *
 * - `ready`: send now (the fast path costs one property read);
 * - not yet connected, or reconnecting after a connection that was working dropped: wait for
 *   `ready` (the caller bounds the wait by its deadline);
 * - a connection attempt failed since the last `ready` (refused, timed out, handshake failed):
 *   fail at once with the reason, until a background reconnect succeeds — a breaker that is
 *   open while the server is unreachable, with ioredis's reconnect attempts as the probe.
 *
 * Because nothing is queued while the connection is down, a call that gave up is never sent
 * later by the client's offline queue.
 */
export class ConnectionWatch {
  readonly #client: RedisClientLike;
  /** The current connection reached `ready` (reset on every `close`). */
  #wasReady = false;
  /** A connection attempt failed since the last `ready`. */
  #failing = false;
  /** The last connection error seen (owned clients only): the reason in the fail-fast message. */
  #lastError: Error | undefined;
  #waiter: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;

  readonly #onReady = (): void => {
    this.#wasReady = true;
    this.#failing = false;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  };

  readonly #onClose = (): void => {
    if (!this.#wasReady) this.#failing = true;
    this.#wasReady = false;
    this.#rejectWaiter();
  };

  readonly #onEnd = (): void => {
    this.#rejectWaiter();
  };

  readonly #onError = (error: Error): void => {
    this.#lastError = error;
  };

  /**
   * @param listenErrors attach an `error` listener (only on clients the backend owns: on a
   *   caller's client it would silence ioredis's own "Unhandled error event" output).
   */
  constructor(client: RedisClientLike, listenErrors: boolean) {
    this.#client = client;
    client.on('ready', this.#onReady);
    client.on('close', this.#onClose);
    client.on('end', this.#onEnd);
    if (listenErrors) client.on('error', this.#onError);
    // A caller's client may already be connected.
    if (client.status === 'ready') this.#wasReady = true;
  }

  /**
   * `undefined` when a command can be sent now; otherwise a promise that resolves once the
   * connection is ready or rejects with {@link NotConnectedError}. It never resolves late on its
   * own: the caller races it against its deadline.
   */
  ready(): Promise<void> | undefined {
    const status = this.#client.status;
    if (status === 'ready') return undefined;
    if (status === 'end') {
      return Promise.reject(new NotConnectedError('the redis connection has been closed'));
    }
    if (status === 'wait') {
      // Its failure reaches the waiters through `close`; the rejection itself is not needed.
      this.#client.connect().catch(ignoreRejection);
    } else if (this.#failing) {
      return Promise.reject(this.#unreachable());
    }
    if (this.#waiter === undefined) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A waiter nobody awaits any more (its call timed out) must not be an unhandled rejection.
      promise.catch(ignoreRejection);
      this.#waiter = { promise, resolve, reject };
    }
    return this.#waiter.promise;
  }

  #unreachable(): NotConnectedError {
    const reason = this.#lastError;
    return new NotConnectedError(
      `redis is unreachable (${this.#client.status}${reason === undefined ? '' : `: ${reason.message}`}); calls fail fast until a background reconnect succeeds`,
      { cause: reason },
    );
  }

  #rejectWaiter(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    waiter.reject(this.#unreachable());
  }

  /**
   * Removes the listeners this watch added, except the `error` listener on a client the backend
   * owns: that client is being closed, and a socket error while it quits (a stalled `QUIT` hits
   * the socket timeout) must not reach ioredis's "Unhandled error event" output.
   */
  detach(): void {
    const client = this.#client;
    client.removeListener('ready', this.#onReady);
    client.removeListener('close', this.#onClose);
    client.removeListener('end', this.#onEnd);
    this.#rejectWaiter();
  }
}
