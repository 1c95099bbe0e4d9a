#!/usr/bin/env node
// The `stowage` binary: runs the command line and exits with its code.
import { runCli } from './run-cli.js';

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Exit once stdout and stderr have flushed what was written (a pipe drains asynchronously),
  // rather than waiting for the event loop to empty: after a refused Redis connection, a timer
  // the driver leaves behind kept the process alive for about two seconds after close().
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
