// The tiers bench's tables: one per scenario, the cost a bus adds to a write, and the delivery
// bound. Pure functions of the results, so the test checks their shape without servers.
import { machineLine, type Machine } from '../machine.js';
import {
  formatRate,
  formatUs,
  formatUsDelta,
  renderMarkdown,
  renderText,
  type Table,
} from '../report.js';
import { formatMs } from '../summary.js';
import { median } from '../stats.js';
import type { CellOptions, TierCell } from './cells.js';
import type { DeliveryRow } from './delivery.js';
import { TierScenario, type TierSubject } from './subjects.js';

/** Headings of the scenario tables. */
export const SCENARIO_TITLES: Readonly<Record<TierScenario, string>> = {
  [TierScenario.Hit]: 'L1 hit (key in the L1)',
  [TierScenario.Miss]: 'L1 miss + L2 hit',
  [TierScenario.Write]: 'write (`set`)',
};

const ratioText = (ratio: number | undefined): string =>
  ratio === undefined || !Number.isFinite(ratio) ? '–' : `${ratio.toFixed(2)}×`;

function find(
  cells: readonly TierCell[],
  where: Pick<TierCell, 'scenario' | 'inflight' | 'subject'>,
): TierCell | undefined {
  return cells.find(
    (c) =>
      c.scenario === where.scenario && c.inflight === where.inflight && c.subject === where.subject,
  );
}

/**
 * One scenario: per subject and concurrency, median ops/s, the paired ratio to the first row
 * (Stowage over Redis), p50, p99 and this process's CPU per operation; then the share of reads the L1 answered where it is counted.
 */
export function scenarioTable(
  cells: readonly TierCell[],
  subjects: readonly Pick<TierSubject, 'id' | 'name'>[],
  scenario: TierScenario,
): Table {
  const inflights = [...new Set(cells.map((c) => c.inflight))].sort((a, b) => a - b);
  const header = ['subject'];
  for (const n of inflights)
    header.push(`${n}× ops/s`, `${n}× vs first`, `${n}× p50 µs`, `${n}× p99 µs`, `${n}× CPU µs/op`);
  if (scenario !== TierScenario.Write) header.push('L1 answered');
  const rows: string[][] = [header];
  for (const subject of subjects) {
    const own = inflights.map((inflight) =>
      find(cells, { scenario, inflight, subject: subject.id }),
    );
    if (own.every((cell) => cell === undefined)) continue;
    const row = [subject.name];
    for (const cell of own) {
      if (cell === undefined) row.push('', '', '', '', '');
      else {
        row.push(
          formatRate(cell.medianOpsPerSec),
          ratioText(cell.ratio),
          formatUs(cell.p50Us),
          formatUs(cell.p99Us),
          formatUs(cell.cpuUsPerOp),
        );
      }
    }
    if (scenario !== TierScenario.Write) {
      const rates = own.flatMap((cell) => (cell?.l1HitRate === undefined ? [] : [cell.l1HitRate]));
      row.push(rates.length === 0 ? '' : `${Math.round(Math.min(...rates) * 1000) / 10}%`);
    }
    rows.push(row);
  }
  const right = header.map((_, i) => i).filter((i) => i > 0);
  return { rows, right };
}

/** A write without a bus and the same library's write with one. */
export interface BusPair {
  readonly name: string;
  readonly without: string;
  readonly with: string;
}

/** The pairs of the bus-cost table. */
export const BUS_PAIRS: readonly BusPair[] = [
  { name: 'stowage Redis (default `set`)', without: 'stowage-redis', with: 'stowage-redis-bus' },
  {
    name: 'stowage Redis (skip check)',
    without: 'stowage-redis-skip-check',
    with: 'stowage-redis-bus-skip-check',
  },
  { name: 'bentocache', without: 'bentocache', with: 'bentocache-bus' },
];

/**
 * What a bus adds to a write: per pair and concurrency, ops/s without and with the bus, their
 * paired ratio (same rounds), and what the bus adds to the p50 and to this process's CPU per write.
 */
