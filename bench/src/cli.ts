// `pnpm bench [--quick] [options]`: runs the benchmark, prints the tables, writes results/*.json
// and the README's "latest run" section.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { updateReadme, updateResilienceReadme, updateStampedeReadme } from './readme.js';
import { renderSummary } from './report.js';
import { renderResilience, RESILIENCE_DEFAULTS, runResilience } from './resilience/run.js';
import { FULL, QUICK, runBench, type BenchOptions } from './run.js';
import { renderStampede, runStampede, STAMPEDE_DEFAULTS } from './stampede/run.js';
import { SUBJECTS } from './subjects/index.js';
import { Backend, LoopShape, PayloadSize, ScenarioId } from './types.js';

const RESILIENCE_STALE = RESILIENCE_DEFAULTS.stale as Exclude<
  typeof RESILIENCE_DEFAULTS.stale,
  false
>;

const HELP = `Usage: pnpm bench [--quick] [options]
       pnpm bench --stampede [--rounds=N] [--backends=memcached,redis] [--subjects=LIST] [--no-miss]
       pnpm bench --resilience [--rounds=N] [--backends=LIST] [--factory-ms=MS] [--no-stale|--no-hit]

  --quick              short rounds (under two minutes); the default is the full run
  --rounds=N           timed rounds per cell
  --round-ms=MS        length of one round per subject
  --warmup-ms=MS       untimed warm-up per subject and cell
  --backends=LIST      ${Object.values(Backend).join(',')}
  --subjects=LIST      only subjects whose id contains one of these (baselines always run)
  --scenarios=LIST     ${Object.values(ScenarioId).join(',')}
  --payloads=LIST      ${Object.values(PayloadSize).join(',')}
  --inflight=LIST      e.g. 1,64
  --loops=LIST         ${Object.values(LoopShape).join(',')}: how loops call at more than 1 in flight — again as soon as a
                       call settles (reply), or each call in a macrotask of its own (turn); default both
  --no-codec           skip the compression/encryption cost
  --no-heap            skip the memory-per-entry measurement
  --out=DIR            where to write the JSON (default bench/results)
  --no-readme          do not rewrite bench/README.md's latest-run section

  --stampede           instead: ${STAMPEDE_DEFAULTS.processes} processes × ${STAMPEDE_DEFAULTS.calls} concurrent getOrSet on one missing key per
                       round (factory ${STAMPEDE_DEFAULTS.factoryMs} ms), leases on and off against the peers, then the
                       miss latency; --rounds is rounds per subject (default ${STAMPEDE_DEFAULTS.rounds}); rewrites the
                       README's "Stampede and leases" tables
  --factory-ms=MS      with --stampede: how long the factory takes (default ${STAMPEDE_DEFAULTS.factoryMs})
  --no-miss            with --stampede: skip the miss-latency scenario

  --resilience         instead: sequential getOrSet on stale keys (factory ${RESILIENCE_STALE.factoryMs} ms) with grace only,
                       softTimeout '${RESILIENCE_STALE.softTimeoutMs}ms' and staleWhileRevalidate — p50/p99 per call — then
                       fresh hits of graced vs plain entries, on memory, memcached and Redis;
                       --rounds is stale-hit rounds (default ${RESILIENCE_STALE.rounds}), --factory-ms the refresh's time;
                       rewrites the README's "Grace and stale-while-revalidate" tables
  --no-stale           with --resilience: skip the stale-hit scenario
  --no-hit             with --resilience: skip the grace-header cost on a hit
`;

function list<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new Error(`--${name}: unknown '${item}'; known: ${allowed.join(', ')}`);
  }
  return items as T[];
}

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0)
    throw new Error(`--${name} must be a positive integer; got '${value}'`);
  return parsed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      'round-ms': { type: 'string' },
      'warmup-ms': { type: 'string' },
      backends: { type: 'string' },
      subjects: { type: 'string' },
      scenarios: { type: 'string' },
      payloads: { type: 'string' },
      inflight: { type: 'string' },
      loops: { type: 'string' },
      'no-codec': { type: 'boolean' },
      'no-heap': { type: 'boolean' },
      out: { type: 'string' },
      'no-readme': { type: 'boolean' },
      stampede: { type: 'boolean' },
      'factory-ms': { type: 'string' },
      'no-miss': { type: 'boolean' },
      resilience: { type: 'boolean' },
      'no-stale': { type: 'boolean' },
      'no-hit': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    process.stdout.write(HELP);
    return;
  }
  if (values.stampede === true) {
    await stampedeMain(values);
    return;
  }
  if (values.resilience === true) {
    await resilienceMain(values);
    return;
  }
  const preset = values.quick === true ? QUICK : FULL;
  const filter = values.subjects?.split(',').filter((item) => item !== '');
  const inflight = values.inflight?.split(',').map((item) => positive(item, 'inflight') as number);
  const overrides = {
    rounds: positive(values.rounds, 'rounds'),
    roundMs: positive(values['round-ms'], 'round-ms'),
    warmupMs: positive(values['warmup-ms'], 'warmup-ms'),
    backends: list(values.backends, Object.values(Backend), 'backends'),
    scenarios: list(values.scenarios, Object.values(ScenarioId), 'scenarios'),
    payloads: list(values.payloads, Object.values(PayloadSize), 'payloads'),
    inflight,
    loops: list(values.loops, Object.values(LoopShape), 'loops'),
  };
  const custom = Object.values(overrides).some((v) => v !== undefined) || filter !== undefined;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const outDir = values.out ?? fileURLToPath(new URL('../results', import.meta.url));
  const options: BenchOptions = {
    ...preset,
    ...defined,
    mode: custom ? `${preset.mode}, custom` : preset.mode,
    ...(filter === undefined
      ? {}
      : {
          subjects: SUBJECTS.filter(
            (s) => s.baseline === true || filter.some((f) => s.id.includes(f)),
          ),
        }),
    codec: values['no-codec'] === true ? false : preset.codec,
    heap: values['no-heap'] === true ? false : preset.heap,
    outDir,
    log: (text) => process.stdout.write(`${text}\n`),
  };
  process.stdout.write(
    `stowage bench: ${options.mode} mode, ${options.rounds} rounds × ${options.roundMs} ms\n`,
  );
  const results = await runBench(options);
  process.stdout.write(`\n${renderSummary(results, 'text')}\n`);
  process.stdout.write(`\nwrote ${outDir}/latest.json (${Math.round(results.durationSec)} s)\n`);
  if (values['no-readme'] !== true && values.out === undefined) {
    await updateReadme(fileURLToPath(new URL('../README.md', import.meta.url)), results);
    process.stdout.write('updated bench/README.md\n');
  }
}

