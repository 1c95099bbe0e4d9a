/**
 * Where the CLI reads its environment and writes its output. The binary passes the process's;
 * tests and embedders pass their own.
 */
export interface CliIo {
  /** Writes to standard output (the result: text, or one JSON document with `--json`). */
  readonly stdout: (text: string) => void;
  /** Writes to standard error (errors, warnings, progress). */
  readonly stderr: (text: string) => void;
  /** Environment to read `CACHE_*` settings from. @default process.env */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether standard error is a terminal: `bust` draws its progress line only then. */
  readonly isTTY: boolean;
}

/** The {@link CliIo} of this process. */
export function processIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    isTTY: process.stderr.isTTY === true,
  };
}
