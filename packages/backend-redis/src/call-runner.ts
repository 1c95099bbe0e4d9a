/**
 * How one call goes over the connection: only once the connection is ready, within the deadline,
 * with the commands of an event-loop turn sent in one write, and with every failure mapped to a
 * Stowage error by the backend kit's rules. The backend says what to send and how to read the reply; this says
 * when and how it is sent, and owns the connection's lifecycle (reset, close).
 */
import { CacheError, CacheTimeoutError, type CacheBackendError } from '@stowage/core';
import { closedError, transportError } from '@stowage/core/backend';
import type { CorkableStream, RedisClientLike } from './client-like.js';
import { ConnectionWatch, NotConnectedError } from './connection-watch.js';
import { DeadlineGroup } from './deadline-group.js';
import type { OpenedClient } from './redis-options.js';
import {
  ignoreRejection,
  isReplyError,
  NOT_WRITABLE,
  TIMED_OUT,
  type Recovered,
} from './replies.js';

/** The backend's name in errors. */
const BACKEND = 'redis';

/** Operations that only read: their failures are never indeterminate. */
const READS: ReadonlySet<string> = new Set(['get', 'getMany', 'ping']);

/**
 * Every operation but a read changes the server — deletes, touches and counters too — so its
 * failure is indeterminate once the command may have been sent: the backend kit's one rule.
 */
function isWrite(operation: string): boolean {
  return !READS.has(operation);
}

/** One call through {@link CallRunner.run}: what it is, how it is sent and how its reply is read. */
export interface RedisCall<T, R> {
  /** The backend method (`get`, `setMany`, …): it names the call in errors and decides `write`. */
  readonly operation: string;
  /** The backend's key, when the call concerns one. */
  readonly key: string | undefined;
  /** Sends the command(s); resolves the raw reply. */
  readonly send: () => Promise<T>;
  /** Turns the reply into the result. */
  readonly decode: (reply: T) => R;
  /** May turn an error the call expects into a result (`OOM` into `false`). */
  readonly recover?: ((error: unknown) => Recovered<R> | undefined) | undefined;
}

/** What is known about a failed call, to map its error. */
export interface FailedCall {
  /** The backend method. */
  readonly operation: string;
  /** The backend's key, when the call concerned one. */
  readonly key: string | undefined;
  /** The command may have reached the server. */
  readonly sent: boolean;
}

