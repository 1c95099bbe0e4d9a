import { readFile, writeFile } from 'node:fs/promises';
import { format, resolveConfig } from 'prettier';
import { renderSummary, runLine } from './report.js';
import type { BenchResults } from './results.js';
import { renderResilience, resilienceRunLine, type ResilienceResults } from './resilience/run.js';
import { renderStampede, stampedeRunLine, type StampedeResults } from './stampede/run.js';

/** Markers around the generated part of bench/README.md. */
export const README_START = '<!-- bench:latest:start -->';
/** End marker. */
export const README_END = '<!-- bench:latest:end -->';
/** Markers around the generated tables of the "Stampede and leases" section. */
export const STAMPEDE_START = '<!-- bench:stampede:start -->';
/** End marker. */
export const STAMPEDE_END = '<!-- bench:stampede:end -->';
/** Markers around the generated tables of the "Grace and stale-while-revalidate" section. */
export const RESILIENCE_START = '<!-- bench:resilience:start -->';
/** End marker. */
export const RESILIENCE_END = '<!-- bench:resilience:end -->';

/**
 * Replaces what lies between `start` and `end` in `readmePath` with `body`, formatted by the
 * repository's prettier settings so `prettier --check` stays green.
 */
export async function replaceSection(
  readmePath: string,
  markers: { readonly start: string; readonly end: string },
  body: string,
): Promise<void> {
  const { start: startMarker, end: endMarker } = markers;
  const text = await readFile(readmePath, 'utf8');
  const start = text.indexOf(startMarker);
  const end = text.indexOf(endMarker);
  if (start === -1 || end < start) {
    throw new Error(`${readmePath} has no ${startMarker} … ${endMarker} section`);
  }
  const section = [startMarker, '', body, endMarker].join('\n');
  const updated = text.slice(0, start) + section + text.slice(end + endMarker.length);
  const config = (await resolveConfig(readmePath)) ?? {};
  await writeFile(readmePath, await format(updated, { ...config, filepath: readmePath }));
}

/**
 * Replaces the generated section of `readmePath` with the latest run (date, machine line,
 * targets, tables).
 */
export async function updateReadme(readmePath: string, results: BenchResults): Promise<void> {
  const body = [
    `Latest run: ${runLine(results)}.`,
    '',
    results.mode === 'full'
      ? 'Ratios are to the raw client of the same backend (marked \\*), medians of per-round ratios.'
      : `This is a **${results.mode}** run: short rounds, indicative only. Run \`pnpm bench\` for the full measurement.`,
    '',
    renderSummary(results, 'markdown'),
  ].join('\n');
  await replaceSection(readmePath, { start: README_START, end: README_END }, body);
}

/** Replaces the generated tables of the "Stampede and leases" section with `results`. */
export async function updateStampedeReadme(
  readmePath: string,
  results: StampedeResults,
): Promise<void> {
  const body = [`Run: ${stampedeRunLine(results)}.`, '', renderStampede(results, 'markdown')].join(
    '\n',
  );
  await replaceSection(readmePath, { start: STAMPEDE_START, end: STAMPEDE_END }, body);
}

/** Replaces the generated tables of the "Grace and stale-while-revalidate" section. */
export async function updateResilienceReadme(
  readmePath: string,
  results: ResilienceResults,
): Promise<void> {
  const body = [
    `Run: ${resilienceRunLine(results)}.`,
    '',
    renderResilience(results, 'markdown'),
  ].join('\n');
  await replaceSection(readmePath, { start: RESILIENCE_START, end: RESILIENCE_END }, body);
}
