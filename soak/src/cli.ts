// `pnpm --filter @stowage/soak soak [--seconds=600] [--workers=3] [--no-faults]`: runs the soak,
// prints the report, exits non-zero on any stale or foreign read, unhandled rejection or crash.
import { parseArgs } from 'node:util';
import { formatReport, runSoak } from './run.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    workers: { type: 'string', default: '3' },
    'no-faults': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const workers = Number(values.workers);
if (!Number.isInteger(seconds) || seconds < 1 || !Number.isInteger(workers) || workers < 1) {
  process.stderr.write('--seconds and --workers must be positive integers\n');
  process.exit(2);
}
const report = await runSoak({
  durationMs: seconds * 1000,
  workers,
  faults: !values['no-faults'],
  log: (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(`${formatReport(report)}\n`);
const c = report.classification;
const crashes = report.workers.reduce(
  (n, w) => n + w.unhandledRejections + w.uncaughtExceptions,
  0,
);
process.exit(c.stale + c.foreign + crashes === 0 ? 0 : 1);
