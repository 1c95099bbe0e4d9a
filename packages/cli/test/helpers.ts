import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built binary: tests run what users run. */
export const BIN: string = fileURLToPath(new URL('../dist/cli.mjs', import.meta.url));

/** What one run of the binary printed and how it exited. */
export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node dist/cli.mjs …args` with only `env` as its `CACHE_*` environment (the test
 * process's own `CACHE_*` variables are dropped so they cannot leak in).
 */
export function stowage(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<Run> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('CACHE_')),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the binary and parses its stdout as the one JSON document `--json` promises. */
export async function stowageJson(
  args: readonly string[],
  env?: Readonly<Record<string, string>>,
): Promise<Run & { readonly json: Record<string, unknown> }> {
  const run = await stowage([...args, '--json'], env);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(run.stdout) as Record<string, unknown>;
  } catch (error) {
    throw new Error(
      `stdout is not one JSON document (exit ${run.code}): ${run.stdout}\nstderr: ${run.stderr}`,
      { cause: error },
    );
  }
  return { ...run, json };
}
