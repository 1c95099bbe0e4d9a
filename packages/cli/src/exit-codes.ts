/**
 * The exit codes of `stowage`. Scripts branch on them, so they never change meaning:
 * `NotFound` is only ever returned by the read commands that name one key (`get`, `inspect`).
 */
export const ExitCode = {
  /** The command did what it was asked. */
  Ok: 0,
  /** The command failed: the server could not be reached, the configuration is wrong, … */
  Error: 1,
  /** The command line is wrong (unknown command or flag, missing argument), or `flush` without `--yes`. */
  Usage: 2,
  /** `get` or `inspect`: the server holds nothing under the key. */
  NotFound: 3,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A mistake on the command line, found before any I/O. The message says what is wrong and what
 * to type instead; the CLI prints it with the command's usage line and exits with
 * {@link ExitCode.Usage}.
 */
export class UsageError extends Error {
  override readonly name: string = 'UsageError';
}
