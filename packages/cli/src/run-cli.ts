import { parseArgs } from 'node:util';
import { CacheConfigError, CacheKeyError, CacheScopeError, isCacheError } from '@stowage/core';
import { CONNECTION_OPTIONS, type Command, type Flags } from './command.js';
import { bustCommand } from './commands/bust.js';
import { deleteCommand } from './commands/delete.js';
import { flushCommand } from './commands/flush.js';
import { getCommand } from './commands/get.js';
import { inspectCommand } from './commands/inspect.js';
import { keysCommand } from './commands/keys.js';
import { statsCommand } from './commands/stats.js';
import {
  openCache,
  resolveConfig,
  type CliConfig,
  type OpenCache,
  type OpenOptions,
} from './config.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { CONNECTION_HELP, EXIT_HELP, SCOPE_HELP } from './help-text.js';
import { processIo, type CliIo } from './io.js';

const COMMANDS: readonly Command[] = [
  inspectCommand,
  getCommand,
  deleteCommand,
  keysCommand,
  bustCommand,
  statsCommand,
  flushCommand,
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  const list = COMMANDS.map(
    (command) => `  ${command.name.padEnd(width)}  ${command.summary}`,
  ).join('\n');
  return `stowage — look into and manage a Stowage cache (memcached or Redis)

Usage: stowage COMMAND [ARGS] [options]

Commands:
${list}

Run 'stowage COMMAND --help' for a command's options and examples.

${CONNECTION_HELP}

${EXIT_HELP}
`;
}

function commandHelp(command: Command): string {
  const scoped = 'level' in command.options ? `\n${SCOPE_HELP}\n` : '';
  return `Usage: ${command.usage}\n\n${command.help}\n${scoped}\n${CONNECTION_HELP}\n\n${EXIT_HELP}\n`;
}

function parse(command: Command, argv: readonly string[]): { args: string[]; flags: Flags } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...CONNECTION_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // node's messages name the flag ("Unknown option '--nope'"); the hint says where to look.
    throw new UsageError(
      `${(error as Error).message.split('. ')[0] ?? 'bad option'}; run 'stowage ${command.name} --help' for its options`,
    );
  }
  const args = parsed.positionals;
  if (
    parsed.values['help'] !== true &&
    (args.length < command.args.min || args.length > command.args.max)
  ) {
    const wanted =
      command.args.max === 0
        ? 'no arguments'
        : command.args.max === 1
          ? `one ${command.args.name}`
          : `at least one ${command.args.name}`;
    throw new UsageError(
      `${command.name} takes ${wanted}; got ${args.length === 0 ? 'none' : args.map((arg) => `'${arg}'`).join(' ')}`,
    );
  }
  return { args, flags: parsed.values };
}

/** Replaces the configured secrets in a message, in case a lower layer quoted one. */
function scrub(message: string, config: CliConfig | undefined): string {
  let text = message;
  const secrets = [config?.encryptionKey, passwordOf(config?.url)].filter(
    (secret): secret is string => secret !== undefined && secret.length >= 3,
  );
  for (const secret of secrets) text = text.split(secret).join('***');
  return text;
}

function passwordOf(url: string | undefined): string | undefined {
  const password =
    url === undefined ? undefined : /^[a-z][a-z0-9+.-]*:\/\/[^/?#@]*?:([^/?#@]*)@/i.exec(url)?.[1];
  return password === undefined || password === '' ? undefined : password;
}

/** Codes of failures that are the server's or the network's, not the command line's. */
const UNREACHABLE: ReadonlySet<string> = new Set(['E_CACHE_BACKEND', 'E_CACHE_TIMEOUT']);

function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof UsageError) return ExitCode.Usage;
  // Bad keys, scopes and settings are found before any I/O: the input needs fixing, not the server.
  if (
    isCacheError(error) &&
    [CacheConfigError, CacheKeyError, CacheScopeError].some((type) => error instanceof type)
  )
    return ExitCode.Usage;
  return ExitCode.Error;
}

async function execute(command: Command, argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let config: CliConfig | undefined;
  let opened: Promise<OpenCache> | undefined;
  try {
    const { args, flags } = parse(command, argv);
    if (flags['help'] === true) {
      io.stdout(commandHelp(command));
      return ExitCode.Ok;
    }
    command.check?.(args, flags);
    const resolved = resolveConfig(flags, io.env);
    config = resolved;
    const open = (options?: OpenOptions): Promise<OpenCache> =>
      (opened ??= openCache(resolved, io.env, options));
    return await command.run({ io, args, flags, config: resolved, open });
  } catch (error) {
    const code = exitCodeOf(error);
    io.stderr(`stowage ${command.name}: ${scrub((error as Error).message, config)}\n`);
    if (isCacheError(error) && UNREACHABLE.has(error.code)) {
      io.stderr('check the URL (--url or CACHE_URL) and that the server is up\n');
    }
    if (code === ExitCode.Usage) io.stderr(`usage: ${command.usage}\n`);
    return code;
  } finally {
    if (opened !== undefined)
      await opened.then(
        (cache) => cache.root.close(),
        () => undefined,
      );
  }
}

/**
 * Runs `stowage` with `argv` (the arguments after the program name) and resolves its exit code
 * (see {@link ExitCode}). Output goes to `io`; nothing calls `process.exit`.
 *
 * @example
 * process.exitCode = await runCli(['stats', '--url', 'memcached://127.0.0.1:11211']);
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    // Without a command it is a usage error: the overview goes to stderr, as errors do.
    (name === undefined ? io.stderr : io.stdout)(overview());
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) {
    io.stderr(
      `stowage: unknown command '${name}'; commands: ${COMMANDS.map((c) => c.name).join(', ')} (run 'stowage --help')\n`,
    );
    return ExitCode.Usage;
  }
  return execute(command, rest, io);
}
