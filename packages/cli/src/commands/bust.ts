import { JSON_OPTION, SCOPE_OPTIONS, type Command, type CommandContext } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { printJson } from '../output.js';
import { keyPrefixOf, localPathOf, printKeyTable, recentKeysOf } from './recent.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Runs `work` with a spinner and the elapsed time on stderr when it is a terminal. */
async function withProgress<T>(io: CliIo, label: string, work: () => Promise<T>): Promise<T> {
  if (!io.isTTY) return work();
  const started = Date.now();
  let frame = 0;
  const draw = (): void => {
    io.stderr(
      `\r${SPINNER[frame++ % SPINNER.length] ?? ''} ${label} ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  };
  draw();
  const timer = setInterval(draw, 100);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    io.stderr('\r\x1b[2K'); // erase the progress line
  }
}

async function run(context: CommandContext): Promise<ExitCode> {
  const { io, flags, config } = context;
  const keyPrefix = keyPrefixOf(flags);
  const path = localPathOf(config, 'bust');
  const dryRun = flags['dry-run'] === true;
  const json = flags['json'] === true;
  const opened = await context.open({ recentKeysFile: true });
  const keys = await recentKeysOf(path, opened, keyPrefix);
  if (!json && keys.length > 0) {
    io.stdout(dryRun ? 'would delete:\n' : 'deleting:\n');
    printKeyTable(io.stdout, keys);
  }
  let deleted = 0;
  if (!dryRun && keys.length > 0) {
    // core's bustRecent re-reads the file and deletes what matches with one deleteMany — never a
    // flush — then removes those keys from the file; a key recorded meanwhile is deleted too.
    deleted = await withProgress(io, `busting ${keys.length} keys…`, () =>
      opened.root.bustRecent({ level: config.level, scope: config.scope, prefix: keyPrefix }),
    );
  }
  if (json) printJson(io, { dryRun, keys, deleted });
  else if (dryRun)
    io.stdout(`dry run: ${keys.length} key${keys.length === 1 ? '' : 's'} would be deleted\n`);
  else io.stdout(`deleted ${deleted} key${deleted === 1 ? '' : 's'}\n`);
  return ExitCode.Ok;
}

/** `stowage bust`: deletes the recent keys of a scope. */
export const bustCommand: Command = {
  name: 'bust',
  summary: "delete a scope's recent keys (never a server flush)",
  usage: 'stowage bust [--level L --scope ID] [--key-prefix P] [--dry-run] [--json]',
  help: `Deletes the keys the service's processes recorded in the shared recent-keys file
(CACHE_LOCAL_PATH) — of one scope with --level/--scope (its nested scopes included), or of one
caller-key prefix with --key-prefix — with one pipelined delete, and removes them from the file.
It never flushes the server. It first lists what it deletes; --dry-run stops there. On a
terminal, a progress line shows while the delete runs.

Options:
  --key-prefix P         only caller keys starting with P, in exactly the chosen scope
  --dry-run              list what would be deleted, delete nothing
  --json                 print { dryRun, keys: [...], deleted }

Examples:
  CACHE_URL=memcached://10.0.0.5:11211 CACHE_PREFIX=billing CACHE_LOCAL_PATH=/run/billing/recent-keys.json stowage bust --level stack --scope acme --dry-run
  stowage bust --level stack --scope acme --key-prefix report:`,
  options: {
    ...SCOPE_OPTIONS,
    ...JSON_OPTION,
    'key-prefix': { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  args: { min: 0, max: 0, name: '' },
  run,
};
