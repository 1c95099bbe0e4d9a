import type { CommandContext } from '../command.js';
import type { CliConfig } from '../config.js';
import { ExitCode } from '../exit-codes.js';
import { printJson } from '../output.js';

/** Reports a key the server does not hold: `{ found: false }` with `--json`, else a line on stderr. */
export function notFound(context: CommandContext, key: string, fullKey: string): ExitCode {
  if (context.flags['json'] === true) printJson(context.io, { key, fullKey, found: false });
  else context.io.stderr(`stowage: no entry under '${fullKey}'\n`);
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
