// What the tests of a README section (stampede, resilience) share: a machine to put in results,
// and a README in a temporary folder with text before, between and after the section's markers.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Machine } from '../src/machine.js';

/** A machine line's facts, fixed so the rendered text does not depend on where tests run. */
export const MACHINE: Machine = {
  date: '2026-01-01T00:00:00.000Z',
  node: 'v20',
  cpu: 'cpu',
  cores: 2,
  os: 'linux',
  memoryGiB: 4,
  loadStart: [1, 1, 1],
};

/**
 * Writes a README whose section between `start` and `end` says `old`, lets `update` rewrite it,
 * checks that the text around the markers stayed and `old` went, and returns the new text.
 */
export async function rewriteSection(
  markers: { readonly start: string; readonly end: string },
  update: (readme: string) => Promise<void>,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stowage-section-'));
  try {
    const readme = join(dir, 'README.md');
    await writeFile(readme, `# T\n\nKept.\n\n${markers.start}\nold\n${markers.end}\n\nAfter.\n`);
    await update(readme);
    const text = await readFile(readme, 'utf8');
    expect(text).toContain('Kept.');
    expect(text).toContain('After.');
    expect(text).not.toContain('old\n');
    expect(text).toContain(markers.start);
    expect(text).toContain(markers.end);
    return text;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
