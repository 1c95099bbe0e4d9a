// Profiles Stowage's memory path (get hit, set) so the hot frames in @stowage/core can be found:
//   node --cpu-prof --cpu-prof-dir=/tmp/stowage-prof scripts/profile-memory.mjs [get|set|both] [seconds]
//   node scripts/profile-memory.mjs --summarize /tmp/stowage-prof/<file>.cpuprofile
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient } from '@stowage/core';
import { summarizeProfile } from './summarize-profile.mjs';
import { sampleValue } from './sample-value.mjs';

const [first, second] = process.argv.slice(2);

if (first === '--summarize') {
  summarizeProfile(second);
  process.exit(0);
}

const mode = first ?? 'both';
const seconds = Number(second ?? 5);
const cache = new CacheClient({
  backend: createMemoryBackend({ maxEntries: 100_000 }),
  prefix: 'bench',
  compress: false,
});
const value = sampleValue;
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
