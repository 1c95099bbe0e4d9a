import { CacheTimeoutError } from '../errors.js';

/** What a `getOrSet` factory receives. */
export interface FactoryContext<V = unknown> {
  /**
   * Aborted when the call's `hardTimeout` passes and when the client closes: pass it to `fetch`,
   * database drivers and anything else that can stop early. A result returned after it was
   * aborted is not stored.
   */
  readonly signal: AbortSignal;
  /** The stale value the call would serve if the factory failed (`grace`), else `undefined`. */
  readonly stale: V | undefined;
  /** The caller's key. */
  readonly key: string;
}

/** Computes a value on a miss; may ignore its context. */
export type Factory<V> = (context: FactoryContext<V>) => V | Promise<V>;

/** One run of a factory: the promise of its result, and whether it was cut off. */
export interface FactoryRun<V> {
  /** Resolves the factory's result; rejects with its error, or `CacheTimeoutError` on `hardTimeout`. */
  readonly result: Promise<V>;
  /** Aborts the run (its `signal`), e.g. when a stale value was served and nobody waits. */
  readonly abort: (reason?: unknown) => void;
  /** True once the run was aborted: its result, if any, must not be stored. */
  readonly aborted: () => boolean;
}

/**
 * Starts `factory` with its context. Its `signal` follows `shutdown` (the client's close) and
 * `hardTimeoutMs` (`0`: none); on either, `result` rejects at once — the factory may keep running
 * if it ignores the signal, but nothing waits for it and its result is dropped.
 */
export function runFactory<V>(
  factory: Factory<V>,
  context: { readonly key: string; readonly stale: V | undefined; readonly shutdown: AbortSignal },
  hard: { readonly timeoutMs: number; readonly backend: string },
): FactoryRun<V> {
  const controller = new AbortController();
  const onShutdown = (): void => {
    controller.abort(context.shutdown.reason);
  };
  if (context.shutdown.aborted) onShutdown();
  else context.shutdown.addEventListener('abort', onShutdown, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (hard.timeoutMs > 0) {
    timer = setTimeout(() => {
      controller.abort(
        new CacheTimeoutError(
          `the factory did not finish within hardTimeout (${hard.timeoutMs} ms)`,
          {
            backend: hard.backend,
            operation: 'getOrSet',
            key: context.key,
            timeoutMs: hard.timeoutMs,
          },
        ),
      );
    }, hard.timeoutMs);
  }
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener(
      'abort',
      // The reason is the CacheTimeoutError or CacheClosedError this module aborted with.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      () => reject(controller.signal.reason),
      { once: true },
    );
  });
  // Unobserved when the factory wins; it must not count as an unhandled rejection.
  aborted.catch(() => {});
  const started = (async () =>
    factory({ signal: controller.signal, stale: context.stale, key: context.key }))();
  const result = Promise.race([started, aborted]).finally(() => {
    clearTimeout(timer);
    context.shutdown.removeEventListener('abort', onShutdown);
  });
  // A factory that rejects after the run was cut off must not be an unhandled rejection either.
  started.catch(() => {});
  return {
    result,
    abort: (reason) => {
      controller.abort(reason);
    },
    aborted: () => controller.signal.aborted,
  };
}
