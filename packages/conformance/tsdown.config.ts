import { defineConfig } from 'tsdown';
import { baseConfig } from '../../tsdown.base.ts';

// vitest is a peer: the suite registers tests in the caller's vitest run.
export default defineConfig({ ...baseConfig, external: ['vitest', '@stowage/core'] });
