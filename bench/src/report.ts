import { machineLine } from './machine.js';
import { PAYLOAD_LABELS } from './payloads.js';
import {
  gridCells,
  loopOf,
  type BenchResults,
  type CellResult,
  type GridCell,
  type SubjectInfo,
} from './results.js';
import { SCENARIOS } from './scenarios.js';
import { LoopShape, type Backend } from './types.js';

/** `1.23M`, `456k`, `12.3k`, `987`. */
export function formatRate(opsPerSec: number): string {
  if (!Number.isFinite(opsPerSec)) return '–';
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)}M`;
  if (opsPerSec >= 1e5) return `${Math.round(opsPerSec / 1e3)}k`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)}k`;
  return String(Math.round(opsPerSec));
}

/** Microseconds with the precision that matters at their size. */
export function formatUs(us: number): string {
  if (!Number.isFinite(us)) return '–';
  const size = Math.abs(us);
  if (size < 10) return us.toFixed(2);
  if (size < 100) return us.toFixed(1);
  return String(Math.round(us));
}

/** A difference in microseconds with its sign: `+1.25`, `-0.40`. */
export function formatUsDelta(us: number): string {
  return `${us >= 0 ? '+' : ''}${formatUs(us)}`;
}

const formatRatio = (ratio: number | undefined): string =>
  ratio === undefined ? '–' : ratio.toFixed(2);

/** A table as rows of cells; the first row is the header. Right-aligns columns listed in `right`. */
export interface Table {
  /** Header then rows. */
  readonly rows: ReadonlyArray<readonly string[]>;
  /** Indexes of right-aligned (numeric) columns. */
  readonly right: readonly number[];
}

