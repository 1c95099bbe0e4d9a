import { defineConfig } from 'tsdown';
import { privateToolConfig } from '../tsdown.base.ts';

// Private and never published: only the worker the tests fork (Node 20 cannot run TypeScript).
export default defineConfig({ ...privateToolConfig, entry: ['src/worker.ts'] });
