import { JSON_OPTION, SCOPE_OPTIONS, type Command, type CommandContext } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { printJson } from '../output.js';

async function run(context: CommandContext): Promise<ExitCode> {
  const { io, flags } = context;
  const keys = [...new Set(context.args)];
  const { client } = await context.open();
  // Every key is checked (CacheKeyError, before any I/O) before the first one is deleted.
  const fullKeys = keys.map((key) => client.fullKey(key));
  const existed = await Promise.all(keys.map((key) => client.delete(key)));
  const deleted = fullKeys.filter((_, i) => existed[i] === true);
  const missing = fullKeys.filter((_, i) => existed[i] !== true);
  if (flags['json'] === true) {
    printJson(io, { deleted, missing });
  } else {
    for (const fullKey of deleted) io.stdout(`deleted ${fullKey}\n`);
    for (const fullKey of missing) io.stdout(`not found ${fullKey}\n`);
    io.stdout(`${deleted.length} deleted, ${missing.length} not found\n`);
  }
  return ExitCode.Ok;
}

/** `stowage delete KEY…`: deletes keys. */
export const deleteCommand: Command = {
  name: 'delete',
  summary: 'delete one or more keys',
  usage: 'stowage delete KEY... [--level L --scope ID] [--json]',
  help: `Deletes each KEY (prefixed and scoped like the service's keys) and says which existed.
A key that did not exist is not an error: the exit code is 0 once every delete was sent.

Options:
  --json                 print { deleted: [full keys], missing: [full keys] }

Examples:
  CACHE_URL=memcached://10.0.0.5:11211 CACHE_PREFIX=billing stowage delete plan limits --level stack --scope acme
  stowage delete --url redis://cache:6379 stale-report`,
  options: { ...SCOPE_OPTIONS, ...JSON_OPTION },
  args: { min: 1, max: Number.POSITIVE_INFINITY, name: 'KEY' },
  run,
};
