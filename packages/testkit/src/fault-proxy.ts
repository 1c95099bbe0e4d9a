import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** How a proxied connection treats bytes. */
export type FaultMode =
  /** Forward both ways. */
  | { readonly kind: 'pass' }
  /** Forward both ways, each chunk delayed by `ms`. */
  | { readonly kind: 'latency'; readonly ms: number }
  /** Accept bytes from the client, never forward them, never answer. */
  | { readonly kind: 'blackhole' }
  /**
   * Forward `bytes` more response bytes, then close the client side cleanly (FIN), or with RST
   * when `reset` is true (a connection reset mid-reply).
   */
  | { readonly kind: 'cut'; readonly bytes: number; readonly reset?: boolean }
  /**
   * Damages the response stream once, as a faulty middlebox would: forward `offset` response
   * bytes (counted from when the mode is set, per connection), then remove the next `drop` bytes
   * and send `insert` in their place; everything after flows unchanged. `drop: 1` with a one-byte
   * `insert` changes one byte in place.
   */
  | {
      readonly kind: 'tamper';
      readonly offset: number;
      readonly drop?: number;
      readonly insert?: Uint8Array;
    };

/** Which connections a mode change applies to. */
export type FaultScope = 'all' | 'existing' | 'new';

interface Pending {
  readonly due: number;
  readonly chunk: Buffer;
}

/** One direction of a proxied connection, with an ordered delay queue. */
class Pipe {
  readonly #to: Socket;
  readonly #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastDue = 0;
  #ended = false;

  constructor(to: Socket) {
    this.#to = to;
  }

  get idle(): boolean {
    return this.#queue.length === 0;
  }

