import { GRACE_FLAGS, NOT_FOUND_FLAGS, type CacheClient } from '@stowage/core';
import { LEASE_FLAGS } from '@stowage/core/backend';
import { JSON_OPTION, SCOPE_OPTIONS, type Command, type CommandContext } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { printJson, showValue } from '../output.js';
import { notFound } from './shared.js';

/** Why a key that holds something reads as missing, by its flags; `undefined` when it holds nothing. */
async function whyMissing(client: CacheClient, fullKey: string): Promise<string | undefined> {
  const stored = await client.backend.get(fullKey);
  if (stored === undefined) return undefined;
  switch (stored.flags) {
    case LEASE_FLAGS:
      return 'it holds a lease marker (LEASE_FLAGS): a getOrSet is computing the value';
    case NOT_FOUND_FLAGS:
      return 'it holds a not-found marker (NOT_FOUND_FLAGS, negativeTtl): getOrSet answers undefined';
    case GRACE_FLAGS:
      return 'it holds a value past its ttl (GRACE_FLAGS): getOrSet serves it stale while it refreshes';
    default:
      return `it holds flags ${stored.flags}, which this client does not read ('stowage inspect' shows more)`;
  }
}

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
    // A marker or an undecodable item reads as a miss, as in the service; say which, so it is
    // not mistaken for absence (a second read, only on a miss).
    const reason =
      unreadable === undefined
        ? await whyMissing(client, fullKey)
        : `it does not decode: ${unreadable}`;
    return notFound(context, { key, fullKey, reason });
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
the service, and stderr says which; 'stowage inspect' shows more.

Options:
  --json                 print { key, fullKey, found, value } (integers past 2^53 as strings);
                         a key that reads as missing gives { found: false, reason? }

Examples:
  CACHE_URL=redis://cache:6379 CACHE_PREFIX=billing stowage get plan --level stack --scope acme
  stowage get --url memcached://10.0.0.5:11211 feature-flags --json`,
  options: { ...SCOPE_OPTIONS, ...JSON_OPTION },
  args: { min: 1, max: 1, name: 'KEY' },
  run,
};
