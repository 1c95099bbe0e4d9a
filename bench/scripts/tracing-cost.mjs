// What core's diagnostics_channel tracing costs a memory-backend hit (issue 16 asks for ≤ 1 % when
// nobody subscribes). Compares two builds of the workspace — a clone of the commit before tracing
// landed and the current tree — on the bench's memory `get hit` and `getOrSet hit` cells (the
// bench's 100 B record, one operation in flight, `compress: false`, 256 written keys):
//
//   node bench/scripts/tracing-cost.mjs <baseline-root> [current-root] [--control=<root>] \
//     [--rounds=12] [--pairs=40] [--sample-ms=25] [--warmup-ms=300] [--json=FILE]
//
// A root is a checkout with `packages/core/dist` and `packages/backend-memory/dist` built; the
// current root defaults to the tree holding this script. `--control` is a second copy of the
// baseline root (`cp -a`), measured as if it were another build: its ratio to the baseline is the
// A/A noise floor, what the method reports when nothing changed. Build the baseline with e.g.
//   git clone -q . /tmp/stowage-base && cd /tmp/stowage-base && git checkout <commit>^ &&
//   npx --yes pnpm@10.34.9 install && npx --yes pnpm@10.34.9 exec turbo run build \
//     --filter=@stowage/backend-memory...
//
// Why in one process: on a shared 2-core machine a process can run 30 % slower than the next one
// for reasons of its own (load bursts, CPU frequency, JIT luck), which buries a 1 % effect. So
// each process loads every build side by side (separate module instances, separate clients and
// separately compiled timing loops, so no inline cache is shared), and alternates short samples
// A/B/A/B in an order that rotates each time; a variant's ratio is the median over sample groups
// of its ns/op ÷ the baseline's in the same group (tens of milliseconds apart). Every round starts
// two fresh processes, so JIT decisions and load order average out over rounds:
//   off  the baseline, the current build (and the control): nobody subscribed, so the current
//        build's ratio is the disabled-channel cost
//   on   the baseline and the current build with a no-op subscriber on every `stowage:*` tracing
//        channel: the floor of what an APM agent adds before it does any work of its own (the
//        baseline publishes nothing, so it runs as in `off`)
// The summary gives each ratio's median over rounds, quartiles and min–max, on wall time and on
// CPU time (user + system, which load on other cores disturbs less).
//
// Profile one build on one cell (one long sample) and list its heaviest functions:
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/scripts/tracing-cost.mjs --child=off \
//     --roots=<root> --cells=get-hit --pairs=1 --sample-ms=4000
//   node bench/scripts/profile-memory.mjs --summarize /tmp/prof/<file>.cpuprofile
import { spawn } from 'node:child_process';
import { tracingChannel } from 'node:diagnostics_channel';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { sampleValue } from './sample-value.mjs';

const CELLS = ['get-hit', 'getOrSet-hit'];
const CELL_LABELS = { 'get-hit': 'get hit', 'getOrSet-hit': 'getOrSet hit' };
const KEY_COUNT = 256;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    child: { type: 'string' },
    roots: { type: 'string' },
    cells: { type: 'string', default: CELLS.join(',') },
    control: { type: 'string' },
    rounds: { type: 'string', default: '12' },
    pairs: { type: 'string', default: '40' },
    'sample-ms': { type: 'string', default: '25' },
    'warmup-ms': { type: 'string', default: '300' },
    json: { type: 'string' },
  },
});

const pairs = Number(values.pairs);
const sampleMs = Number(values['sample-ms']);
const warmupMs = Number(values['warmup-ms']);
const cells = values.cells.split(',');

if (values.child !== undefined) await child(values.child, values.roots.split(','));
else await parent();

// ---------------------------------------------------------------------------------------------
// Child: every build of `roots` side by side in one process; the first is the baseline.

/**
 * The timing loops of one build: compiled from source tagged with the build's index, so V8 gives
 * each build its own functions and feedback (one shared loop would see several `cache.get`s and
 * go polymorphic for all of them). Each loop runs one operation at a time, awaited, as the bench's
 * one-in-flight cells do, reading the clock every 256 operations, and returns wall and CPU ns/op.
 */
function compileLoops(tag, cache, keys, factory) {
  const loop = (call) => `async (ms) => {
    // build ${tag}
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    const end = start + ms;
    let done = 0;
    let now = start;
    do {
      for (let j = 0; j < 256; j++) await ${call};
      done += 256;
      now = performance.now();
    } while (now < end);
    const cpu = process.cpuUsage(cpuStart);
    return { ns: ((now - start) * 1e6) / done, cpuNs: ((cpu.user + cpu.system) * 1e3) / done };
  }`;
  const source = `return {
    'get-hit': ${loop(`cache.get(keys[j & ${KEY_COUNT - 1}])`)},
    'getOrSet-hit': ${loop(`cache.getOrSet(keys[j & ${KEY_COUNT - 1}], factory)`)},
  };`;
  return new Function('cache', 'keys', 'factory', 'performance', 'process', source)(
    cache,
    keys,
    factory,
    performance,
    process,
  );
}

