import swc from 'unplugin-swc';
import { defineProject, mergeConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.ts';

// NestJS apps use legacy decorators and emitDecoratorMetadata (Nest's DI reads design:paramtypes);
// esbuild cannot emit that metadata, so SWC compiles the tests, with the flags of tsconfig.json.
export default mergeConfig(
  sharedConfig,
  defineProject({ plugins: [swc.vite()], test: { name: 'nestjs' } }),
);
