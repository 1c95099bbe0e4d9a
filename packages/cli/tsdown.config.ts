import { defineConfig } from 'tsdown';
import { baseConfig } from '../../tsdown.base.ts';

// Two entries: the programmatic `runCli` (index) and the `stowage` binary (cli), which only
// calls it with process.argv and sets the exit code.
export default defineConfig({
  ...baseConfig,
  entry: { index: 'src/index.ts', cli: 'src/cli.ts' },
});
