import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './stats.js';

/** The stores whose memory is compared. */
export const HEAP_MODES = ['lru-cache-json', 'lru-cache-object', 'stowage-memory'] as const;
/** One of {@link HEAP_MODES}. */
export type HeapMode = (typeof HEAP_MODES)[number];

/** Memory per entry of one store, medians over repeats. */
export interface HeapCost {
  /** Which store. */
  readonly mode: HeapMode;
  /** Entries stored. */
  readonly entries: number;
  /** V8 heap growth per entry, in bytes. */
  readonly heapBytesPerEntry: number;
  /** ArrayBuffer (Buffer) memory growth per entry, in bytes: where Stowage's stored bytes live. */
  readonly arrayBufferBytesPerEntry: number;
  /** Both together, per entry, in bytes. */
  readonly totalBytesPerEntry: number;
  /** `totalBytesPerEntry` divided by lru-cache-json's. */
  readonly ratioToLruJson: number;
}

interface ChildReport {
  readonly heapUsed: number;
  readonly arrayBuffers: number;
  readonly total: number;
}

// `../scripts/` from both src/ (tests) and dist/ (the built CLI).
const CHILD = fileURLToPath(new URL('../scripts/heap-child.mjs', import.meta.url));

async function runChild(mode: HeapMode, entries: number): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', CHILD, mode, String(entries)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`heap child (${mode}) exited with ${code}: ${err.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim()) as ChildReport);
      } catch (error) {
        reject(new Error(`heap child (${mode}) printed no JSON: ${out}`, { cause: error }));
      }
    });
  });
}

/**
 * Measures memory per entry of `entries` small JSON values in raw lru-cache (JSON strings and
 * objects) and in Stowage's memory backend, each in its own process with `--expose-gc`, the
 * modes interleaved `repeats` times; reports medians.
 */
export async function measureHeap(entries: number, repeats: number): Promise<HeapCost[]> {
  const reports = new Map<HeapMode, ChildReport[]>();
  for (let r = 0; r < repeats; r++) {
    for (const mode of HEAP_MODES)
      reports.set(mode, [...(reports.get(mode) ?? []), await runChild(mode, entries)]);
  }
  const perEntry = (mode: HeapMode, field: keyof ChildReport): number =>
    median((reports.get(mode) ?? []).map((report) => report[field])) / entries;
  const baseline = perEntry('lru-cache-json', 'total');
  return HEAP_MODES.map((mode) => ({
    mode,
    entries,
    heapBytesPerEntry: perEntry(mode, 'heapUsed'),
    arrayBufferBytesPerEntry: perEntry(mode, 'arrayBuffers'),
    totalBytesPerEntry: perEntry(mode, 'total'),
    ratioToLruJson: perEntry(mode, 'total') / baseline,
  }));
}