/** `--stampede`: the stampede and miss-latency scenarios (src/stampede/). */
async function stampedeMain(values: {
  rounds?: string | undefined;
  backends?: string | undefined;
  subjects?: string | undefined;
  out?: string | undefined;
  'no-readme'?: boolean | undefined;
  'no-miss'?: boolean | undefined;
  'factory-ms'?: string | undefined;
}): Promise<void> {
  const remote = [Backend.Memcached, Backend.Redis];
  const outDir = values.out ?? fileURLToPath(new URL('../results', import.meta.url));
  const filter = values.subjects?.split(',').filter((item) => item !== '');
  const rounds = positive(values.rounds, 'rounds') ?? STAMPEDE_DEFAULTS.rounds;
  process.stdout.write(`stowage bench: stampede, ${rounds} rounds per subject\n`);
  const results = await runStampede({
    ...STAMPEDE_DEFAULTS,
    rounds,
    factoryMs: positive(values['factory-ms'], 'factory-ms') ?? STAMPEDE_DEFAULTS.factoryMs,
    backends: list(values.backends, remote, 'backends') ?? STAMPEDE_DEFAULTS.backends,
    ...(filter === undefined ? {} : { filter }),
    miss: values['no-miss'] === true ? false : STAMPEDE_DEFAULTS.miss,
    outDir,
    log: (text) => process.stdout.write(`${text}\n`),
  });
  process.stdout.write(`\n${renderStampede(results, 'text')}\n`);
  process.stdout.write(
    `wrote ${outDir}/stampede-latest.json (${Math.round(results.durationSec)} s)\n`,
  );
  // Only a run of the defaults stands for the README's numbers.
  const custom = [values.rounds, values.backends, values['factory-ms'], filter].some(
    (v) => v !== undefined,
  );
  if (
    values['no-readme'] !== true &&
    values.out === undefined &&
    !custom &&
    results.miss !== undefined
  ) {
    await updateStampedeReadme(fileURLToPath(new URL('../README.md', import.meta.url)), results);
    process.stdout.write('updated bench/README.md (Stampede and leases)\n');
  }
}

/** `--resilience`: stale hits with and without SWR, and the grace header on a hit (src/resilience/). */
async function resilienceMain(values: {
  rounds?: string | undefined;
  backends?: string | undefined;
  out?: string | undefined;
  'no-readme'?: boolean | undefined;
  'factory-ms'?: string | undefined;
  'no-stale'?: boolean | undefined;
  'no-hit'?: boolean | undefined;
}): Promise<void> {
  const outDir = values.out ?? fileURLToPath(new URL('../results', import.meta.url));
  const stale = {
    ...RESILIENCE_STALE,
    rounds: positive(values.rounds, 'rounds') ?? RESILIENCE_STALE.rounds,
    factoryMs: positive(values['factory-ms'], 'factory-ms') ?? RESILIENCE_STALE.factoryMs,
  };
  process.stdout.write('stowage bench: resilience (grace, soft timeout, stale-while-revalidate)\n');
  const results = await runResilience({
    backends:
      list(values.backends, Object.values(Backend), 'backends') ?? RESILIENCE_DEFAULTS.backends,
    stale: values['no-stale'] === true ? false : stale,
    hitCost: values['no-hit'] === true ? false : RESILIENCE_DEFAULTS.hitCost,
    outDir,
    log: (text) => process.stdout.write(`${text}\n`),
  });
  process.stdout.write(`\n${renderResilience(results, 'text')}\n`);
  process.stdout.write(
    `wrote ${outDir}/resilience-latest.json (${Math.round(results.durationSec)} s)\n`,
  );
  // Only a run of the defaults stands for the README's numbers.
  const custom = [
    values.rounds,
    values.backends,
    values['factory-ms'],
    values['no-stale'],
    values['no-hit'],
  ].some((v) => v !== undefined);
  if (values['no-readme'] !== true && values.out === undefined && !custom) {
    await updateResilienceReadme(fileURLToPath(new URL('../README.md', import.meta.url)), results);
    process.stdout.write('updated bench/README.md (Grace and stale-while-revalidate)\n');
  }
}

// Exit through process.exit on Ctrl-C / kill, so testkit's exit hook stops the servers by PID.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
