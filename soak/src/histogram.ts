/** Buckets of 0.1 ms up to this many milliseconds; slower samples land in the last bucket. */
const MAX_MS = 5000;
const PER_MS = 10;

/**
 * A fixed-size latency histogram, so that recording ten minutes of operations does not grow the
 * heap the soak is watching.
 */
export class Histogram {
  readonly #buckets = new Uint32Array(MAX_MS * PER_MS + 1);
  #count = 0;
  #max = 0;

  /** Records one sample, in milliseconds. */
  record(ms: number): void {
    const bucket = Math.min(this.#buckets.length - 1, Math.max(0, Math.round(ms * PER_MS)));
    this.#buckets[bucket] = (this.#buckets[bucket] as number) + 1;
    this.#count++;
    if (ms > this.#max) this.#max = ms;
  }

  /** The sample at quantile `q` (0 … 1), in milliseconds; 0 when empty. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.ceil(q * this.#count);
    let seen = 0;
    for (let bucket = 0; bucket < this.#buckets.length; bucket++) {
      seen += this.#buckets[bucket] as number;
      if (seen >= rank) return bucket / PER_MS;
    }
    return MAX_MS;
  }

  /** p50, p99 and max, in milliseconds, and the number of samples. */
  summary(): { p50: number; p99: number; max: number; count: number } {
    return {
      p50: this.quantile(0.5),
      p99: this.quantile(0.99),
      max: Math.round(this.#max * 10) / 10,
      count: this.#count,
    };
  }
}
