/**
 * One deadline timer for every call started within about a millisecond, instead of one timer per
 * command: ioredis's `commandTimeout` arms and clears a timer for each command, which cost about
 * 0.8 µs of CPU per command at 64 calls in flight — a quarter of a 50-key `getMany`, which is 50
 * commands (measured with `bench/scripts/harness-shapes.mjs`). Calls that start together settle
 * together, so one timer serves them all; it is cleared once all have settled.
 */

/** How long a deadline keeps taking new calls, in milliseconds (see {@link DeadlineGroup}). */
export const GROUP_SPAN_MS = 1;

/**
 * The deadline of the calls that started within {@link GROUP_SPAN_MS} of its first one: its timer
 * expires every call still open `timeoutMs` after that first call, so a call never waits longer
 * than `timeoutMs` and may be expired up to `GROUP_SPAN_MS` earlier — never later.
 */
export class DeadlineGroup {
  /** When the first call joined, from `performance.now()`, in milliseconds. */
  readonly startedAt: number;
  readonly #expiries: Array<() => void> = [];
  #open = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param timeoutMs - the deadline of every call of the group, in milliseconds from `startedAt`.
   * @param startedAt - when the first call joined (`performance.now()`), in milliseconds.
   */
  constructor(timeoutMs: number, startedAt: number) {
    this.startedAt = startedAt;
    this.#timer = setTimeout(() => this.#expire(), timeoutMs);
  }

  /**
   * True while a call may still join: the group is young and its timer has neither fired nor been
   * cleared (a group whose calls all settled takes no more, so no call joins a disarmed timer).
   */
  accepts(now: number): boolean {
    return this.#timer !== undefined && now - this.startedAt < GROUP_SPAN_MS;
  }

  /** Adds a call; `expire` rejects it when the deadline passes first. Call `settled()` once it settles. */
  join(expire: () => void): void {
    this.#open++;
    this.#expiries.push(expire);
  }

  /** A call of the group settled; the last one clears the timer. */
  settled(): void {
    this.#open--;
    if (this.#open > 0 || this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#expiries.length = 0;
  }

  #expire(): void {
    this.#timer = undefined;
    const expiries = this.#expiries.splice(0);
    // Each `expire` rejects its call unless it already settled.
    for (const expire of expiries) expire();
  }
}
