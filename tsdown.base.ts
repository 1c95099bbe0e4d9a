import type { UserConfig } from 'tsdown';

/**
 * Build options every publishable package spreads into its own `tsdown.config.ts`:
 * dual ESM + CommonJS output with declarations for each, named exports only (a default export
 * breaks CommonJS interop), and publint run on every build.
 */
export const baseConfig: UserConfig = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true,
  publint: true,
  outputOptions: { exports: 'named' },
};

/**
 * Build options of the private tools (bench, soak): ESM only, no declarations, never published,
 * so no publint. Each tool adds its own `entry`.
 */
export const privateToolConfig: UserConfig = {
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true,
  dts: false,
  publint: false,
};
