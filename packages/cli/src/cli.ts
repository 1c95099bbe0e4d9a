#!/usr/bin/env node
// The `stowage` binary: runs the command line and sets the exit code. Letting the process end
// on its own (rather than process.exit) lets stdout drain when it is a pipe.
import { runCli } from './run-cli.js';

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