/** Runs the backend's calls on one connection (see the module comment). */
export class CallRunner {
  /** The per-call deadline, in milliseconds. */
  readonly timeoutMs: number;
  readonly #client: RedisClientLike;
  readonly #owned: boolean;
  readonly #cluster: boolean;
  /** Calls need the runner's own timer: ioredis's `commandTimeout` alone does not cover them. */
  readonly #ownTimer: boolean;
  readonly #watch: ConnectionWatch;
  #closing: Promise<void> | undefined;
  /** The deadline calls started now join (see `DeadlineGroup`). */
  #deadline: DeadlineGroup | undefined;
  /** The socket corked for the current event-loop turn, if any (see `#cork`). */
  #corked: CorkableStream | undefined;
  readonly #uncork = (): void => {
    const stream = this.#corked;
    this.#corked = undefined;
    stream?.uncork();
  };

  constructor(opened: OpenedClient, timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    this.#client = opened.client;
    this.#owned = opened.owned;
    this.#cluster = opened.cluster;
    this.#ownTimer = opened.ownTimer;
    // Only a client the backend owns gets an `error` listener: on a caller's client it would
    // silence ioredis's own "Unhandled error event" output.
    this.#watch = new ConnectionWatch(opened.client, opened.owned);
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Resolves `value`, the result of a call that needs no command (an empty batch, an oversized
   * `add`) — or, once closed, rejects with `CacheClosedError` like every other call.
   */
  answer<R>(value: R): Promise<R> {
    return this.#closing === undefined
      ? Promise.resolve(value)
      : Promise.reject(closedError(BACKEND));
  }

  /**
   * Runs one call: only on a ready connection, within `timeoutMs`, errors mapped to Stowage's.
   * On a ready connection the call shares the deadline timer of the calls started with it (the
   * backend's own connections), or relies on the caller's ioredis `commandTimeout` when that is
   * no longer than `timeoutMs`; otherwise it waits for the connection under a timer of its own.
   */
  run<T, R>(call: RedisCall<T, R>): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(closedError(BACKEND));
    const gate = this.#watch.ready();
    if (gate !== undefined) return this.#runWithTimer(call, gate);
    if (this.#ownTimer) return this.#runInGroup(call);
    // ioredis's `commandTimeout` bounds each command; a script call that has to send its source
    // after a NOSCRIPT bounds that second command itself (see `runScript`).
    let pending: Promise<T>;
    try {
      this.#cork();
      pending = call.send();
    } catch (error) {
      return Promise.reject(
        this.error(error, { operation: call.operation, key: call.key, sent: false }),
      );
    }
    return pending.then(call.decode, (error: unknown) => this.#fail(call, error, true));
  }

  /**
   * `run` on a ready connection under the shared deadline: sent at once, rejected with
   * `CacheTimeoutError` (indeterminate for a write: it was sent) if the group's timer fires first.
   * A reply that arrives after that is dropped, as ioredis's `commandTimeout` drops it.
   */
  #runInGroup<T, R>(call: RedisCall<T, R>): Promise<R> {
    const { operation, key } = call;
    // The group's timer exists before the command is sent, so it fires before ioredis's
    // `socketTimeout` armed by the send (timers of one duration fire in the order they were
    // made): a call that got no answer rejects as timed out before its socket is destroyed, as it
    // did with `commandTimeout`, and the caller's next call finds the connection already closing
    // instead of failing at once on a socket that is gone but not yet reported closed.
    const now = performance.now();
    let group = this.#deadline;
    if (group === undefined || !group.accepts(now)) {
      group = new DeadlineGroup(this.timeoutMs, now);
      this.#deadline = group;
    }
    const deadline = group;
    let pending: Promise<T>;
    try {
      this.#cork();
      pending = call.send();
    } catch (error) {
      return Promise.reject(this.error(error, { operation, key, sent: false }));
    }
    return new Promise<R>((resolve, reject) => {
      let settled = false;
      deadline.join(() => {
        if (settled) return;
        settled = true;
        reject(this.#timeout({ operation, key, sent: true }, 'did not answer'));
      });
      // True for the first outcome only; the deadline then has one call less to wait for.
      const first = (): boolean => {
        if (settled) return false;
        settled = true;
        deadline.settled();
        return true;
      };
      // One handler pair, no intermediate promise. The reply is read even after the deadline
      // passed, so a damaged late reply still resets the connection (`desync`).
      pending.then(
        (reply) => {
          let value: R;
          try {
            value = call.decode(reply);
          } catch (error) {
            if (first()) reject(this.error(error, { operation, key, sent: true }));
            return;
          }
          if (first()) resolve(value);
        },
        (error: unknown) => {
          let value: R;
          try {
            value = this.#fail(call, error, true);
          } catch (failure) {
            // Already a Stowage error (`#fail` mapped it): `error` returns it as it is.
            if (first()) reject(this.error(failure, { operation, key, sent: true }));
            return;
          }
          if (first()) resolve(value);
        },
      );
    });
  }

  /** `run` while the connection is not ready: the call waits for it under a timer of its own. */
  #runWithTimer<T, R>(call: RedisCall<T, R>, gate: Promise<void> | undefined): Promise<R> {
    const { operation, key } = call;
    return new Promise<R>((resolve, reject) => {
      let sent = false;
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        const what = sent ? 'did not answer' : 'did not get a ready connection';
        reject(this.#timeout({ operation, key, sent }, what));
      }, this.timeoutMs);
      const start = (): Promise<T> => {
        // Gave up while waiting for the connection: never send late.
        if (settled) return Promise.reject(new NotConnectedError('the call was abandoned'));
        sent = true;
        this.#cork();
        return call.send();
      };
      (gate ?? Promise.resolve())
        .then(start)
        .then(call.decode, (error: unknown) => this.#fail(call, error, sent))
        .then(
          (value) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(value);
          },
          (error: unknown) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            // Already a Stowage error (`#fail` mapped it), unless `decode` threw.
            reject(this.error(error, { operation, key, sent }));
          },
        );
    });
  }

  /** A failed send: the call's `recover` may make a result of it; otherwise a Stowage error. */
  #fail<T, R>(call: RedisCall<T, R>, error: unknown, sent: boolean): R {
    const recovered = call.recover?.(error);
    if (recovered !== undefined) return recovered.value;
    throw this.error(error, { operation: call.operation, key: call.key, sent });
  }

  /**
   * Maps anything a call threw to a Stowage error: a timeout to `CacheTimeoutError`, anything else
   * to `CacheBackendError` through the kit's `transportError`, so `indeterminate` follows its rule.
   */
  error(error: unknown, failed: FailedCall): CacheError {
    if (error instanceof CacheError) return error;
    const { operation, key } = failed;
    const cause = error instanceof Error ? error : new Error(String(error));
    // Not connected, or not writable: nothing was sent.
    const sent =
      failed.sent &&
      !(cause instanceof NotConnectedError || cause.message.startsWith(NOT_WRITABLE));
    if (cause.message === TIMED_OUT) {
      return this.#timeout({ operation, key, sent }, 'did not answer', cause);
    }
    return transportError({
      backend: BACKEND,
      operation,
      key,
      write: isWrite(operation),
      // A server error reply means the command was not applied: as good as not sent.
      sent: sent && !isReplyError(cause),
      message: `redis ${operation} failed: ${cause.message}`,
      cause,
    });
  }

  /** A call that did not settle in time; `indeterminate` by the kit's rule (a write, sent). */
  #timeout(failed: FailedCall, what: string, cause?: Error): CacheTimeoutError {
    const { operation, key } = failed;
    return new CacheTimeoutError(`redis ${operation} ${what} within ${this.timeoutMs} ms`, {
      backend: BACKEND,
      operation,
      key,
      indeterminate: isWrite(operation) && failed.sent,
      timeoutMs: this.timeoutMs,
      ...(cause === undefined ? {} : { cause }),
    });
  }

  /**
   * The connection delivered a reply that cannot be this call's (a value failing its checksum,
   * a reply of the wrong shape): bytes were dropped, inserted or changed on the way, and every
   * reply behind it on this connection may belong to another command. Drops the connection at
   * once — `destroy`, not ioredis's `disconnect`, which half-closes and would still hand the
   * replies already on their way to the commands waiting — and ioredis reconnects. Commands in
   * flight on it get no reply at all (ioredis drops them without resending,
   * `autoResendUnfulfilledCommands: false`) and reject by their deadline; commands sent later go
   * out on the new connection. Returns the error the call rejects with: a write was sent, and
   * whether it was applied is unknown once replies cannot be trusted. On a Cluster every node
   * connection is dropped (which node answered is not known here).
   */
  desync(operation: string, key: string | undefined, what: string): CacheBackendError {
    const nodes = this.#cluster ? (this.#client.nodes?.('all') ?? []) : [this.#client];
    for (const node of nodes) {
      const stream = node.stream;
      if (typeof stream?.destroy === 'function') stream.destroy();
      else node.disconnect(true);
    }
    return transportError({
      backend: BACKEND,
      operation,
      key,
      write: isWrite(operation),
      sent: true,
      message: `redis ${operation} received ${what}${key === undefined ? '' : ` for '${key}'`}: the reply stream is damaged or out of step, so the connection was reset`,
    });
  }

  /** The connections that hold data: the client itself, or every Cluster master. */
  dataNodes(): RedisClientLike[] {
    if (!this.#cluster) return [this.#client];
    const masters = this.#client.nodes?.('master') ?? [];
    if (masters.length === 0) throw new NotConnectedError('the cluster has no reachable master');
    return masters;
  }

  /**
   * Corks a standalone connection's socket until the check phase of this turn of the event loop
   * (`setImmediate`), so the commands the application issues in that turn leave in one `writev`
   * instead of one system call each — the continuations of one reply chunk (64 concurrent `get`s,
   * say), and also calls started by separate callbacks of the same turn (the requests of several
   * sockets that became readable together), which a `process.nextTick` uncork split into one write
   * each: measured at 64 in flight with every call in its own macrotask, 0.8× raw ioredis with
   * the tick, 2.2× with the turn (`bench/scripts/harness-shapes.mjs --yield=immediate`). node-redis
   * corks the same way. Unlike ioredis's auto-pipelining it changes nothing else — each command
   * keeps its own reply, timeout and error — and a command waits at most for the rest of the
   * turn: the poll phase does not block while an immediate is pending. A Cluster routes commands
   * to node sockets and is left alone.
   */
  #cork(): void {
    if (this.#corked !== undefined || this.#cluster) return;
    const stream = this.#client.stream;
    if (typeof stream?.cork !== 'function') return;
    stream.cork();
    this.#corked = stream;
    setImmediate(this.#uncork);
  }

  /**
   * Stops every later call, then closes the connection if the backend opened it — after pending
   * replies, for at most `timeoutMs` — or only detaches from a caller's client. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#watch.detach();
    this.#closing = this.#owned ? this.#shutdown() : Promise.resolve();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const client = this.#client;
    if (client.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        // A QUIT that fails leaves nothing to wait for: the socket is dropped below either way.
        client.quit().catch(ignoreRejection),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    // quit() may be stuck on a frozen server, and a lazy or reconnecting client has nothing to
    // quit: drop the socket and stop reconnecting.
    client.disconnect();
  }
}
