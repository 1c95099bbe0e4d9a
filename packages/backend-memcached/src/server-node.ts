import type { CacheError } from '@stowage/core';
import { Breaker } from './breaker.js';
import { Connection } from './connection.js';
import type { FrameWriter } from './frame-writer.js';
import type { ResolvedMemcachedOptions, ServerAddress } from './memcached-options.js';
import { Opcode } from './protocol.js';
import { FailureKind, failureError, type Request, type RequestInfo } from './request.js';

/** Room in a response frame for the key and extras beside the largest value. */
const FRAME_SLACK_BYTES = 1024;

/** Frames built for one server: the buffer, the first opaque, how many frames. */
export interface Framed {
  readonly writer: FrameWriter;
  readonly base: number;
  readonly frames: number;
}

/**
 * One server as the backend sees it: its connection and its circuit breaker. Requests go out
 * through {@link ServerNode.send}, which fails them at once, with nothing sent, while the breaker
 * is open; the connection's failures and answers move the breaker.
 */
export class ServerNode {
  /** `host:port` (IPv6 in brackets). */
  readonly address: string;
  readonly breaker: Breaker;
  readonly #connection: Connection;
  readonly #timeoutMs: number;

  constructor(server: ServerAddress, options: ResolvedMemcachedOptions) {
    const breaker = new Breaker({ ...options.breaker, now: () => performance.now() });
    this.#connection = new Connection({
      host: server.host,
      port: server.port,
      username: options.username,
      password: options.password,
      timeoutMs: options.timeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      maxBodyBytes: options.maxValueBytes + FRAME_SLACK_BYTES,
      onFailure: (failure) => breaker.failure(failure.message),
      onSuccess: () => breaker.success(),
    });
    this.breaker = breaker;
    this.address = this.#connection.address;
    this.#timeoutMs = options.timeoutMs;
  }

  /** Reserves `frames` consecutive opaque values on the connection; returns the first. */
  reserve(frames: number): number {
    return this.#connection.reserve(frames);
  }

  /**
   * The connection's socket generation when it is ready (a request sent now goes out on it at
   * once), else `undefined`; see `Connection.readyGeneration`.
   */
  get readyGeneration(): number | undefined {
    return this.#connection.readyGeneration;
  }

  /** What a request that changes the server is about: its failure once sent is indeterminate. */
  info(operation: string, key: string | undefined): RequestInfo {
    return { operation, key, write: true, server: this.address, timeoutMs: this.#timeoutMs };
  }

  /** What a read is about: its failures are never indeterminate. */
  readInfo(operation: string, key: string | undefined): RequestInfo {
    return { operation, key, write: false, server: this.address, timeoutMs: this.#timeoutMs };
  }

  /**
   * Sends `request` (its `frames` frames from opaque `base` on, in `writer`) unless the breaker is
   * open; returns the request's promise.
   */
  send<T>(request: Request<T>, framed: Framed): Promise<T> {
    if (!this.breaker.allow()) return Promise.reject(this.#downError(request.info));
    request.base = framed.base;
    request.last = framed.frames - 1;
    request.chunks = framed.writer.finish();
    this.#connection.send(request as Request<unknown>);
    return request.promise;
  }

  /** Closes the frames with `noop` (whose answer ends the request) and sends them. */
  sendBatch<T>(request: Request<T>, framed: Framed): Promise<T> {
    const { writer, base, frames } = framed;
    writer.frame(Opcode.Noop, base + frames);
    // A literal, not a spread of `framed`: this is on every read's path.
    return this.send(request, { writer, base, frames: frames + 1 });
  }

  /** Closes the connection for good: pending requests fail with `CacheClosedError`. */
  close(): void {
    this.#connection.close();
  }

  /** The error for a call refused by the open breaker (nothing was sent). */
  #downError(info: RequestInfo): CacheError {
    const { lastFailure, retryInMs } = this.breaker;
    return failureError(
      {
        kind: FailureKind.Down,
        message: `the server is marked down after repeated failures (last: ${lastFailure}); next attempt in ${retryInMs} ms`,
      },
      { info, written: false },
    );
  }
}
