// What the deep check for lossy values (nested Map, Set, binary data, non-finite numbers; issue 10
// §3) costs on a write: Codec.encode of a ~100 B and a ~10 KB JSON record, with the check and
// without it (the same value behind a `toJSON`, which the check does not enter), in one process.
// Reads never run the check.
//
// Usage: node bench/scripts/encode-cost.mjs   (after `pnpm build`)
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { Codec } from '@stowage/core';
import { sampleValue } from './sample-value.mjs';

const codec = new Codec({
  compress: false,
  cipher: undefined,
  acceptPlaintext: false,
  maxDecompressedBytes: 16 * 1024 * 1024,
  serializer: undefined,
  deserializer: undefined,
});

function measure(label, run, minMs = 1500) {
  for (let i = 0; i < 20_000; i++) run(); // warm-up
  const rounds = [];
  for (let round = 0; round < 5; round++) {
    let ops = 0;
    const started = performance.now();
    while (performance.now() - started < minMs / 5) {
      for (let i = 0; i < 200; i++) run();
      ops += 200;
    }
    rounds.push(((performance.now() - started) * 1000) / ops);
  }
  rounds.sort((a, b) => a - b);
  return { label, usPerOp: rounds[2] };
}

const results = [];
const values = {
  '100 B': sampleValue,
  '10 KB': { rows: Array.from({ length: 85 }, (_, id) => ({ ...sampleValue, id })) },
};
for (const [size, value] of Object.entries(values)) {
  const bytes = JSON.stringify(value).length;
  const unchecked = { toJSON: () => value };
  const without = measure(`${size} (${bytes} B): encode without the check`, () =>
    codec.encode(unchecked, 'k', 'k'),
  );
  const withCheck = measure(`${size} (${bytes} B): encode with the check`, () =>
    codec.encode(value, 'k', 'k'),
  );
  results.push(without, withCheck, {
    label: `${size}: with / without`,
    ratio: withCheck.usPerOp / without.usPerOp,
  });
}
for (const row of results) {
  process.stdout.write(
    row.ratio === undefined
      ? `${row.label.padEnd(48)} ${row.usPerOp.toFixed(3)} µs\n`
      : `${row.label.padEnd(48)} ${row.ratio.toFixed(2)}×\n`,
  );
}
