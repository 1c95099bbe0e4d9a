import { defineConfig } from 'tsdown';
import { baseConfig } from '../../tsdown.base.ts';

// Private: only ESM, consumed by tests and the bench harness inside the workspace.
export default defineConfig({ ...baseConfig, format: ['esm'], publint: false });
