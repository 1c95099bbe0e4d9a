export { runCli } from './run-cli.js';
export { ExitCode, UsageError } from './exit-codes.js';
export { processIo } from './io.js';
export type { CliIo } from './io.js';
