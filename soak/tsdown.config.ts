import { defineConfig } from 'tsdown';
import { privateToolConfig } from '../tsdown.base.ts';

// Private and never published: the CLI and the worker it forks.
export default defineConfig({ ...privateToolConfig, entry: ['src/cli.ts', 'src/worker.ts'] });
