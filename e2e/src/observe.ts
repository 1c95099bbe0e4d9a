// How a process of the fleet — a worker, or the parent test, which is one more process — observes
// its calls (how each settled, and when) and itself (unhandled rejections, uncaught exceptions,
// process warnings). Counted, not fatal: the tests assert there are none, which says more than a
// crashed process would.
import type { CallOutcome } from './protocol.js';

/** A readable one-line description of anything thrown. */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** How `call` settled, and when: milliseconds since `began` (a `performance.now()`). */
export function settled(
  call: Promise<unknown>,
  began: number = performance.now(),
): Promise<CallOutcome> {
  return call.then(
    (value): CallOutcome => ({ ok: true, value, ms: performance.now() - began }),
    (error: unknown): CallOutcome => ({
      ok: false,
      error: errorText(error),
      ms: performance.now() - began,
    }),
  );
}

/** What {@link watchProcess} saw, each as `name: message`. */
export interface ProcessEvents {
  readonly unhandledRejections: readonly string[];
  readonly uncaughtExceptions: readonly string[];
  /** Process warnings a library emitted (a listener leak, a deprecation): bugs a fleet would log on every pod. */
  readonly warnings: readonly string[];
}

/** {@link ProcessEvents} as they come, until `stop()`. */
export interface WatchedProcess extends ProcessEvents {
  /** Removes the listeners. */
  stop(): void;
}

/** Starts recording this process's {@link ProcessEvents}; `stop()` removes the listeners. */
export function watchProcess(): WatchedProcess {
  const unhandledRejections: string[] = [];
  const uncaughtExceptions: string[] = [];
  const warnings: string[] = [];
  const onRejection = (reason: unknown): void => void unhandledRejections.push(errorText(reason));
  const onException = (error: unknown): void => void uncaughtExceptions.push(errorText(error));
  const onWarning = (warning: Error): void => void warnings.push(errorText(warning));
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  process.on('warning', onWarning);
  return {
    unhandledRejections,
    uncaughtExceptions,
    warnings,
    stop() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
      process.off('warning', onWarning);
    },
  };
}
