import { DEFAULT_TIMEOUT_MS } from '@stowage/core';
import { JSON_OPTION, type Command, type CommandContext } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, formatDuration, formatRatio, printJson } from '../output.js';
import { serverStats } from '../server-stats.js';

async function run(context: CommandContext): Promise<ExitCode> {
  const { io, flags } = context;
  const { root } = await context.open();
  const backend = root.backend;
  const report = await serverStats(backend, backend.capabilities.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  if (flags['json'] === true) {
    printJson(io, report);
    return ExitCode.Ok;
  }
  io.stdout(`backend: ${report.backend}\n`);
  for (const server of report.servers) {
    const parts = [
      `version ${server.version ?? '?'}`,
      server.uptimeSeconds === undefined
        ? undefined
        : `up ${formatDuration(server.uptimeSeconds * 1000)}`,
      server.items === undefined ? undefined : `${server.items} items`,
      server.bytes === undefined ? undefined : formatBytes(server.bytes),
      `${server.hits} hits`,
      `${server.misses} misses`,
      `hit ratio ${formatRatio(server.hitRatio)}`,
      server.evictions === undefined ? undefined : `${server.evictions} evictions`,
    ];
    io.stdout(`${server.server}: ${parts.filter((part) => part !== undefined).join(', ')}\n`);
  }
  io.stdout(
    `hit ratio: ${formatRatio(report.hitRatio)} (${report.hits} hits, ${report.misses} misses)\n`,
  );
  return ExitCode.Ok;
}

/** `stowage stats`: the servers' own counters and hit ratio. */
export const statsCommand: Command = {
  name: 'stats',
  summary: "show the servers' counters and hit ratio",
  usage: 'stowage stats [--json]',
  help: `Reads each server's counters — memcached 'stats' on every server of the URL, Redis INFO
(server, memory, stats, keyspace) on the server or every master of a Cluster — and prints items,
bytes, hits, misses, evictions and the hit ratio, per server and over all of them. The counters
are the server's since it started, for every service that uses it.

Options:
  --json                 print { backend, servers: [...], hits, misses, hitRatio }; each server
                         also carries every counter it reported under 'raw'

Examples:
  CACHE_URL=memcached://10.0.0.5:11211,10.0.0.6:11211 stowage stats
  stowage stats --url redis://cache:6379 --json`,
  options: { ...JSON_OPTION },
  args: { min: 0, max: 0, name: '' },
  run,
};