async function child(mode, roots) {
  if (mode === 'on') {
    // The current build (last) names what core traces; channels are process-wide by name, so the
    // subscription reaches every build loaded below.
    const current = await import(
      pathToFileURL(join(roots.at(-1), 'packages/core/dist/index.mjs')).href
    );
    const noop = () => {};
    const handlers = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };
    for (const operation of current.TRACED_OPERATIONS) {
      tracingChannel(`stowage:${operation}`).subscribe(handlers);
    }
  }
  const builds = [];
  for (const [index, root] of roots.entries()) {
    const core = await import(pathToFileURL(join(root, 'packages/core/dist/index.mjs')).href);
    const memory = await import(
      pathToFileURL(join(root, 'packages/backend-memory/dist/index.mjs')).href
    );
    // The bench's Stowage subject on memory: same options, keys and payload.
    const cache = new core.CacheClient({
      backend: memory.createMemoryBackend({ maxEntries: 100_000 }),
      prefix: 'bench',
      compress: false,
    });
    const keys = Array.from({ length: KEY_COUNT }, (_, i) => `s0:small:${i}`);
    for (const key of keys) await cache.set(key, sampleValue);
    const calls = { factory: 0 };
    const factory = async () => {
      calls.factory++;
      return sampleValue;
    };
    // Checks before timing: a hit returns what was written; a getOrSet hit never computes.
    for (const read of [cache.get(keys[7]), cache.getOrSet(keys[7], factory)]) {
      const got = await read;
      if (!isDeepStrictEqual(got, sampleValue)) throw new Error(`${root}: read back ${got}`);
    }
    const traced = typeof core.CACHE_CHANNELS === 'object';
    builds.push({
      index,
      root,
      cache,
      calls,
      traced,
      loops: compileLoops(index, cache, keys, factory),
    });
  }

  for (const cell of cells) for (const build of builds) await build.loops[cell](warmupMs);
  const samples = builds.map(() => Object.fromEntries(cells.map((cell) => [cell, []])));
  for (let pair = 0; pair < pairs; pair++) {
    // Rotate which build goes first, so none always runs right after another's garbage.
    const shift = pair % builds.length;
    const order = [...builds.slice(shift), ...builds.slice(0, shift)];
    for (const cell of cells) {
      for (const build of order) {
        globalThis.gc?.({ type: 'minor' });
        samples[build.index][cell].push(await build.loops[cell](sampleMs));
      }
    }
  }
  for (const build of builds) {
    if (build.calls.factory !== 0) throw new Error(`${build.root}: factory ran on a getOrSet hit`);
    await build.cache.close();
  }

  // Per build and cell: median ns/op, and the median of per-group ratios to the baseline.
  const report = builds.map((build) => {
    const out = { root: build.root, traced: build.traced, cells: {} };
    for (const cell of cells) {
      const own = samples[build.index][cell];
      const base = samples[0][cell];
      out.cells[cell] = {
        ns: median(own.map((s) => s.ns)),
        cpuNs: median(own.map((s) => s.cpuNs)),
        ratio: median(own.map((s, i) => s.ns / base[i].ns)),
        cpuRatio: median(own.map((s, i) => s.cpuNs / base[i].cpuNs)),
      };
    }
    return out;
  });
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent: rounds of an `off` and an `on` process, then the spread of their ratios over rounds.

