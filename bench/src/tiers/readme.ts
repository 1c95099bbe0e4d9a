// Rewrites the generated tables of bench/README.md's "Tiers (L1 + L2)" section. Kept apart from
// the main bench's README code so the tiers runner depends on none of it.
import { readFile, writeFile } from 'node:fs/promises';
import { format, resolveConfig } from 'prettier';

/** Markers around the generated tables of the "Tiers (L1 + L2)" section. */
export const TIERS_MARKERS = {
  start: '<!-- bench:tiers:start -->',
  end: '<!-- bench:tiers:end -->',
} as const;

/**
 * Puts `body` between the tiers markers of `readmePath`, formatted with the repository's prettier
 * settings (so `prettier --check` stays green); the rest of the file is left as it is.
 */
export async function updateTiersReadme(readmePath: string, body: string): Promise<void> {
  const text = await readFile(readmePath, 'utf8');
  const start = text.indexOf(TIERS_MARKERS.start);
  const end = text.indexOf(TIERS_MARKERS.end);
  if (start === -1 || end < start) {
    throw new Error(`${readmePath} has no ${TIERS_MARKERS.start} … ${TIERS_MARKERS.end} section`);
  }
  const section = [TIERS_MARKERS.start, '', body, '', TIERS_MARKERS.end].join('\n');
  const updated = text.slice(0, start) + section + text.slice(end + TIERS_MARKERS.end.length);
  const config = (await resolveConfig(readmePath)) ?? {};
  await writeFile(readmePath, await format(updated, { ...config, filepath: readmePath }));
}
