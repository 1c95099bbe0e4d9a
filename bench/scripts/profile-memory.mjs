// Profiles Stowage's memory path (get hit, set) so the hot frames in @stowage/core can be found:
//   node --cpu-prof --cpu-prof-dir=/tmp/stowage-prof scripts/profile-memory.mjs [get|set|both] [seconds]
//   node scripts/profile-memory.mjs --summarize /tmp/stowage-prof/<file>.cpuprofile
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient } from '@stowage/core';

const [first, second] = process.argv.slice(2);

if (first === '--summarize') {
  // Self time per function, heaviest first, with where it lives.
  const profile = JSON.parse(readFileSync(second, 'utf8'));
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
  for (const [name, micros] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    process.stdout.write(`${((micros / total) * 100).toFixed(1).padStart(5)}%  ${name}\n`);
  }
  process.exit(0);
}

const mode = first ?? 'both';
const seconds = Number(second ?? 5);
const cache = new CacheClient({
  backend: createMemoryBackend({ maxEntries: 100_000 }),
  prefix: 'bench',
  compress: false,
});
const value = {
  id: 1000,
  name: 'donald',
  email: 'donald.1000@example.com',
  active: true,
  score: 52.74,
  tags: ['billing'],
};
const keys = Array.from({ length: 256 }, (_, i) => `s0:small:${i}`);
for (const key of keys) await cache.set(key, value);
const end = performance.now() + seconds * 1000;
let ops = 0;
while (performance.now() < end) {
  for (let i = 0; i < 1024; i++) {
    const key = keys[i & 255];
    if (mode === 'get' || (mode === 'both' && i % 2 === 0)) await cache.get(key);
    else await cache.set(key, value);
  }
  ops += 1024;
}
process.stdout.write(`${mode}: ${Math.round(ops / seconds)} ops/s\n`);
