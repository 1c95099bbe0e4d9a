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
 * One line for a logger: what happened, and the error's message and code. Keys are left out on
 * purpose (they may hold user ids or emails, as for tracing); the `warning`/`error` events carry
 * them for code that wants them.
 */
export function logLine(what: string, error: CacheError | Error): string {
  const code = (error as { code?: unknown }).code;
  return `stowage: ${what}: ${error.message}${typeof code === 'string' ? ` [${code}]` : ''}`;
}

/**
 * Calls a logger method and absorbs what it throws: a broken logger must not fail the cache call
 * that was only reporting.
 */
export function logTo(
  logger: CacheLogger | undefined,
  level: 'warn' | 'error',
  message: string,
): boolean {
  if (logger === undefined) return false;
  try {
    logger[level](message);
  } catch {
    // Absorbed on purpose; see above.
  }
  return true;
}
