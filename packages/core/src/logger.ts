import { CacheConfigError, type CacheError } from './errors.js';

/**
 * Where a client sends what it absorbs instead of throwing: any object with `debug`, `info`,
 * `warn` and `error` methods — `console`, a pino or winston logger, Q2's request logger. Each is
 * called with one string, the form all of them accept (pino takes an object first, winston a
 * message first; a lone string means the same to both).
 */
export interface CacheLogger {
  /** Not used by the client today; required so any logger fits and later levels need no change. */
  debug(message: string): void;
  /** Not used by the client today; required for the same reason as `debug`. */
  info(message: string): void;
  /** Warnings: an undecodable item, a failed integrity check, a quarantine given up. */
  warn(message: string): void;
  /** Backend errors a call absorbed (a `getOrSet` or a cached function that failed open). */
  error(message: string): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** Checks a `logger` option, or throws `CacheConfigError` naming the missing method. */
export function checkLogger(logger: unknown): CacheLogger | undefined {
  if (logger === undefined) return undefined;
  if (typeof logger !== 'object' || logger === null) {
    throw new CacheConfigError(
      '`logger` must be an object with debug, info, warn and error methods (console, pino, winston)',
    );
  }
  for (const level of LEVELS) {
    if (typeof (logger as Record<string, unknown>)[level] !== 'function') {
      throw new CacheConfigError(
        `\`logger\` has no ${level}() method; pass an object with debug, info, warn and error methods (console, pino, winston)`,
      );
    }
  }
  return logger as CacheLogger;
}

/**
 * Logs what a client absorbed as one line — `stowage: <what>: <message> [<code>]` — when there is
 * a logger (the line is built only then). Keys are left out on purpose (they may hold user ids or
 * emails, as for tracing); the `warning`/`error` events carry them for code that wants them. What
 * the logger throws is absorbed: a broken logger must not fail the call that was only reporting.
 */
export function logTo(
  logger: CacheLogger | undefined,
  level: 'warn' | 'error',
  entry: { readonly what: string; readonly error: CacheError | Error },
): void {
  if (logger === undefined) return;
  const code = (entry.error as { code?: unknown }).code;
  try {
    logger[level](
      `stowage: ${entry.what}: ${entry.error.message}${typeof code === 'string' ? ` [${code}]` : ''}`,
    );
  } catch {
    // Absorbed on purpose; see above.
  }
}