export function busCostTable(cells: readonly TierCell[]): Table {
  const inflights = [...new Set(cells.map((c) => c.inflight))].sort((a, b) => a - b);
  const rows: string[][] = [
    [
      'library',
      'in flight',
      'no bus ops/s',
      'bus ops/s',
      'bus ÷ no bus',
      'p50 µs added',
      'CPU µs/op added',
    ],
  ];
  for (const pair of BUS_PAIRS) {
    for (const inflight of inflights) {
      const scenario = TierScenario.Write;
      const without = find(cells, { scenario, inflight, subject: pair.without });
      const withBus = find(cells, { scenario, inflight, subject: pair.with });
      if (without === undefined || withBus === undefined) continue;
      const paired = median(
        withBus.opsPerSec.map((rate, r) => rate / (without.opsPerSec[r] as number)),
      );
      rows.push([
        pair.name,
        String(inflight),
        formatRate(without.medianOpsPerSec),
        formatRate(withBus.medianOpsPerSec),
        ratioText(paired),
        formatUsDelta(withBus.p50Us - without.p50Us),
        formatUsDelta(withBus.cpuUsPerOp - without.cpuUsPerOp),
      ]);
    }
  }
  return { rows, right: [1, 2, 3, 4, 5, 6] };
}

/** The delivery bound: A's `set` start to B's first read of the new value. */
export function deliveryTable(rows: readonly DeliveryRow[]): Table {
  const table: string[][] = [
    [
      'library',
      'bus',
      'samples',
      'A `set` p50 ms',
      'seen by B p50 ms',
      'p99 ms',
      'max ms',
      'B reads p50',
    ],
  ];
  for (const row of rows) {
    table.push([
      row.subject,
      row.bus,
      String(row.samples),
      formatMs(row.setP50Ms),
      formatMs(row.p50Ms),
      formatMs(row.p99Ms),
      formatMs(row.maxMs),
      String(row.readsP50),
    ]);
  }
  return { rows: table, right: [2, 3, 4, 5, 6, 7] };
}

/** Everything one run measured. */
export interface TiersResults {
  readonly machine: Machine;
  readonly bus: string;
  readonly config: Omit<CellOptions, 'log'> & { readonly samples: number };
  readonly subjects: ReadonlyArray<{ id: string; name: string; description: string }>;
  /** Per subject: whether a read hands out a fresh object. */
  readonly copies: Readonly<Record<string, boolean>>;
  readonly failures: ReadonlyArray<{ subject: string; error: string }>;
  readonly cells: readonly TierCell[];
  readonly delivery: readonly DeliveryRow[];
}

/** The tables of a run, titled, as markdown (`markdown: true`) or terminal text. */
export function renderTiers(results: TiersResults, markdown: boolean): string {
  const render = (table: Table): string => (markdown ? renderMarkdown(table) : renderText(table));
  const title = (text: string): string => (markdown ? `#### ${text}` : `${text}:`);
  const parts: string[] = [
    `${results.machine.date.slice(0, 16).replace('T', ' ')} UTC · ${machineLine(results.machine)} · Stowage bus: ${results.bus}`,
    render(subjectsTable(results)),
  ];
  for (const scenario of results.config.scenarios) {
    parts.push(
      title(SCENARIO_TITLES[scenario]),
      render(scenarioTable(results.cells, results.subjects, scenario)),
    );
  }
  parts.push(title('What a bus adds to a write'), render(busCostTable(results.cells)));
  if (results.delivery.length > 0) {
    parts.push(title('Bus delivery bound (2 processes)'), render(deliveryTable(results.delivery)));
  }
  for (const failure of results.failures)
    parts.push(`${failure.subject} left out: ${failure.error}`);
  return parts.join('\n\n');
}

/** Who each row is and whether its reads hand out a fresh object (checked, not assumed). */
export function subjectsTable(results: Pick<TiersResults, 'subjects' | 'copies'>): Table {
  const rows: string[][] = [['subject', 'fresh object per read', 'what']];
  for (const subject of results.subjects) {
    const copies = results.copies[subject.id];
    rows.push([
      subject.name,
      copies === undefined ? '–' : copies ? 'yes' : 'no',
      subject.description,
    ]);
  }
  return { rows, right: [] };
}
