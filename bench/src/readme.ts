import { readFile, writeFile } from 'node:fs/promises';
import { format, resolveConfig } from 'prettier';
import { renderSummary, runLine } from './report.js';
import type { BenchResults } from './results.js';

/** Markers around the generated part of bench/README.md. */
export const README_START = '<!-- bench:latest:start -->';
/** End marker. */
export const README_END = '<!-- bench:latest:end -->';

/**
 * Replaces the generated section of `readmePath` with the latest run (date, machine line,
 * targets, tables), formatted by the repository's prettier settings so `prettier --check` stays
 * green.
 */
export async function updateReadme(readmePath: string, results: BenchResults): Promise<void> {
  const text = await readFile(readmePath, 'utf8');
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  if (start === -1 || end < start) {
    throw new Error(`${readmePath} has no ${README_START} … ${README_END} section`);
  }
  const section = [
    README_START,
    '',
    `Latest run: ${runLine(results)}.`,
    '',
    results.mode === 'full'
      ? 'Ratios are to the raw client of the same backend (marked \\*), medians of per-round ratios.'
      : `This is a **${results.mode}** run: short rounds, indicative only. Run \`pnpm bench\` for the full measurement.`,
    '',
    renderSummary(results, 'markdown'),
    README_END,
  ].join('\n');
  const updated = text.slice(0, start) + section + text.slice(end + README_END.length);
  const config = (await resolveConfig(readmePath)) ?? {};
  await writeFile(readmePath, await format(updated, { ...config, filepath: readmePath }));
}