/** Plain-text table for the terminal. */
export function renderText(table: Table): string {
  const widths: number[] = [];
  for (const row of table.rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) =>
        table.right.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const [header, ...body] = table.rows;
  if (header === undefined) return '';
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Markdown table (prettier aligns it when the README is written). */
export function renderMarkdown(table: Table): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  const [header, ...body] = table.rows;
  if (header === undefined) return '';
  const line = (row: readonly string[]): string => `| ${row.map(escape).join(' | ')} |`;
  const rule = `| ${header.map((_, i) => (table.right.includes(i) ? '---:' : '---')).join(' | ')} |`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

function subjectName(subjects: readonly SubjectInfo[], id: string): string {
  const subject = subjects.find((s) => s.id === id);
  if (subject === undefined) return id;
  return subject.baseline ? `${subject.name} *` : subject.name;
}

/** The detailed table of one cell: every subject with ops/s, ratio, p50, p99 and spread. */
export function cellTable(cell: CellResult, subjects: readonly SubjectInfo[]): Table {
  const rows: string[][] = [
    ['backend', 'subject', 'kind', 'ops/s', 'ratio', 'CPU ratio', 'p50 µs', 'p99 µs', 'spread'],
  ];
  for (const result of cell.results) {
    const name = subjectName(subjects, result.subject);
    if (result.status !== 'ok') {
      rows.push([result.backend, name, result.kind, 'failed', '', '', '', '', result.error ?? '']);
      continue;
    }
    rows.push([
      result.backend,
      name,
      result.kind,
      formatRate(result.opsPerSec),
      formatRatio(result.ratio),
      formatRatio(result.cpuRatio),
      formatUs(result.p50Us),
      formatUs(result.p99Us),
      `${Math.round(result.spreadPct)}%`,
    ]);
  }
  return { rows, right: [3, 4, 5, 6, 7, 8] };
}

/** How a grid cell's concurrency reads in titles: `64 in flight`, `64 in flight, one call per turn`. */
function inflightLabel(cell: Pick<CellResult, 'inflight' | 'loop'>): string {
  const shape = cell.loop === LoopShape.Turn ? ', one call per turn' : '';
  return `${cell.inflight} in flight${shape}`;
}

/** Title of a cell. */
export function cellTitle(
  cell: Pick<CellResult, 'scenario' | 'payload' | 'inflight' | 'loop'>,
): string {
  const label = SCENARIOS.find((s) => s.id === cell.scenario)?.label ?? cell.scenario;
  return `${label} · ${PAYLOAD_LABELS[cell.payload]} · ${inflightLabel(cell)}`;
}

/**
 * The summary table of one backend at one payload and concurrency: subjects × scenarios, each
 * cell `ops/s (ratio / CPU ratio)`, or `p50 / p99` latencies with `latency: true`.
 */
export function summaryTable(
  results: Pick<BenchResults, 'cells' | 'subjects' | 'config'>,
  at: GridCell & { readonly backend: Backend },
  latency: boolean,
): Table | undefined {
  const { backend, payload, inflight, loop } = at;
  const scenarios = SCENARIOS.filter((s) => results.config.scenarios.includes(s.id));
  const cells = scenarios.map((s) =>
    results.cells.find(
      (c) =>
        c.scenario === s.id &&
        c.payload === payload &&
        c.inflight === inflight &&
        loopOf(c) === loop,
    ),
  );
  const subjects = results.subjects.filter((s) => s.backend === backend && s.status === 'ok');
  if (subjects.length === 0) return undefined;
  const rows: string[][] = [['subject', ...scenarios.map((s) => s.label)]];
  for (const subject of subjects) {
    const row = [subjectName(results.subjects, subject.id)];
    for (const cell of cells) {
      const result = cell?.results.find((r) => r.subject === subject.id);
      if (result === undefined) row.push('');
      else if (result.status !== 'ok') row.push('failed');
      else if (latency) row.push(`${formatUs(result.p50Us)} / ${formatUs(result.p99Us)}`);
      else {
        row.push(
          `${formatRate(result.opsPerSec)} (${formatRatio(result.ratio)} / ${formatRatio(result.cpuRatio)})`,
        );
      }
    }
    rows.push(row);
  }
  return { rows, right: scenarios.map((_, i) => i + 1) };
}

/** Codec cost table. */
export function codecTable(results: BenchResults): Table | undefined {
  if (results.codec === undefined || results.codec.length === 0) return undefined;
  const rows: string[][] = [
    [
      'JSON bytes',
      'variant',
      'stored bytes',
      'encode µs',
      'decode µs',
      '+ encode µs',
      '+ decode µs',
    ],
  ];
  for (const c of results.codec) {
    rows.push([
      String(c.jsonBytes),
      c.variant,
      String(c.storedBytes),
      formatUs(c.encodeUs),
      formatUs(c.decodeUs),
      c.variant === 'plain' ? '' : formatUsDelta(c.encodeAddedUs),
      c.variant === 'plain' ? '' : formatUsDelta(c.decodeAddedUs),
    ]);
  }
  return { rows, right: [0, 2, 3, 4, 5, 6] };
}

/** Heap table. */
export function heapTable(results: BenchResults): Table | undefined {
  if (results.heap === undefined || results.heap.length === 0) return undefined;
  const rows: string[][] = [
    ['store', 'entries', 'heap B/entry', 'buffers B/entry', 'total B/entry', 'vs lru-cache (JSON)'],
  ];
  for (const h of results.heap) {
    rows.push([
      h.mode,
      String(h.entries),
      String(Math.round(h.heapBytesPerEntry)),
      String(Math.round(h.arrayBufferBytesPerEntry)),
      String(Math.round(h.totalBytesPerEntry)),
      h.ratioToLruJson.toFixed(2),
    ]);
  }
  return { rows, right: [1, 2, 3, 4, 5] };
}

/** Targets table. */
export function targetsTable(results: BenchResults): Table {
  return {
    rows: [
      ['target', 'measured (ratio to raw unless stated)', 'status'],
      ...results.targets.map((t) => [t.target, t.measured, t.status]),
    ],
    right: [],
  };
}

/** Subjects table: what each is and whether it ran. */
export function subjectsTable(results: BenchResults): Table {
  return {
    rows: [
      ['id', 'kind', 'copies on read', 'what', 'status'],
      ...results.subjects.map((s) => [
        s.id,
        s.baseline ? `${s.kind} (baseline)` : s.kind,
        s.copies === undefined ? '–' : s.copies ? 'yes' : 'no',
        s.description,
        s.status === 'ok' ? ['ok', ...(s.notes ?? [])].join('; ') : `unavailable: ${s.error ?? ''}`,
      ]),
    ],
    right: [],
  };
}

/** One heading line describing a run. */
export function runLine(results: BenchResults): string {
  return `${results.machine.date} · ${results.mode} mode (${results.config.rounds} rounds × ${results.config.roundMs} ms, ${Math.round(results.durationSec)} s) · ${machineLine(results.machine)}`;
}

/** Every summary table of a run, as markdown sections (for the README) or text (for the terminal). */
export function renderSummary(results: BenchResults, format: 'markdown' | 'text'): string {
  const render = format === 'markdown' ? renderMarkdown : renderText;
  const heading = (level: number, text: string): string =>
    format === 'markdown' ? `${'#'.repeat(level)} ${text}` : `\n== ${text}`;
  const out: string[] = [];
  out.push(heading(3, 'Targets'), '', render(targetsTable(results)), '');
  for (const backend of results.config.backends) {
    for (const cell of gridCells(results.config)) {
      const ops = summaryTable(results, { ...cell, backend }, false);
      const latency = summaryTable(results, { ...cell, backend }, true);
      if (ops === undefined || latency === undefined) continue;
      out.push(
        heading(
          3,
          `${backend} · ${PAYLOAD_LABELS[cell.payload]} · ${inflightLabel(cell)} — ops/s (ratio / CPU ratio to raw *)`,
        ),
        '',
      );
      out.push(render(ops), '');
      if (format === 'markdown') out.push('<details><summary>p50 / p99 latency, µs</summary>', '');
      else out.push('p50 / p99 latency, µs:');
      out.push(render(latency), '');
      if (format === 'markdown') out.push('</details>', '');
    }
  }
  const codec = codecTable(results);
  if (codec !== undefined) {
    out.push(
      heading(3, 'Per-value cost of compression and AES-256-GCM (through CacheClient)'),
      '',
      render(codec),
      '',
    );
  }
  const heap = heapTable(results);
  if (heap !== undefined) out.push(heading(3, 'Memory per small entry'), '', render(heap), '');
  out.push(heading(3, 'Subjects'), '', render(subjectsTable(results)), '');
  return out.join('\n');
}
