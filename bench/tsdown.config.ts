import { defineConfig } from 'tsdown';

// Private and never published: one ESM entry, no declarations. `scripts/heap-child.mjs` is plain
// JavaScript and runs as it is, from src/ in tests and from dist/ in `pnpm bench`.
export default defineConfig({
  entry: ['src/cli.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true,
  dts: false,
  publint: false,
});
