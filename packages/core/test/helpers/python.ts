// Runs Debian's Python (with the `cryptography` package) as an independent reference
// implementation. A missing interpreter fails the test: it is part of the toolchain.
import { spawnSync } from 'node:child_process';

/** The Python interpreter: `PYTHON_BIN` or Debian's `/usr/bin/python3`. */
export const PYTHON: string = process.env['PYTHON_BIN'] ?? '/usr/bin/python3';

/** Runs `script` with `input` as JSON on stdin and parses its stdout as JSON. */
export function runPython<R>(script: string, input: unknown): R {
  const result = spawnSync(PYTHON, ['-c', script], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${PYTHON} exited with ${String(result.status)}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as R;
}
