// Self time per function of a `.cpuprofile` (from `node --cpu-prof`), heaviest first, with where
// each function lives. Used by the profile-*.mjs scripts' `--summarize`.
import { readFileSync } from 'node:fs';
import process from 'node:process';

/** Prints the `top` heaviest functions by self time of the profile at `path`. */
export function summarizeProfile(path, top = 40) {
  const profile = JSON.parse(readFileSync(path, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url === '' ? '(native)' : url.replace(/^.*\/(packages|node_modules)\//, '$1/');
    const name = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + (deltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  for (const [name, micros] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((micros / total) * 100).toFixed(1).padStart(5)}%  ${name}\n`);
  }
}
