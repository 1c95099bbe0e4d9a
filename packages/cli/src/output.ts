import type { CliIo } from './io.js';

/** JSON for values the codec can return: bigints (Integer items past 2^53) become decimal strings. */
export function toJson(document: unknown): string {
  return JSON.stringify(
    document,
    (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
    2,
  );
}

/** Prints `document` as the one JSON document of a `--json` run. */
export function printJson(io: CliIo, document: unknown): void {
  io.stdout(`${toJson(document)}\n`);
}

/** A decoded value for people: strings as they are, everything else as indented JSON. */
export function showValue(value: unknown): string {
  return typeof value === 'string' ? value : toJson(value);
}

/** Rows of `label: value`, labels padded to one column; `undefined` values are left out. */
export function printRows(
  io: CliIo,
  rows: ReadonlyArray<readonly [string, string | number | undefined]>,
): void {
  const shown = rows.filter(
    (row): row is readonly [string, string | number] => row[1] !== undefined,
  );
  const width = Math.max(0, ...shown.map(([label]) => label.length));
  for (const [label, value] of shown) io.stdout(`${`${label}:`.padEnd(width + 2)}${value}\n`);
}

/** A duration in milliseconds for people: `950 ms`, `42 s`, `3 m 20 s`, `5 h 2 m`, `2 d 4 h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} m ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} m`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A byte count for people: `812 B`, `14.2 KiB`, `3.1 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** A ratio as a percentage with one decimal, `n/a` when undefined. */
export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined ? 'n/a (no reads yet)' : `${(ratio * 100).toFixed(1)} %`;
}
