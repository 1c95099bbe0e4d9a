import { asError, delay, ignore, quitWithin, type BusConnection } from './connection.js';
import { reconnectDelay, type BusTiming } from './bus-options.js';
import { clearFrame } from './wire-format.js';

/** Most PUBLISH commands in flight at once: enough to pipeline a burst, bounded for memory. */
const MAX_IN_FLIGHT = 256;

interface Entry {
  readonly frame: string;
}

/**
 * The publisher connection and the bounded queue in front of it. Every message waits in the
 * queue until Redis confirmed its PUBLISH; sends are pipelined in queue order on one connection,
 * and after any failure everything unconfirmed is sent again from the first unconfirmed message,
 * so order holds and nothing is dropped (a message may arrive twice: an invalidation repeated is
 * harmless). On overflow the queue becomes one `clear`.
 */
export class Publisher {
  readonly #connection: BusConnection;
  readonly #channel: string;
  readonly #timing: BusTiming;
  readonly #maxQueue: number;
  readonly #warn: (error: Error) => void;
  #queue: Entry[] = [];
  /** How many entries at the head of the queue were sent in this epoch and await a reply. */
  #inFlight = 0;
  /** Bumped when the in-flight sends stop counting (a failure, an overflow): their replies are ignored. */
  #epoch = 0;
  /** Failed attempts in a row: one warning per streak, and the retry backoff. */
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  #restart: NodeJS.Timeout | undefined;
  #closed = false;
  #drained: (() => void) | undefined;

  readonly #onReady = (): void => this.#pump();
  /** ioredis gave up reconnecting: the bus does not until `close()`, so it connects again. */
  readonly #onEnd = (): void => {
    if (this.#closed) return;
    clearTimeout(this.#restart);
    this.#restart = setTimeout(() => {
      this.#restart = undefined;
      if (!this.#closed) this.#connection.connect().catch(ignore);
    }, this.#timing.reconnectMaxDelayMs);
    this.#restart.unref();
  };

  constructor(
    connection: BusConnection,
    channel: string,
    options: { timing: BusTiming; maxQueue: number; warn: (error: Error) => void },
  ) {
    this.#connection = connection;
    this.#channel = channel;
    this.#timing = options.timing;
    this.#maxQueue = options.maxQueue;
    this.#warn = options.warn;
    connection.on('ready', this.#onReady);
    connection.on('end', this.#onEnd);
    // Connection errors are retried by ioredis and show as failed publishes; without a listener
    // ioredis would print them.
    connection.on('error', ignore);
  }

  /** Messages not yet confirmed by Redis. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Opens the connection; what was queued before goes out once it is ready. */
  start(): void {
    this.#connection.connect().catch(ignore);
  }

  /** Queues a frame (from `source`, for the `clear` of an overflow) and sends it when it can. */
  enqueue(frame: string, source: string): void {
    if (this.#closed) return;
    this.#queue.push({ frame });
    if (this.#queue.length > this.#maxQueue) {
      const dropped = this.#queue.length;
      this.#queue = [{ frame: clearFrame(source) }];
      this.#epoch++;
      this.#inFlight = 0;
      this.#warn(
        new Error(
          `the redis bus queue overflowed (${dropped} unpublished messages over maxQueue ${this.#maxQueue}): dropped them and publishes one clear instead`,
        ),
      );
    }
    this.#pump();
  }

  #pump(): void {
    if (this.#connection.status !== 'ready' || this.#retry !== undefined) return;
    while (this.#inFlight < this.#queue.length && this.#inFlight < MAX_IN_FLIGHT) {
      const entry = this.#queue[this.#inFlight] as Entry;
      this.#inFlight++;
      const epoch = this.#epoch;
      this.#connection.publish(this.#channel, entry.frame).then(
        () => this.#sent(entry, epoch),
        (error: unknown) => this.#failed(epoch, asError(error)),
      );
    }
  }

  #sent(entry: Entry, epoch: number): void {
    // Replies on one connection come in order, so a confirmed entry is the head of the queue.
    if (epoch !== this.#epoch || this.#queue[0] !== entry) return;
    this.#queue.shift();
    this.#inFlight--;
    this.#failures = 0;
    if (this.#queue.length === 0) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained?.();
    } else if (this.#inFlight < MAX_IN_FLIGHT / 2) {
      this.#pump();
    }
  }

  #failed(epoch: number, error: Error): void {
    if (epoch !== this.#epoch || this.#closed) return;
    this.#epoch++;
    this.#inFlight = 0;
    this.#failures++;
    if (this.#failures === 1) {
      this.#warn(
        new Error(
          `the redis bus could not publish (${error.message}); ${this.#queue.length} message(s) queued, retrying in order`,
        ),
      );
    }
    if (this.#connection.status !== 'ready') return; // the next `ready` pumps again
    // Up but not answering (frozen, or a half-open socket): a new connection. Otherwise an error
    // reply (ACL, OOM…): try again after a backoff.
    if (/timed out/i.test(error.message)) this.#connection.disconnect(true);
    this.#retry = setTimeout(
      () => {
        this.#retry = undefined;
        this.#pump();
      },
      reconnectDelay(this.#failures, this.#timing.reconnectMaxDelayMs),
    );
    this.#retry.unref();
  }

  /**
   * One bounded attempt to publish what is queued, then closes the connection. Nothing is sent
   * after it resolves.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    const ms = this.#timing.closeTimeoutMs;
    const started = Date.now();
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.#queue.length > 0 && this.#connection.status === 'ready') {
      const drained = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      this.#pump();
      await Promise.race([drained, delay(ms)]);
    }
    this.#closed = true;
    this.#drained = undefined;
    this.#connection.removeListener('ready', this.#onReady);
    this.#connection.removeListener('end', this.#onEnd);
    clearTimeout(this.#restart);
    await quitWithin(this.#connection, Math.max(0, ms - (Date.now() - started)));
  }
}
