import { connect, type Socket } from 'node:net';
import {
  HEADER_BYTES,
  HeaderOffset,
  Magic,
  Opcode,
  Status,
  type ResponseFrame,
} from './protocol.js';
import { FailureKind, type Failure, type Request } from './request.js';
import { listMechanismsFrame, plainAuthFrame } from './sasl-plain.js';

/** Settings of one server connection. */
export interface ConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** SASL PLAIN credentials; only these, never the environment. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Deadline of each request, in milliseconds. */
  readonly timeoutMs: number;
  /** Deadline of the TCP connect plus SASL handshake, in milliseconds. */
  readonly connectTimeoutMs: number;
  /** Largest response body accepted; anything larger is a protocol error. */
  readonly maxBodyBytes: number;
  /** Called once per incident (a reset or refused connect) that failed requests. */
  readonly onFailure: (failure: Failure) => void;
  /** Called when a request completed with an answer from the server. */
  readonly onSuccess: () => void;
}

const TCP_KEEPALIVE_MS = 30_000;

/**
 * One connection to one memcached server: the socket, the request queue, the response parser and
 * the deadline timer. memjs (1.3.2) supplies only the SASL PLAIN frames (`sasl-plain.ts`); its
 * `Server` object is not used, because its per-server state is where its worst defects live (a
 * response buffer never reset, so a cut reply is spliced with the next socket's bytes and a `get`
 * returns another key's value; a clean close that never settles requests in flight; a stale
 * socket's `close` handler that orphans the new socket and switches its timeouts off). Here:
 *
 * - every socket is a generation: its handlers act only while it is the current socket, and it is
 *   destroyed (never half-closed) when replaced, so no byte of an old socket reaches the parser;
 * - the receive buffer is emptied on every reset, so no frame can be completed by later bytes;
 * - any anomaly (error, FIN, timeout, bad magic, oversize frame, answer out of order, wrong key)
 *   resets the connection and fails every request on it; nothing is ever delivered after that;
 * - one deadline timer per connection, re-armed lazily, that no other event can switch off.
 */
export class Connection {
  /** `host:port`. */
  readonly address: string;
  readonly #options: ConnectionOptions;
  #socket: Socket | undefined;
  #ready = false;
  #connectDeadline = 0;
  #closed = false;
  /** Requests queued while connecting or authenticating; nothing of them was written yet. */
  #waiting: Array<Request<unknown>> = [];
  /** Requests written, in order; the server answers in this order. */
  #inflight: Array<Request<unknown>> = [];
  #opaque = 0;
  /**
   * Counts sockets: a CAS value is only meaningful on the server that issued it, and a new socket
   * may reach a restarted server whose CAS counter began again at 1 (see `readyGeneration`).
   */
  #generation = 0;
  #timer: NodeJS.Timeout | undefined;
  #corked = false;
  // Receive buffer: chunks not yet parsed, and how many bytes the next frame needs.
  #rxChunks: Buffer[] = [];
  #rxBytes = 0;
  #rxNeed = HEADER_BYTES;

  constructor(options: ConnectionOptions) {
    // Credentials come from the options only, never from MEMCACHIER_*/MEMCACHE_* variables.
    this.#options = options;
    this.address = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  }

  /** Reserves `frames` consecutive opaque values; returns the first. */
  reserve(frames: number): number {
    const base = this.#opaque;
    this.#opaque = (this.#opaque + frames) >>> 0;
    return base;
  }

  /**
   * The current socket's generation when it is connected and ready, so a request sent now is
   * written on it at once; `undefined` otherwise. A CAS value read on one generation is sent only
   * on the same one: after a reconnect the server may have restarted, and another item may then
   * carry the same CAS.
   */
  get readyGeneration(): number | undefined {
    return this.#ready && this.#socket !== undefined ? this.#generation : undefined;
  }

  /** Sends a request whose `base`, `last` and `chunks` are set; it settles by its deadline. */
  send(request: Request<unknown>): void {
    if (this.#closed) {
      request.fail({ kind: FailureKind.Closed, message: 'the memcached backend is closed' });
      return;
    }
    request.deadline = performance.now() + this.#options.timeoutMs;
    if (this.#ready && this.#socket !== undefined) {
      this.#write(this.#socket, request);
    } else {
      this.#waiting.push(request);
      if (this.#socket === undefined) this.#connect();
    }
    this.#arm();
  }

  #write(socket: Socket, request: Request<unknown>): void {
    request.written = true;
    request.generation = this.#generation;
    this.#inflight.push(request);
    // Requests issued in the same tick leave in one `writev`.
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    for (const chunk of request.chunks) socket.write(chunk);
    request.chunks = [];
  }

