import { JSON_OPTION, SCOPE_OPTIONS, type Command, type CommandContext } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { printJson, showValue } from '../output.js';
import { notFound } from './shared.js';

async function run(context: CommandContext): Promise<ExitCode> {
  const { io, flags } = context;
  const key = context.args[0] as string;
  const { client } = await context.open();
  const fullKey = client.fullKey(key);
  let unreadable: string | undefined;
  client.on('warning', (warning) => {
    if (warning.kind === 'decode') unreadable = warning.error.message;
  });
  const value = await client.get(key);
  if (value === undefined) {
    // The client reads an undecodable item as a miss; say why, so it is not mistaken for absence.
    if (unreadable !== undefined)
      io.stderr(`stowage: the entry under '${fullKey}' does not decode: ${unreadable}\n`);
    return notFound(context, key, fullKey);
  }
  if (flags['json'] === true) printJson(io, { key, fullKey, found: true, value });
  else io.stdout(`${showValue(value)}\n`);
  return ExitCode.Ok;
}

/** `stowage get KEY`: the decoded value, as a service's client reads it. */
export const getCommand: Command = {
  name: 'get',
  summary: 'print the value of a key as the service reads it',
  usage: 'stowage get KEY [--level L --scope ID] [--json]',
  help: `Reads KEY through a client configured like the service's (prefix, scope, encryption key)
and prints the value: strings as they are, other values as indented JSON. Lease markers,
not-found markers and entries that do not decode read as missing (exit code 3), as they do in
the service; 'stowage inspect' shows what they are.

Options:
  --json                 print { key, fullKey, found, value } (integers past 2^53 as strings)

Examples:
  CACHE_URL=redis://cache:6379 CACHE_PREFIX=billing stowage get plan --level stack --scope acme
  stowage get --url memcached://10.0.0.5:11211 feature-flags --json`,
  options: { ...SCOPE_OPTIONS, ...JSON_OPTION },
  args: { min: 1, max: 1, name: 'KEY' },
  run,
};
