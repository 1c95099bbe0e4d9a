import { ignore, asError, quitWithin, type BusConnection } from './connection.js';
import type { BusTiming } from './bus-options.js';

/** What the subscriber connection reports to the bus. */
export interface SubscriptionEvents {
  readonly frame: (text: string) => void;
  readonly live: () => void;
  readonly lost: (error: Error) => void;
  readonly warn: (error: Error) => void;
}

/**
 * The subscriber connection and the truth about it. `live` only once a SUBSCRIBE was confirmed
 * on the current connection; `lost` once per loss, on `close`/`end`/`error` or a PING that got
 * no reply in time. ioredis alone notices neither a frozen server nor a silent partition (the
 * kernel keeps ACKing), so a heartbeat runs while live, and a connection that connected but did
 * not reach a confirmed subscription within `connectTimeoutMs` is replaced.
 */
export class Subscription {
  readonly #connection: BusConnection;
  readonly #channel: string;
  readonly #timing: BusTiming;
  readonly #events: SubscriptionEvents;
  #live = false;
  #closed = false;
  /** Bumped whenever the connection it was about went away: late replies of an old one are ignored. */
  #generation = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #pingDeadline: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  /** The last connection error (refused, auth…): why the bus is not live, for messages. */
  #lastError: Error | undefined;

  readonly #onConnect = (): void => this.#armWatchdog();
  readonly #onReady = (): void => this.#subscribe();
  readonly #onClose = (): void => {
    this.#generation++;
    this.#lose(new Error('the redis bus subscriber connection closed'));
  };
  /**
   * ioredis gave up reconnecting (a Sentinel retry strategy of the caller's client can end it):
   * the bus never gives up until `close()`, so it starts the connection again after a pause.
   */
  readonly #onEnd = (): void => {
    this.#onClose();
    if (this.#closed) return;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#closed) this.#connection.connect().catch(ignore);
    }, this.#timing.reconnectMaxDelayMs);
    this.#restartTimer.unref();
  };
  readonly #onError = (error: Error): void => {
    this.#lastError = asError(error);
    if (this.#closed || !this.#live) return;
    this.#lose(asError(error));
    // An error the socket survives would leave the bus lost for ever: start over.
    this.#connection.disconnect(true);
  };
  readonly #onMessage = (channel: string, text: string): void => {
    if (!this.#closed && channel === this.#channel) this.#events.frame(text);
  };

  constructor(
    connection: BusConnection,
    channel: string,
    options: { timing: BusTiming; events: SubscriptionEvents },
  ) {
    this.#connection = connection;
    this.#channel = channel;
    this.#timing = options.timing;
    this.#events = options.events;
    connection.on('connect', this.#onConnect);
    connection.on('ready', this.#onReady);
    connection.on('close', this.#onClose);
    connection.on('end', this.#onEnd);
    connection.on('error', this.#onError);
    connection.on('message', this.#onMessage);
  }

  /** Whether the subscription is confirmed on a connection nobody saw fail. */
  get live(): boolean {
    return this.#live;
  }

  /** The last connection error seen, if any: what `start()` and warnings quote. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** Opens the connection; ioredis reconnects by itself after a failure. */
  start(): void {
    this.#connection.connect().catch(ignore);
  }

  #subscribe(): void {
    const generation = this.#generation;
    this.#connection.subscribe(this.#channel).then(
      () => {
        if (generation !== this.#generation || this.#closed) return;
        this.#clearWatchdog();
        this.#lastError = undefined; // older errors no longer explain anything
        if (!this.#live) {
          this.#live = true;
          this.#events.live();
        }
        this.#armHeartbeat(generation);
      },
      (error: unknown) => {
        if (generation !== this.#generation || this.#closed) return;
        this.#events.warn(
          new Error(`the redis bus could not subscribe: ${asError(error).message}`),
        );
        this.#restart();
      },
    );
  }

  /** After `connect` (TCP is up), the subscription must be confirmed within connectTimeoutMs. */
  #armWatchdog(): void {
    this.#clearWatchdog();
    const generation = this.#generation;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      if (generation !== this.#generation || this.#closed || this.#live) return;
      this.#events.warn(
        new Error(
          `the redis bus connected but was not subscribed within ${this.#timing.connectTimeoutMs} ms${this.#reason()}; reconnecting`,
          { cause: this.#lastError },
        ),
      );
      this.#restart();
    }, this.#timing.connectTimeoutMs);
    this.#watchdog.unref();
  }

  /** `(last error: …)` when there was one, for messages. */
  #reason(): string {
    return this.#lastError === undefined ? '' : ` (last error: ${this.#lastError.message})`;
  }

  #armHeartbeat(generation: number): void {
    this.#heartbeat = setTimeout(() => {
      this.#heartbeat = undefined;
      this.#ping(generation);
    }, this.#timing.heartbeatMs);
    this.#heartbeat.unref();
  }

  #ping(generation: number): void {
    if (generation !== this.#generation || this.#closed || !this.#live) return;
    const timeoutMs = this.#timing.timeoutMs;
    const fail = (error: Error): void => {
      if (generation !== this.#generation || this.#closed) return;
      this.#lose(error);
      this.#restart();
    };
    this.#pingDeadline = setTimeout(() => {
      this.#pingDeadline = undefined;
      fail(new Error(`redis did not answer the bus heartbeat PING within ${timeoutMs} ms`));
    }, timeoutMs);
    this.#pingDeadline.unref();
    this.#connection.ping().then(
      () => {
        if (generation !== this.#generation || this.#closed) return;
        clearTimeout(this.#pingDeadline);
        this.#pingDeadline = undefined;
        this.#armHeartbeat(generation);
      },
      (error: unknown) => {
        clearTimeout(this.#pingDeadline);
        this.#pingDeadline = undefined;
        fail(new Error(`the bus heartbeat PING failed: ${asError(error).message}`));
      },
    );
  }

  /** Drops the current connection; the retry strategy opens a new one. */
  #restart(): void {
    this.#generation++;
    this.#stopTimers();
    this.#connection.disconnect(true);
  }

  #lose(error: Error): void {
    this.#stopTimers();
    if (!this.#live || this.#closed) return;
    this.#live = false;
    this.#events.lost(error);
  }

  #clearWatchdog(): void {
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
  }

  #stopTimers(): void {
    clearTimeout(this.#heartbeat);
    clearTimeout(this.#pingDeadline);
    this.#heartbeat = undefined;
    this.#pingDeadline = undefined;
    this.#clearWatchdog();
  }

  /** Stops for good: no event after this returns; the connection is closed within `ms`. */
  async close(ms: number): Promise<void> {
    this.#closed = true;
    this.#live = false;
    this.#generation++;
    this.#stopTimers();
    const connection = this.#connection;
    connection.removeListener('connect', this.#onConnect);
    connection.removeListener('ready', this.#onReady);
    connection.removeListener('close', this.#onClose);
    connection.removeListener('end', this.#onEnd);
    clearTimeout(this.#restartTimer);
    connection.removeListener('message', this.#onMessage);
    // The error listener stays: a socket error while quitting must not reach ioredis's
    // "Unhandled error event" output (it returns early once closed).
    await quitWithin(connection, ms);
  }
}