  #connect(): void {
    this.#ready = false;
    this.#generation++;
    this.#connectDeadline = performance.now() + this.#options.connectTimeoutMs;
    const socket = connect({ host: this.#options.host, port: this.#options.port });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
    const current = (): boolean => this.#socket === socket;
    socket.on('connect', () => {
      if (!current()) return;
      if (this.#options.username !== undefined && this.#options.password !== undefined) {
        // List the mechanisms first, as memjs does; PLAIN follows when the list arrives.
        socket.write(listMechanismsFrame());
      } else {
        this.#onReady(socket);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      if (current()) this.#receive(chunk);
    });
    socket.on('end', () => {
      if (current()) {
        this.#reset({
          kind: FailureKind.Connection,
          message: 'the server closed the connection',
        });
      }
    });
    socket.on('close', () => {
      if (current()) {
        this.#reset({ kind: FailureKind.Connection, message: 'the connection closed' });
      }
    });
    // Always listened to, also after the socket was replaced: an unhandled 'error' would crash.
    socket.on('error', (error: Error) => {
      if (current())
        this.#reset({ kind: FailureKind.Connection, message: error.message, cause: error });
    });
  }

  #onReady(socket: Socket): void {
    this.#ready = true;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const request of waiting) this.#write(socket, request);
  }

  /** Parses answers: bounded, checked, never spliced across sockets. */
  #receive(chunk: Buffer): void {
    this.#rxChunks.push(chunk);
    this.#rxBytes += chunk.length;
    if (this.#rxBytes < this.#rxNeed) return;
    const socket = this.#socket;
    const data =
      this.#rxChunks.length === 1
        ? (this.#rxChunks[0] as Buffer)
        : Buffer.concat(this.#rxChunks, this.#rxBytes);
    let offset = 0;
    for (;;) {
      const available = data.length - offset;
      if (available < HEADER_BYTES) {
        this.#rxNeed = HEADER_BYTES;
        break;
      }
      if (data[offset + HeaderOffset.Magic] !== Magic.Response) {
        this.#protocolError(
          `expected a binary-protocol response, got byte 0x${(data[offset] as number).toString(16)}`,
        );
        return;
      }
      const keyBytes = data.readUInt16BE(offset + HeaderOffset.KeyLength);
      const extrasBytes = data[offset + HeaderOffset.ExtrasLength] as number;
      const bodyBytes = data.readUInt32BE(offset + HeaderOffset.BodyLength);
      if (bodyBytes > this.#options.maxBodyBytes || keyBytes + extrasBytes > bodyBytes) {
        this.#protocolError(`malformed or oversized response frame (${bodyBytes} bytes)`);
        return;
      }
      const end = offset + HEADER_BYTES + bodyBytes;
      if (data.length < end) {
        this.#rxNeed = HEADER_BYTES + bodyBytes;
        break;
      }
      const extrasStart = offset + HEADER_BYTES;
      const keyStart = extrasStart + extrasBytes;
      const valueStart = keyStart + keyBytes;
      this.#dispatch({
        opcode: data[offset + HeaderOffset.Opcode] as number,
        status: data.readUInt16BE(offset + HeaderOffset.Status),
        opaque: data.readUInt32BE(offset + HeaderOffset.Opaque),
        casHigh: data.readUInt32BE(offset + HeaderOffset.CasHigh),
        casLow: data.readUInt32BE(offset + HeaderOffset.CasLow),
        extras: data.subarray(extrasStart, keyStart),
        key: data.subarray(keyStart, valueStart),
        value: data.subarray(valueStart, end),
      });
      // A dispatch may reset the connection; the rest of this data then belongs to nobody.
      if (this.#socket !== socket) return;
      offset = end;
    }
    if (offset === data.length) {
      this.#rxChunks = [];
      this.#rxBytes = 0;
    } else {
      const rest = offset === 0 ? data : data.subarray(offset);
      this.#rxChunks = [rest];
      this.#rxBytes = rest.length;
    }
  }

  #dispatch(frame: ResponseFrame): void {
    if (!this.#ready) {
      this.#authenticate(frame);
      return;
    }
    const request = this.#inflight[0];
    if (request === undefined) {
      this.#protocolError('an answer arrived with no request waiting for it');
      return;
    }
    const index = (frame.opaque - request.base) >>> 0;
    if (
      index > request.last ||
      index <= request.seen ||
      (!request.quiet && index !== request.seen + 1)
    ) {
      this.#protocolError(`an answer arrived out of order (opaque ${frame.opaque})`);
      return;
    }
    request.seen = index;
    const problem = request.onFrame(frame, index);
    if (problem !== undefined) {
      this.#protocolError(problem);
      return;
    }
    if (index === request.last) {
      this.#inflight.shift();
      request.complete();
      this.#options.onSuccess();
    }
  }

  #authenticate(frame: ResponseFrame): void {
    const { username, password } = this.#options;
    if (
      frame.opcode === Opcode.SaslListMechs &&
      frame.status === Status.Ok &&
      username !== undefined &&
      password !== undefined
    ) {
      this.#socket?.write(plainAuthFrame(username, password));
      return;
    }
    if (frame.opcode === Opcode.SaslAuth && frame.status === Status.Ok && this.#socket) {
      this.#onReady(this.#socket);
      return;
    }
    this.#reset({
      kind: FailureKind.Connection,
      message:
        frame.opcode === Opcode.SaslAuth || frame.opcode === Opcode.SaslListMechs
          ? `SASL authentication failed (status 0x${frame.status.toString(16)})`
          : 'an answer arrived before the connection was ready',
    });
  }

  #protocolError(message: string): void {
    this.#reset({ kind: FailureKind.Protocol, message });
  }

  /** Fails every request on this connection and forgets the socket and every byte received. */
  #reset(failure: Failure): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#ready = false;
    this.#rxChunks = [];
    this.#rxBytes = 0;
    this.#rxNeed = HEADER_BYTES;
    if (socket !== undefined) socket.destroy();
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const failed = [...this.#inflight, ...this.#waiting];
    this.#inflight = [];
    this.#waiting = [];
    if (failed.length === 0) return;
    this.#options.onFailure(failure);
    for (const request of failed) request.fail(failure);
  }

  /** Arms the deadline timer for the earliest deadline, unless it is already armed. */
  #arm(): void {
    if (this.#timer !== undefined) return;
    let due = Infinity;
    const head = this.#inflight[0] ?? this.#waiting[0];
    if (head !== undefined) due = head.deadline;
    if (this.#socket !== undefined && !this.#ready) due = Math.min(due, this.#connectDeadline);
    if (due === Infinity) return;
    this.#timer = setTimeout(() => this.#onTimer(), Math.max(0, due - performance.now()));
  }

  #onTimer(): void {
    this.#timer = undefined;
    const now = performance.now() + 1; // timers may fire up to 1 ms early
    const head = this.#inflight[0];
    if (head !== undefined && head.deadline <= now) {
      // The server answers in order: nothing behind an unanswered request can arrive either.
      this.#reset({
        kind: FailureKind.Timeout,
        message: `did not answer within ${this.#options.timeoutMs} ms`,
      });
      return;
    }
    if (this.#socket !== undefined && !this.#ready && this.#connectDeadline <= now) {
      this.#reset({
        kind: FailureKind.Timeout,
        message: `could not connect within ${this.#options.connectTimeoutMs} ms`,
      });
      return;
    }
    // Requests still waiting for a slow handshake fail alone (nothing was sent); the handshake
    // goes on under its own deadline, so a link slower than `timeoutMs` cannot flap for ever.
    let expired = 0;
    while (this.#waiting.length > 0 && (this.#waiting[0] as Request<unknown>).deadline <= now) {
      (this.#waiting.shift() as Request<unknown>).fail({
        kind: FailureKind.Timeout,
        message: `could not connect within ${this.#options.timeoutMs} ms`,
      });
      expired++;
    }
    if (expired > 0) {
      this.#options.onFailure({ kind: FailureKind.Timeout, message: 'connect timed out' });
    }
    this.#arm();
  }

  /** Closes for good: pending requests fail with a `Closed` error. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#reset({ kind: FailureKind.Closed, message: 'the memcached backend is closed' });
    this.#closed = true;
  }
}
