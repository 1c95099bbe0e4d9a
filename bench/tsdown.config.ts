import { defineConfig } from 'tsdown';
import { privateToolConfig } from '../tsdown.base.ts';

// Private and never published: one entry. `scripts/heap-child.mjs` is plain JavaScript and runs as
// it is, from src/ in tests and from dist/ in `pnpm bench`.
export default defineConfig({ ...privateToolConfig, entry: ['src/cli.ts'] });
