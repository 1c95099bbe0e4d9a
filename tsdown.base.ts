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
