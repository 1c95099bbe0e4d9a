/** Settings of a {@link Breaker}. */
export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly threshold: number;
  /** First open period, in milliseconds; doubles on every failed probe. */
  readonly cooldownMs: number;
  /** Longest open period, in milliseconds. */
  readonly maxCooldownMs: number;
  /** Clock in milliseconds. */
  readonly now: () => number;
}

/** Where a breaker stands. */
export const BreakerState = {
  /** Calls go through. */
  Closed: 'closed',
  /** Calls fail at once without touching the network. */
  Open: 'open',
  /** The open period is over and one call (the probe) is on its way; others still fail at once. */
  Probing: 'probing',
} as const;

/** One of the {@link BreakerState} values. */
export type BreakerState = (typeof BreakerState)[keyof typeof BreakerState];

/**
 * A circuit breaker for one server. After `threshold` consecutive failures it opens: calls for
 * that server's keys fail at once, so a dead or frozen server costs nothing but its own keys.
 * When the open period ends, the next call is let through as a probe; its success closes the
 * breaker, its failure reopens it for twice as long (capped, with ±20 % jitter so a fleet of
 * processes does not probe in lockstep). No timers: the state moves on calls.
 */
export class Breaker {
  readonly #options: BreakerOptions;
  #failures = 0;
  #state: BreakerState = BreakerState.Closed;
  #openUntil = 0;
  #cooldownMs: number;
  #lastFailure = '';

  constructor(options: BreakerOptions) {
    this.#options = options;
    this.#cooldownMs = options.cooldownMs;
  }

  /** The current state. */
  get state(): BreakerState {
    return this.#state;
  }

  /** Why the breaker opened (the last failure's message). */
  get lastFailure(): string {
    return this.#lastFailure;
  }

  /** Milliseconds until the next probe may go (0 when calls go through). */
  get retryInMs(): number {
    return this.#state === BreakerState.Open
      ? Math.max(0, Math.ceil(this.#openUntil - this.#options.now()))
      : 0;
  }

  /** True when a call may go to the server now; the first call after the open period is the probe. */
  allow(): boolean {
    if (this.#state === BreakerState.Closed) return true;
    if (this.#state === BreakerState.Probing) return false;
    if (this.#options.now() < this.#openUntil) return false;
    this.#state = BreakerState.Probing;
    return true;
  }

  /** Records an answer from the server. */
  success(): void {
    this.#failures = 0;
    if (this.#state !== BreakerState.Closed) {
      this.#state = BreakerState.Closed;
      this.#cooldownMs = this.#options.cooldownMs;
    }
  }

  /** Records a transport failure (refused, reset, timeout, protocol error). */
  failure(message: string): void {
    this.#lastFailure = message;
    this.#failures++;
    if (this.#state === BreakerState.Probing) {
      this.#cooldownMs = Math.min(this.#cooldownMs * 2, this.#options.maxCooldownMs);
      this.#open();
    } else if (this.#state === BreakerState.Closed && this.#failures >= this.#options.threshold) {
      this.#open();
    }
  }

  #open(): void {
    this.#state = BreakerState.Open;
    const jitter = 0.8 + Math.random() * 0.4;
    this.#openUntil = this.#options.now() + this.#cooldownMs * jitter;
  }
}
