import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import {
  DURATION_BUCKETS_SECONDS,
  STOWAGE_ATTRIBUTES as A,
  STOWAGE_METRICS as M,
} from './semconv.js';
import type { TraceContextLike } from './trace-context.js';

/** One finished call, as the metrics see it. */
export interface FinishedCall {
  readonly context: TraceContextLike;
  /** Wall time from `start` to `asyncEnd`, in seconds. */
  readonly seconds: number;
  /** {@link commonAttributes} of the call. */
  readonly attributes: Attributes;
  /** `error.type` when the call threw. */
  readonly errorType: string | undefined;
}

/** The instruments, created once per install from the chosen meter. */
export class CacheMetrics {
  readonly #duration: Histogram;
  readonly #factoryDuration: Histogram;
  readonly #hits: Counter;
  readonly #misses: Counter;
  readonly #staleServes: Counter;
  readonly #errors: Counter;
  readonly #bytesIn: Counter;
  readonly #bytesOut: Counter;
  readonly #leaseWaits: Counter;

  constructor(meter: Meter) {
    const advice = { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] };
    this.#duration = meter.createHistogram(M.operationDuration, {
      description: 'Duration of Stowage cache client operations.',
      unit: 's',
      advice,
    });
    this.#factoryDuration = meter.createHistogram(M.factoryDuration, {
      description: 'Duration of getOrSet factory runs (computing a missing or stale value).',
      unit: 's',
      advice,
    });
    const counter = (name: string, unit: string, description: string): Counter =>
      meter.createCounter(name, { unit, description });
    this.#hits = counter(M.hits, '{hit}', 'Reads that found a value or a remembered not-found.');
    this.#misses = counter(M.misses, '{miss}', 'Reads that found nothing usable.');
    this.#staleServes = counter(M.staleServes, '{serve}', 'Reads answered past the ttl.');
    this.#errors = counter(M.errors, '{error}', 'Cache calls that threw, by error.type.');
    this.#bytesIn = counter(M.bytesIn, 'By', 'Stored bytes read from the cache.');
    this.#bytesOut = counter(M.bytesOut, 'By', 'Stored bytes written to the cache.');
    this.#leaseWaits = counter(M.leaseWaits, '{wait}', 'getOrSet calls that waited on a lease.');
  }

  /** Records one finished call on every instrument it concerns. */
  record(call: FinishedCall): void {
    const { context, attributes } = call;
    const failed =
      call.errorType === undefined ? attributes : { ...attributes, [A.errorType]: call.errorType };
    const outcome = context.outcome;
    const timed = outcome === undefined ? failed : { ...failed, [A.outcome]: outcome };
    if (context.operation === 'factory') this.#factoryDuration.record(call.seconds, timed);
    else this.#duration.record(call.seconds, timed);
    switch (outcome) {
      case 'hit':
      case 'notFound':
        // A remembered "not found" spared the factory like a hit; the outcome tells them apart.
        this.#hits.add(1, { ...attributes, [A.outcome]: outcome });
        break;
      case 'miss':
        this.#misses.add(1, attributes);
        break;
      case 'stale':
        this.#staleServes.add(1, attributes);
        break;
      default:
        break;
    }
    // An error is counted once its event fired, whatever outcome the context was left with.
    if (call.errorType !== undefined) this.#errors.add(1, failed);
    if (context.bytesIn !== undefined && context.bytesIn > 0) {
      this.#bytesIn.add(context.bytesIn, attributes);
    }
    if (context.bytesOut !== undefined && context.bytesOut > 0) {
      this.#bytesOut.add(context.bytesOut, attributes);
    }
    if (context.leaseWaited) this.#leaseWaits.add(1, attributes);
  }
}
