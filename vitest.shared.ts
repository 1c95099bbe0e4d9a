import type { ViteUserConfig } from 'vitest/config';

const jsonReport = process.env['STOWAGE_JSON_REPORT'] !== undefined;

/** Test options every package merges into its own `vitest.config.ts`. */
export const sharedConfig: ViteUserConfig = {
  test: {
    include: ['test/**/*.test.ts'],
    restoreMocks: true,
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Real servers and fault proxies bind ports; two workers keep a 2-core machine responsive.
    pool: 'forks',
    maxWorkers: 2,
    // .ci/run counts results from the JSON report; vitest's own summary is not read by CI.
    reporters: jsonReport ? ['default', 'json'] : ['default'],
    ...(jsonReport ? { outputFile: { json: 'test-results.json' } } : {}),
  },
};
