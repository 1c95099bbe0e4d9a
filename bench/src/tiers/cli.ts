// `pnpm bench:tiers [--quick] [options]`: L1 + L2 hit, miss and write of Stowage, BentoCache and
// cacheable in the same run on private servers, the cost a bus adds to a write, and the bus
// delivery bound between two processes. Prints text tables and the README's markdown.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hasBinary, startMemcached, startRedis, type ServerHandle } from '@stowage/testkit';
import { describeMachine, finishMachine } from '../machine.js';
import { busFactory } from './bus.js';
import { measureCells, type CellOptions } from './cells.js';
import { measureDelivery } from './delivery.js';
import { TIER_SUBJECTS, TierScenario, type TierContext } from './subjects.js';
import { updateTiersReadme } from './readme.js';
import { renderTiers, type TiersResults } from './summary.js';

const HELP = `Usage: pnpm bench:tiers [--quick] [--rounds=N] [--round-ms=MS] [--warmup-ms=MS]
                        [--inflight=1,64] [--samples=N] [--no-delivery] [--json=PATH] [--readme]

       pnpm bench:tiers --from-json=PATH [--readme]

  --readme          rewrite the tables of bench/README.md's "Tiers (L1 + L2)" section
  --from-json=PATH  measure nothing: print (and with --readme, write) a run saved with --json
`;

const README_PATH = fileURLToPath(new URL('../../README.md', import.meta.url));

function positive(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new Error(`--${name}: '${value}'`);
  return parsed;
}

/** Prints a run's tables (text, then markdown) and, when asked, puts them in the README. */
async function report(results: TiersResults, readme: boolean): Promise<void> {
  process.stdout.write(`${renderTiers(results, false)}\n\n${renderTiers(results, true)}\n`);
  if (readme) {
    await updateTiersReadme(README_PATH, renderTiers(results, true));
    process.stderr.write(`rewrote the tiers tables of ${README_PATH}\n`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      'round-ms': { type: 'string' },
      'warmup-ms': { type: 'string' },
      inflight: { type: 'string' },
      samples: { type: 'string' },
      'no-delivery': { type: 'boolean' },
      json: { type: 'string' },
      readme: { type: 'boolean' },
      'from-json': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    process.stdout.write(HELP);
    return;
  }
  if (values['from-json'] !== undefined) {
    const saved = JSON.parse(await readFile(values['from-json'], 'utf8')) as TiersResults;
    await report(saved, values.readme === true);
    return;
  }
  const quick = values.quick === true;
  const log = (text: string): void => void process.stderr.write(`${text}\n`);
  const options: CellOptions = {
    keys: 10_000,
    missL1Entries: 1000,
    inflight: values.inflight?.split(',').map((n) => positive(n, 1, 'inflight')) ?? [1, 64],
    rounds: positive(values.rounds, quick ? 3 : 7, 'rounds'),
    roundMs: positive(values['round-ms'], quick ? 200 : 400, 'round-ms'),
    warmupMs: positive(values['warmup-ms'], quick ? 150 : 300, 'warmup-ms'),
    scenarios: Object.values(TierScenario),
    log,
  };
  const results = await measureAll(options, {
    samples: positive(values.samples, quick ? 100 : 300, 'samples'),
    delivery: values['no-delivery'] !== true,
  });
  if (values.json !== undefined) await writeFile(values.json, JSON.stringify(results, null, 2));
  await report(results, values.readme === true);
}

/** Starts the servers, measures every cell and the delivery bound, and stops the servers. */
async function measureAll(
  options: CellOptions,
  delivery: { readonly samples: number; readonly delivery: boolean },
): Promise<TiersResults> {
  const { log, ...config } = options;
  const machine = describeMachine();
  const servers: ServerHandle[] = [];
  try {
    if (!hasBinary('redis-server')) throw new Error('redis-server is not installed');
    const redis = await startRedis();
    servers.push(redis);
    const memcached = hasBinary('memcached') ? await startMemcached() : undefined;
    if (memcached !== undefined) servers.push(memcached);
    const bus = busFactory(`redis://${redis.address}`);
    log(
      `servers: redis ${redis.address}, memcached ${memcached?.address ?? 'absent'}; bus: ${bus.kind}`,
    );
    const ctx: TierContext = { redis, memcached, bus };
    const subjects = TIER_SUBJECTS.filter(
      (s) => memcached !== undefined || !s.id.includes('memcached'),
    );
    const { cells, failures, copies } = await measureCells(ctx, subjects, options);
    const rows = delivery.delivery
      ? await measureDelivery(ctx, {
          samples: delivery.samples,
          workerPath: fileURLToPath(new URL('./worker.mjs', import.meta.url)),
          log,
        })
      : [];
    return {
      machine: finishMachine(machine),
      bus: bus.kind,
      config: { ...config, samples: delivery.samples },
      subjects: subjects.map(({ id, name, description }) => ({ id, name, description })),
      copies,
      failures,
      cells,
      delivery: rows,
    };
  } finally {
    await Promise.allSettled(servers.map((server) => server.stop()));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
