import type { ParseArgsConfig } from 'node:util';
import type { CliConfig, OpenCache, OpenOptions } from './config.js';
import type { ExitCode } from './exit-codes.js';
import type { CliIo } from './io.js';

/** The option definitions of `node:util` `parseArgs`. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Flags every command takes: where the cache is. */
export const CONNECTION_OPTIONS: OptionSpec = {
  url: { type: 'string' },
  prefix: { type: 'string' },
  'encryption-key': { type: 'string' },
  'local-path': { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

/** Flags of the commands that read or write keys of one scope. */
export const SCOPE_OPTIONS: OptionSpec = {
  level: { type: 'string' },
  scope: { type: 'string' },
  stack: { type: 'string' },
};

/** `--json`, for the commands whose result is one JSON document. */
export const JSON_OPTION: OptionSpec = { json: { type: 'boolean' } };

/** The parsed flags of one run, by name. */
export type Flags = Readonly<
  Record<string, string | boolean | Array<string | boolean> | undefined>
>;

/** The value of a string flag (`parseArgs` has already refused a missing value). */
export function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}

/** What a command runs with. */
export interface CommandContext {
  /** Where output goes and the environment comes from. */
  readonly io: CliIo;
  /** The arguments after the command name, flags removed. */
  readonly args: readonly string[];
  /** The flags, by name (the connection flags and the command's own). */
  readonly flags: Flags;
  /** The resolved configuration (secrets included: never print it). */
  readonly config: CliConfig;
  /** Opens the cache once; the runner closes it after the command. */
  readonly open: (options?: OpenOptions) => Promise<OpenCache>;
}

/** One `stowage` command. */
export interface Command {
  /** What is typed after `stowage`. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The usage line (`stowage get KEY [options]`). */
  readonly usage: string;
  /** The rest of `--help`: what it does, its own flags, examples. */
  readonly help: string;
  /** Its flags beyond {@link CONNECTION_OPTIONS}. */
  readonly options: OptionSpec;
  /** How many arguments it takes, and what to call them in errors. */
  readonly args: { readonly min: number; readonly max: number; readonly name: string };
  /**
   * Checks the command line before anything is opened (e.g. `flush` without `--yes`); throws
   * `UsageError`.
   */
  readonly check?: (args: readonly string[], flags: Flags) => void;
  /** Runs the command; resolves its exit code. */
  readonly run: (context: CommandContext) => Promise<ExitCode>;
}
