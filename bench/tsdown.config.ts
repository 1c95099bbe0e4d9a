import { defineConfig } from 'tsdown';
import { privateToolConfig } from '../tsdown.base.ts';

// Private and never published. `stampede-worker` is the process `--stampede` forks; it is built
// next to cli.mjs so the coordinator finds it in dist/. `scripts/heap-child.mjs` is plain
// JavaScript and runs as it is, from src/ in tests and from dist/ in `pnpm bench`.
export default defineConfig({
  ...privateToolConfig,
  entry: { cli: 'src/cli.ts', 'stampede-worker': 'src/stampede/worker.ts' },
});