  push(chunk: Buffer, delayMs: number): void {
    if (delayMs <= 0 && this.#queue.length === 0) {
      if (!this.#to.destroyed) this.#to.write(chunk);
      return;
    }
    // Chunks keep their order even when the delay changes between them.
    const due = Math.max(Date.now() + delayMs, this.#lastDue);
    this.#lastDue = due;
    this.#queue.push({ due, chunk });
    this.#arm();
  }

  /** Ends the far side once every queued chunk has been written (bytes in flight keep flowing). */
  endWhenDrained(): void {
    this.#ended = true;
    if (this.#queue.length === 0 && !this.#to.destroyed) this.#to.end();
  }

  drop(): void {
    this.#queue.length = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const head = this.#queue[0];
    if (head === undefined) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        const now = Date.now();
        while (this.#queue.length > 0 && (this.#queue[0] as Pending).due <= now) {
          const next = this.#queue.shift() as Pending;
          if (!this.#to.destroyed) this.#to.write(next.chunk);
        }
        if (this.#queue.length > 0) this.#arm();
        else if (this.#ended && !this.#to.destroyed) this.#to.end();
      },
      Math.max(0, head.due - Date.now()),
    );
  }
}

class ProxiedConnection {
  readonly client: Socket;
  readonly upstream: Socket;
  mode: FaultMode;
  #cutRemaining = 0;
  /** With `tamper`: response bytes still to forward before the damage, and bytes still to drop. */
  #tamperBefore = 0;
  #tamperDrop = 0;
  #tamperInsert: Buffer | undefined;
  readonly #toUpstream: Pipe;
  readonly #toClient: Pipe;

  constructor(client: Socket, upstream: Socket, mode: FaultMode, onClose: () => void) {
    this.client = client;
    this.upstream = upstream;
    this.mode = mode;
    this.setMode(mode);
    this.#toUpstream = new Pipe(upstream);
    this.#toClient = new Pipe(client);
    client.on('data', (chunk: Buffer) => {
      if (this.mode.kind === 'blackhole') return;
      this.#toUpstream.push(chunk, this.mode.kind === 'latency' ? this.mode.ms : 0);
    });
    upstream.on('data', (chunk: Buffer) => this.#fromUpstream(chunk));
    // A client that closes does not take back bytes already sent: they keep flowing upstream.
    client.on('end', () => this.#toUpstream.endWhenDrained());
    upstream.on('end', () => this.#toClient.endWhenDrained());
    const closeBoth = (): void => {
      onClose();
    };
    client.on('close', closeBoth);
    client.on('error', () => {
      this.#toUpstream.endWhenDrained();
    });
    upstream.on('error', () => {
      this.#toClient.drop();
      client.destroy();
    });
    upstream.on('close', () => {
      if (this.#toClient.idle) client.end();
      else this.#toClient.endWhenDrained();
    });
  }

  setMode(mode: FaultMode): void {
    this.mode = mode;
    if (mode.kind === 'cut') this.#cutRemaining = mode.bytes;
    if (mode.kind === 'tamper') {
      this.#tamperBefore = mode.offset;
      this.#tamperDrop = mode.drop ?? 0;
      this.#tamperInsert = mode.insert === undefined ? undefined : Buffer.from(mode.insert);
    }
  }

  /** Applies a pending `tamper` to one response chunk. */
  #tamper(chunk: Buffer): Buffer {
    if (this.#tamperBefore >= chunk.byteLength) {
      this.#tamperBefore -= chunk.byteLength;
      return chunk;
    }
    const parts: Buffer[] = [chunk.subarray(0, this.#tamperBefore)];
    let rest = chunk.subarray(this.#tamperBefore);
    this.#tamperBefore = 0;
    if (this.#tamperInsert !== undefined) {
      parts.push(this.#tamperInsert);
      this.#tamperInsert = undefined;
    }
    const dropped = Math.min(this.#tamperDrop, rest.byteLength);
    this.#tamperDrop -= dropped;
    rest = rest.subarray(dropped);
    parts.push(rest);
    // Done once nothing is left to drop: later bytes pass unchanged.
    if (this.#tamperDrop === 0) this.mode = { kind: 'pass' };
    return Buffer.concat(parts);
  }

  #fromUpstream(chunk: Buffer): void {
    const mode = this.mode;
    if (mode.kind === 'blackhole') return;
    if (mode.kind === 'cut') {
      if (this.#cutRemaining <= 0) return;
      const part = chunk.subarray(0, this.#cutRemaining);
      this.#cutRemaining -= part.byteLength;
      this.#toClient.push(part, 0);
      if (this.#cutRemaining <= 0) {
        // FIN (or RST) to the client, mid-reply. An RST sent right behind the data can reach the
        // peer's reader as a clean end, so it follows the flushed part after a short pause.
        if (mode.reset === true) {
          this.client.write(Buffer.alloc(0), () => {
            setTimeout(() => {
              this.client.resetAndDestroy();
              this.upstream.destroy();
            }, 20);
          });
        } else {
          this.client.end();
          this.upstream.destroy();
        }
      }
      return;
    }
    if (mode.kind === 'tamper') {
      this.#toClient.push(this.#tamper(chunk), 0);
      return;
    }
    this.#toClient.push(chunk, mode.kind === 'latency' ? mode.ms : 0);
  }

  reset(): void {
    this.#toClient.drop();
    this.#toUpstream.drop();
    this.client.resetAndDestroy();
    this.upstream.destroy();
  }

  fin(): void {
    this.#toClient.drop();
    this.client.end();
    this.upstream.destroy();
  }
}

/**
 * An in-process TCP proxy on 127.0.0.1 that injects network faults between a client and a real
 * server: latency, blackhole, a response cut mid-frame followed by FIN, RST, FIN, refused
 * connections. Point the client at `proxy.port`.
 *
 * @example
 * const proxy = await FaultProxy.start(memcached.port);
 * proxy.setMode({ kind: 'latency', ms: 600 });
 */
export class FaultProxy {
  readonly #targetPort: number;
  readonly #targetHost: string;
  readonly #connections = new Set<ProxiedConnection>();
  #server: Server | undefined;
  #port = 0;
  #defaultMode: FaultMode = { kind: 'pass' };

  private constructor(targetPort: number, targetHost: string) {
    this.#targetPort = targetPort;
    this.#targetHost = targetHost;
  }

  /** Starts a proxy to `targetHost:targetPort` on a free port of 127.0.0.1. */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
    const proxy = new FaultProxy(targetPort, targetHost);
    await proxy.accept();
    return proxy;
  }

  /** The port clients connect to. */
  get port(): number {
    return this.#port;
  }

  /** `127.0.0.1:<port>`. */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** Open client connections. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Changes how bytes flow; `scope` picks existing connections, new ones, or both (default). */
  setMode(mode: FaultMode, scope: FaultScope = 'all'): void {
    if (scope !== 'existing') this.#defaultMode = mode;
    if (scope !== 'new') for (const connection of this.#connections) connection.setMode(mode);
  }

  /** Sends RST on every open connection. */
  resetAll(): void {
    for (const connection of this.#connections) connection.reset();
  }

  /** Closes every open client connection cleanly (FIN), with nothing more forwarded. */
  finAll(): void {
    for (const connection of this.#connections) connection.fin();
  }

  /** Stops listening: new connections are refused; open ones stay. */
  async refuse(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again (on the same port after `refuse()`). */
  async accept(): Promise<void> {
    if (this.#server !== undefined) return;
    const server = createServer((client) => {
      const upstream = createConnection({ host: this.#targetHost, port: this.#targetPort });
      const connection = new ProxiedConnection(client, upstream, this.#defaultMode, () => {
        this.#connections.delete(connection);
      });
      this.#connections.add(connection);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address !== null && typeof address !== 'string') this.#port = address.port;
    this.#server = server;
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const connection of this.#connections) {
      connection.client.destroy();
      connection.upstream.destroy();
    }
    this.#connections.clear();
    await this.refuse();
  }
}