async function parent() {
  const here = fileURLToPath(new URL('../..', import.meta.url));
  const [baseRoot, currentRoot = here] = positionals.map((path) => resolve(path));
  if (baseRoot === undefined) {
    process.stderr.write('usage: tracing-cost.mjs <baseline-root> [current-root] [options]\n');
    process.exit(2);
  }
  const controlRoot = values.control === undefined ? undefined : resolve(values.control);
  for (const root of [baseRoot, currentRoot, controlRoot]) {
    if (root === undefined) continue;
    for (const pkg of ['core', 'backend-memory']) {
      const entry = join(root, 'packages', pkg, 'dist/index.mjs');
      if (!existsSync(entry)) throw new Error(`${entry} is missing: build ${root} first`);
    }
  }

  const offRoots = [baseRoot, currentRoot, ...(controlRoot === undefined ? [] : [controlRoot])];
  const rows = [
    { id: 'current', process: 'off', slot: 1, what: 'current build, nobody subscribed' },
    ...(controlRoot === undefined
      ? []
      : [{ id: 'control', process: 'off', slot: 2, what: 'a copy of the baseline (A/A)' }]),
    { id: 'current+sub', process: 'on', slot: 1, what: 'current build, no-op subscriber' },
  ];
  const rounds = Number(values.rounds);
  const started = new Date();
  const loadBefore = loadavg();
  const perRound = [];
  for (let round = 0; round < rounds; round++) {
    const result = {};
    const modes = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const mode of modes) {
      const roots = mode === 'off' ? offRoots : [baseRoot, currentRoot];
      result[mode] = await runChild(mode, roots);
      if (result[mode][1].traced !== true) throw new Error(`${currentRoot} publishes no channels`);
    }
    perRound.push(result);
    process.stderr.write(
      `round ${round + 1}/${rounds}: ` +
        cells
          .map(
            (cell) =>
              `${cell} baseline ${result.off[0].cells[cell].ns.toFixed(0)} ns, ` +
              rows
                .map((r) => `${r.id} ×${result[r.process][r.slot].cells[cell].ratio.toFixed(3)}`)
                .join(' '),
          )
          .join(' | ') +
        '\n',
    );
  }

  const summary = {};
  for (const cell of cells) {
    summary[cell] = {
      baseline: {
        ns: median(perRound.map((r) => r.off[0].cells[cell].ns)),
        cpuNs: median(perRound.map((r) => r.off[0].cells[cell].cpuNs)),
      },
    };
    for (const row of rows) {
      const mine = perRound.map((r) => r[row.process][row.slot].cells[cell]);
      summary[cell][row.id] = {
        ns: median(mine.map((m) => m.ns)),
        cpuNs: median(mine.map((m) => m.cpuNs)),
        ratio: quartiles(mine.map((m) => m.ratio)),
        cpuRatio: quartiles(mine.map((m) => m.cpuRatio)),
      };
    }
  }

  const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
  const machine = `Node ${process.version} · ${cpus()[0]?.model.trim() ?? '?'} × ${cpus().length} · load ${load(loadBefore)} → ${load(loadavg())}`;
  const seconds = Math.round((Date.now() - started.getTime()) / 1000);
  process.stdout.write(
    `Run: ${started.toISOString()} · ${rounds} rounds × 2 processes, ${pairs} sample groups × ${sampleMs} ms per cell and build (${seconds} s) · ${machine}\n`,
  );
  process.stdout.write(
    `baseline: ${baseRoot}\ncurrent:  ${currentRoot}\n${controlRoot === undefined ? '' : `control:  ${controlRoot}\n`}\n`,
  );
  process.stdout.write(table(summary, rows));
  if (values.json !== undefined) {
    const json = {
      started,
      machine,
      baseRoot,
      currentRoot,
      controlRoot,
      rounds,
      pairs,
      sampleMs,
      warmupMs,
      summary,
      perRound,
    };
    writeFileSync(values.json, `${JSON.stringify(json, null, 2)}\n`);
  }
}

/** Runs one child process over `roots` and returns its report. */
function runChild(mode, roots) {
  const args = [
    '--expose-gc',
    fileURLToPath(import.meta.url),
    `--child=${mode}`,
    `--roots=${roots.join(',')}`,
    `--cells=${cells.join(',')}`,
    `--pairs=${pairs}`,
    `--sample-ms=${sampleMs}`,
    `--warmup-ms=${warmupMs}`,
  ];
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.stderr.on('data', (chunk) => (err += chunk));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`${mode} process exited ${code}: ${err}`));
      else resolvePromise(JSON.parse(out.trim().split('\n').at(-1)));
    });
  });
}

/** The markdown table of the summary: ns/op and the ratios to the baseline over rounds. */
function table(summary, rows) {
  const pct = (ratio) => `${ratio >= 1 ? '+' : '−'}${(Math.abs(ratio - 1) * 100).toFixed(1)} %`;
  const quart = (q) => [
    `${q.median.toFixed(3)} (${pct(q.median)})`,
    `${q.q1.toFixed(3)}–${q.q3.toFixed(3)}`,
    `${q.min.toFixed(3)}–${q.max.toFixed(3)}`,
  ];
  const lines = [
    '| cell | build | ns/op | CPU ns/op | × baseline (median) | IQR | min–max | CPU × baseline (median) | CPU IQR |',
    '| --- | --- | --: | --: | --: | --: | --: | --: | --: |',
  ];
  for (const cell of cells) {
    const base = summary[cell].baseline;
    lines.push(
      `| ${CELL_LABELS[cell]} | baseline | ${base.ns.toFixed(0)} | ${base.cpuNs.toFixed(0)} | | | | | |`,
    );
    for (const row of rows) {
      const v = summary[cell][row.id];
      lines.push(
        `| ${CELL_LABELS[cell]} | ${row.id} | ${v.ns.toFixed(0)} | ${v.cpuNs.toFixed(0)} | ${quart(v.ratio).join(' | ')} | ${quart(v.cpuRatio).slice(0, 2).join(' | ')} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Median of `values` (mean of the middle two for an even count). */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Median, quartiles (medians of the lower and upper halves) and extremes of `values`. */
function quartiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.max(1, sorted.length >> 1);
  return {
    median: median(sorted),
    q1: median(sorted.slice(0, half)),
    q3: median(sorted.slice(sorted.length - half)),
    min: sorted[0],
    max: sorted.at(-1),
  };
}
