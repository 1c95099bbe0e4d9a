import { defineConfig } from 'tsdown';

// Private and never published: the CLI and the worker it forks, ESM, no declarations.
export default defineConfig({
  entry: ['src/cli.ts', 'src/worker.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true,
  dts: false,
  publint: false,
});
