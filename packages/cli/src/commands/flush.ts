import { redactUrl } from '@stowage/core';
import { JSON_OPTION, type Command, type CommandContext } from '../command.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { printJson } from '../output.js';

async function run(context: CommandContext): Promise<ExitCode> {
  const { root } = await context.open();
  await root.flushAll();
  const where = redactUrl(context.config.url);
  if (context.flags['json'] === true) printJson(context.io, { flushed: true, url: where });
  else context.io.stdout(`flushed every key on ${where}\n`);
  return ExitCode.Ok;
}

/** `stowage flush --yes`: removes everything on the server. */
export const flushCommand: Command = {
  name: 'flush',
  summary: 'remove EVERY key on the server (needs --yes)',
  usage: 'stowage flush --yes [--json]',
  help: `Removes every key on the server — every service's and every tenant's, not only this
prefix's (memcached flush_all on every server of the URL, Redis FLUSHDB). Without --yes it
refuses and exits with code 2. To remove only some keys, use 'stowage delete'.

Options:
  --yes                  really flush
  --json                 print { flushed: true, url } (the URL without its password)

Examples:
  CACHE_URL=memcached://10.0.0.5:11211 stowage flush --yes`,
  options: { ...JSON_OPTION, yes: { type: 'boolean' } },
  args: { min: 0, max: 0, name: '' },
  check: (_args, flags) => {
    if (flags['yes'] !== true) {
      throw new UsageError(
        "flush removes EVERY key on the server, for every service and tenant; run 'stowage flush --yes' if you mean it",
      );
    }
  },
  run,
};
