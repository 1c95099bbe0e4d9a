import { defineConfig } from 'tsdown';
import { baseConfig } from '../../tsdown.base.ts';

// Two entries: the client API, and `@stowage/core/backend`, the kit backends are built on.
export default defineConfig({
  ...baseConfig,
  entry: { index: 'src/index.ts', backend: 'src/backend/kit.ts' },
});
