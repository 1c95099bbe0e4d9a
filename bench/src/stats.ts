/** Median of `values` (mean of the middle two for an even count); `NaN` for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The `p`-th percentile (0–100, nearest rank) of already sorted values; `NaN` for none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** (max − min) / median of `values`, in percent: how much the rounds disagree. */
export function spreadPercent(values: readonly number[]): number {
  if (values.length < 2) return 0;
  return ((Math.max(...values) - Math.min(...values)) / median(values)) * 100;
}

/**
 * A bounded uniform sample of latencies (reservoir sampling, algorithm R), so a fast subject's
 * millions of operations cost a fixed amount of memory and no allocation while measuring.
 */
export class LatencyReservoir {
  readonly #values: Float64Array;
  #seen = 0;

  constructor(capacity: number) {
    this.#values = new Float64Array(capacity);
  }

  /** Offers one latency, in milliseconds. */
  add(value: number): void {
    const seen = this.#seen++;
    if (seen < this.#values.length) {
      this.#values[seen] = value;
      return;
    }
    const slot = Math.floor(Math.random() * (seen + 1));
    if (slot < this.#values.length) this.#values[slot] = value;
  }

  /** How many latencies were offered. */
  get seen(): number {
    return this.#seen;
  }

  /** The kept latencies, sorted ascending. */
  sorted(): Float64Array {
    return this.#values.slice(0, Math.min(this.#seen, this.#values.length)).sort();
  }
}
