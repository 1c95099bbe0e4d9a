// Measures the memory that `entries` small JSON entries take in one store, in a fresh process so
// nothing else is on the heap. Run with --expose-gc. Prints one JSON line.
// Usage: node --expose-gc heap-child.mjs <lru-cache-json|lru-cache-object|stowage-memory> <entries>
import { createMemoryBackend } from '@stowage/backend-memory';
import { CacheClient } from '@stowage/core';
import { LRUCache } from 'lru-cache';
import process from 'node:process';

const [mode, entriesArg] = process.argv.slice(2);
const entries = Number(entriesArg);
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
if (!Number.isSafeInteger(entries) || entries <= 0) throw new Error('entries must be > 0');

// ~100 bytes of JSON, distinct per entry as real cached records are.
const value = (i) => ({
  id: i,
  name: 'donald',
  email: `donald.${i}@example.com`,
  active: i % 3 !== 0,
  score: (i % 10_000) / 100,
  tags: ['billing'],
});

function settle() {
  for (let i = 0; i < 4; i++) globalThis.gc();
  const usage = process.memoryUsage();
  return { heapUsed: usage.heapUsed, arrayBuffers: usage.arrayBuffers };
}

async function fill() {
  if (mode === 'lru-cache-json') {
    const lru = new LRUCache({ max: entries });
    for (let i = 0; i < entries; i++) lru.set(`user:${i}`, JSON.stringify(value(i)));
    return lru;
  }
  if (mode === 'lru-cache-object') {
    const lru = new LRUCache({ max: entries });
    for (let i = 0; i < entries; i++) lru.set(`user:${i}`, value(i));
    return lru;
  }
  if (mode === 'stowage-memory') {
    const cache = new CacheClient({
      backend: createMemoryBackend({ maxEntries: entries }),
      compress: false,
    });
    for (let i = 0; i < entries; i++) await cache.set(`user:${i}`, value(i));
    return cache;
  }
  throw new Error(`unknown mode ${mode}`);
}

const before = settle();
const store = await fill();
const after = settle();
const heapUsed = after.heapUsed - before.heapUsed;
const arrayBuffers = after.arrayBuffers - before.arrayBuffers;
// Keep the store reachable until after the measurement.
globalThis.__benchStore = store;
process.stdout.write(
  `${JSON.stringify({ mode, entries, heapUsed, arrayBuffers, total: heapUsed + arrayBuffers })}\n`,
);
