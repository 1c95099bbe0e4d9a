import { defineProject, mergeConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.ts';

export default mergeConfig(
  sharedConfig,
  defineProject({
    test: {
      name: 'decorator',
      // test/legacy has its own tsconfig with `experimentalDecorators`, which esbuild (vite 7)
      // picks up per file, so those tests exercise the legacy decorator calling convention.
      include: ['test/**/*.test.ts'],
      typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
    },
  }),
);
