import type { CommandContext } from '../command.js';
import type { CliConfig } from '../config.js';
import { ExitCode } from '../exit-codes.js';
import { printJson } from '../output.js';

/** A key that reads as missing, and why when it holds something (a marker, an undecodable item). */
export interface Missing {
  readonly key: string;
  readonly fullKey: string;
  readonly reason?: string | undefined;
}

/**
 * Reports a key that reads as missing: `{ key, fullKey, found: false, reason? }` with `--json`,
 * else a line on stderr; resolves {@link ExitCode.NotFound}.
 */
export function notFound(context: CommandContext, missing: Missing): ExitCode {
  const { key, fullKey, reason } = missing;
  if (context.flags['json'] === true) {
    printJson(context.io, {
      key,
      fullKey,
      found: false,
      ...(reason === undefined ? {} : { reason }),
    });
  } else if (reason === undefined) {
    context.io.stderr(`stowage: no entry under '${fullKey}'\n`);
  } else {
    context.io.stderr(`stowage: the entry under '${fullKey}' reads as missing: ${reason}\n`);
  }
  return ExitCode.NotFound;
}

/** The scope of a run for people: `stack=acme`, `stack=acme session=s1`, or `none`. */
export function scopeLabel(config: CliConfig): string {
  if (config.level === undefined || config.scope === undefined) return 'none';
  return Object.entries(config.scope)
    .filter(([, id]) => id !== undefined)
    .map(([level, id]) => `${level}=${String(id)}`)
    .join(' ');
}
