// Smoke test of the harness: a real (tiny) run on the memory backend plus the raw memcached and
// Redis clients against servers the harness starts. It checks the shape of the results, that
// every ratio is taken against the raw client of the same backend, and that the JSON is written.
// It never asserts speed.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasBinary } from '@stowage/testkit';
import { format, resolveConfig } from 'prettier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRound } from '../src/measure.js';
import { README_END, README_START, updateReadme } from '../src/readme.js';
import { gridCells, type BenchResults } from '../src/results.js';
import { runBench } from '../src/run.js';
import { median } from '../src/stats.js';
import { SUBJECTS } from '../src/subjects/index.js';
import { Backend, Kind, LoopShape, PayloadSize, ScenarioId, type Subject } from '../src/types.js';

const servers = hasBinary('memcached') && hasBinary('redis-server');
const BASELINES: Record<Backend, string> = {
  memory: 'memory/lru-cache-json',
  memcached: 'memcached/memjs',
  redis: 'redis/ioredis',
};

// A subject that does not do what it claims: its reads always miss. The harness must refuse to
// measure it rather than report a "get hit" that is a miss.
const broken: Subject = {
  id: 'memory/broken',
  name: 'broken',
  backend: Backend.Memory,
  kind: Kind.Peer,
  description: 'forgets everything',
  async setup() {
    return {
      ops: { set: async () => true, get: async () => undefined },
      teardown: async () => undefined,
    };
  },
};

// A subject whose batch read is wrong but whose single reads are right: only its getMany cells
// must be left out.
const noBatch: Subject = {
  id: 'memory/no-batch',
  name: 'no-batch',
  backend: Backend.Memory,
  kind: Kind.Peer,
  description: 'a Map whose getMany finds nothing',
  async setup() {
    const map = new Map<string, string>();
    return {
      ops: {
        set: async (key, value) => map.set(key, JSON.stringify(value)),
        get: async (key) => {
          const text = map.get(key);
          return text === undefined ? undefined : (JSON.parse(text) as unknown);
        },
        getMany: async () => new Map(),
      },
      teardown: async () => map.clear(),
    };
  },
};

// The raw memcached and Redis clients and Stowage on both (the peers are left to the real run).
const REMOTE = [
  'memcached/memjs',
  'memcached/stowage',
  'memcached/stowage-skip-integrity',
  'redis/ioredis',
  'redis/stowage',
  'redis/stowage-skip-integrity',
];

const subjects: Subject[] = [
  ...SUBJECTS.filter((s) => s.backend === Backend.Memory || (servers && REMOTE.includes(s.id))),
  broken,
  noBatch,
];

let outDir: string;
let results: BenchResults;

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'stowage-bench-'));
  results = await runBench({
    mode: 'test',
    subjects,
    rounds: 2,
    roundMs: 15,
    warmupMs: 5,
    inflight: [1, 8],
    loops: [LoopShape.Reply, LoopShape.Turn],
    payloads: [PayloadSize.Small],
    scenarios: Object.values(ScenarioId),
    backends: Object.values(Backend),
    codec: { rounds: 1, durationMs: 2, sizes: [1024] },
    heap: { entries: 2000, repeats: 1 },
    outDir,
  });
}, 120_000);

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe('bench harness', () => {
  it('records the machine line and the settings', () => {
    expect(results.schema).toBe(1);
    expect(results.mode).toBe('test');
    expect(results.machine.node).toBe(process.version);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.cpu.length).toBeGreaterThan(0);
    expect(new Date(results.machine.date).toISOString()).toBe(results.machine.date);
    expect(results.machine.loadEnd).toHaveLength(3);
    expect(results.config.rounds).toBe(2);
  });

  it('measures one cell per scenario, concurrency and loop shape, each subject with every round', () => {
    // 1 in flight with the reply loop; 8 in flight with both loop shapes.
    expect(results.cells).toHaveLength(Object.values(ScenarioId).length * 3);
    expect(results.cells.filter((c) => c.loop === LoopShape.Turn).map((c) => c.inflight)).toEqual(
      Object.values(ScenarioId).map(() => 8),
    );
    for (const cell of results.cells) {
      const ids = cell.results.map((r) => r.subject);
      expect(ids).toContain(BASELINES.memory);
      expect(ids).toContain('memory/stowage');
      for (const result of cell.results) {
        expect(result.status, `${result.subject} in ${cell.scenario}: ${result.error}`).toBe('ok');
        expect(result.roundsOpsPerSec).toHaveLength(2);
        expect(result.opsPerSec).toBe(median(result.roundsOpsPerSec));
        expect(result.roundsCpuOpsPerSec).toHaveLength(2);
        expect(result.cpuOpsPerSec).toBe(median(result.roundsCpuOpsPerSec));
        expect(result.opsPerSec).toBeGreaterThan(0);
        expect(result.latencySamples).toBeGreaterThan(0);
        expect(result.p50Us).toBeGreaterThan(0);
        expect(result.p99Us).toBeGreaterThanOrEqual(result.p50Us);
      }
    }
  });

  it('takes every ratio against the raw client of the same backend, round by round', () => {
    let checked = 0;
    for (const cell of results.cells) {
      for (const result of cell.results) {
        const baselineId = BASELINES[result.backend];
        expect(result.baseline).toBe(baselineId);
        const base = cell.results.find((r) => r.subject === baselineId)!;
        const expected = median(
          result.roundsOpsPerSec.map((ops, r) => ops / base.roundsOpsPerSec[r]!),
        );
        expect(result.ratio).toBeCloseTo(expected, 10);
        const expectedCpu = median(
          result.roundsCpuOpsPerSec.map((ops, r) => ops / base.roundsCpuOpsPerSec[r]!),
        );
        expect(result.cpuRatio).toBeCloseTo(expectedCpu, 10);
        if (result.subject === baselineId) expect(result.ratio).toBe(1);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(results.cells.length);
  });

  it.skipIf(!servers)('runs the raw memcached and Redis clients against their own servers', () => {
    for (const cell of results.cells) {
      for (const id of ['memcached/memjs', 'redis/ioredis']) {
        const result = cell.results.find((r) => r.subject === id);
        expect(result?.status, `${id} in ${cell.scenario}`).toBe('ok');
        expect(result?.ratio).toBe(1);
      }
    }
  });

  it.skipIf(!servers)('runs Stowage on memcached and Redis in every scenario it has', () => {
    for (const cell of results.cells) {
      for (const id of ['memcached/stowage', 'redis/stowage']) {
        const result = cell.results.find((r) => r.subject === id);
        expect(result?.status, `${id} in ${cell.scenario}: ${result?.error}`).toBe('ok');
        expect(result?.ratio).toBeGreaterThan(0);
      }
    }
    for (const id of ['memcached/stowage', 'redis/stowage']) {
      expect(results.subjects.find((s) => s.id === id)?.copies).toBe(true);
    }
    const skipCheck = results.cells
      .filter((c) => c.results.some((r) => r.subject === 'redis/stowage-skip-integrity'))
      .map((c) => c.scenario);
    expect([...new Set(skipCheck)].sort()).toEqual([ScenarioId.Mix, ScenarioId.Set].sort());
  });

  it('measures a decorated method on a hit, and only there', () => {
    const decorated = results.cells.flatMap((c) =>
      c.results
        .filter((r) => r.subject === 'memory/stowage-decorated')
        .map((r) => ({ scenario: c.scenario, status: r.status, error: r.error })),
    );
    // 1 in flight, 8 in flight, 8 in flight one call per turn.
    expect(decorated.map((d) => d.scenario)).toEqual([
      ScenarioId.GetHit,
      ScenarioId.GetHit,
      ScenarioId.GetHit,
    ]);
    for (const d of decorated) expect(d.status, d.error).toBe('ok');
  });

  it('runs a subject only in the scenarios it declares and only where it has the operations', () => {
    const skipCheck = results.cells
      .filter((c) => c.results.some((r) => r.subject === 'memory/stowage-skip-integrity'))
      .map((c) => c.scenario);
    expect([...new Set(skipCheck)].sort()).toEqual([ScenarioId.Mix, ScenarioId.Set].sort());
    const keyvGetOrSet = results.cells
      .filter((c) => c.scenario === ScenarioId.GetOrSetHit)
      .flatMap((c) => c.results.map((r) => r.subject));
    expect(keyvGetOrSet).not.toContain('memory/keyv'); // keyv has no getOrSet
  });

  it('refuses to measure a subject whose reads do not return what was written', () => {
    const info = results.subjects.find((s) => s.id === 'memory/broken');
    expect(info?.status).toBe('unavailable');
    expect(info?.error).toMatch(/did not return the value written/);
    const measured = results.cells
      .flatMap((c) => c.results)
      .filter((r) => r.subject === 'memory/broken');
    expect(measured).toEqual([]);
  });

  it('leaves out only the operation that failed its check', () => {
    const info = results.subjects.find((s) => s.id === 'memory/no-batch');
    expect(info?.status).toBe('ok');
    expect(info?.notes).toEqual([
      'getMany left out (small payload): getMany of 50 written keys found 0',
    ]);
    const scenariosRun = results.cells
      .filter((c) => c.results.some((r) => r.subject === 'memory/no-batch'))
      .map((c) => c.scenario);
    expect(scenariosRun).toContain(ScenarioId.GetHit);
    expect(scenariosRun).not.toContain(ScenarioId.GetMany);
  });

  it('finds out which subjects copy values on read', () => {
    const copies = (id: string): boolean | undefined =>
      results.subjects.find((s) => s.id === id)?.copies;
    expect(copies('memory/lru-cache-json')).toBe(true);
    expect(copies('memory/lru-cache-object')).toBe(false);
    expect(copies('memory/stowage')).toBe(true);
  });

  it('measures the codec cost and memory per entry', () => {
    const variants = results.codec!.map((c) => c.variant);
    expect(variants).toEqual(['plain', 'zlib', 'aes-256-gcm', 'zlib+aes-256-gcm']);
    const plain = results.codec!.find((c) => c.variant === 'plain')!;
    const zlib = results.codec!.find((c) => c.variant === 'zlib')!;
    const aes = results.codec!.find((c) => c.variant === 'aes-256-gcm')!;
    expect(plain.storedBytes).toBe(plain.jsonBytes);
    expect(zlib.storedBytes).toBeLessThan(plain.storedBytes);
    // version + key id + 12-byte nonce + 16-byte tag + the inner flags byte
    expect(aes.storedBytes).toBe(plain.storedBytes + 31);
    expect(results.heap!.map((h) => h.mode)).toEqual([
      'lru-cache-json',
      'lru-cache-object',
      'stowage-memory',
    ]);
    for (const heap of results.heap!) {
      expect(heap.entries).toBe(2000);
      expect(heap.totalBytesPerEntry).toBeGreaterThan(0);
    }
    expect(results.heap![0]!.ratioToLruJson).toBe(1);
  });

  it('evaluates every target, saying which could not be measured', () => {
    const byId = new Map(results.targets.map((t) => [t.id, t]));
    expect(['met', 'not met']).toContain(byId.get('memory-get-hit')?.status);
    expect(byId.get('memory-get-hit')?.measured).toMatch(
      /^100 B×1: \d+\.\d\d \(CPU \d+\.\d\d\), 100 B×8: \d+\.\d\d \(CPU \d+\.\d\d\), 100 B×8 turn: \d+\.\d\d \(CPU \d+\.\d\d\)$/,
    );
    // Judged at 64 in flight only, which this run does not have.
    expect(byId.get('memcached-get-hit')?.status).toBe('not measured');
    expect(['met', 'not met']).toContain(byId.get('decorator-overhead')?.status);
    expect(byId.get('decorator-overhead')?.measured).toMatch(/^100 B: [+-]\d/);
    if (servers) {
      expect(['met', 'not met']).toContain(byId.get('redis-get-hit')?.status);
      expect(['met', 'not met']).toContain(byId.get('memcached-get-many')?.status);
    }
    expect(byId.get('default-set-integrity')?.status).toBe('reported');
  });

  it('writes a timestamped JSON file and latest.json', async () => {
    const files = (await readdir(outDir)).sort();
    expect(files).toHaveLength(2);
    expect(files).toContain('latest.json');
    expect(files.find((f) => f !== 'latest.json')).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.json$/,
    );
    const latest: unknown = JSON.parse(await readFile(join(outDir, 'latest.json'), 'utf8'));
    expect(latest).toEqual(JSON.parse(JSON.stringify(results)));
  });

  it('rewrites only the README section between its markers, prettier-clean', async () => {
    const readme = join(outDir, 'README.md');
    await writeFile(
      readme,
      `# Title\n\nBefore.\n\n${README_START}\nold\n${README_END}\n\nAfter.\n`,
    );
    await updateReadme(readme, results);
    const text = await readFile(readme, 'utf8');
    expect(text).toMatch(/^# Title\n\nBefore\.\n/);
    expect(text).toMatch(/After\.\n$/);
    expect(text).not.toContain('\nold\n');
    expect(text).toContain(`Node ${process.version}`);
    expect(text).toContain('memory get hit ≥ 0.85 of raw lru-cache (JSON)');
    const config = (await resolveConfig(readme)) ?? {};
    expect(await format(text, { ...config, filepath: readme })).toBe(text);
  });
});

describe('gridCells', () => {
  it('crosses payloads and concurrencies, less the skipped combinations', () => {
    expect(
      gridCells({
        payloads: [PayloadSize.Small, PayloadSize.Large],
        inflight: [1, 64],
        skip: [{ payload: PayloadSize.Large, inflight: 64 }],
      }),
    ).toEqual([
      { payload: PayloadSize.Small, inflight: 1, loop: LoopShape.Reply },
      { payload: PayloadSize.Small, inflight: 64, loop: LoopShape.Reply },
      { payload: PayloadSize.Large, inflight: 1, loop: LoopShape.Reply },
    ]);
  });

  it('adds the turn loop shape only where more than one call is in flight', () => {
    expect(
      gridCells({
        payloads: [PayloadSize.Small],
        inflight: [1, 64],
        loops: [LoopShape.Reply, LoopShape.Turn],
      }),
    ).toEqual([
      { payload: PayloadSize.Small, inflight: 1, loop: LoopShape.Reply },
      { payload: PayloadSize.Small, inflight: 64, loop: LoopShape.Reply },
      { payload: PayloadSize.Small, inflight: 64, loop: LoopShape.Turn },
    ]);
  });
});

describe('runRound', () => {
  it('counts exactly the operations it performed and times the sampled ones', async () => {
    let calls = 0;
    const round = await runRound(
      async () => {
        calls++;
      },
      4,
      10,
      1,
      undefined,
    );
    expect(round.ops).toBe(calls);
    expect(round.opsPerSec).toBeCloseTo((calls / round.elapsedMs) * 1000, 6);
  });

  it('ends a round of slow operations on time instead of after a fixed number of them', async () => {
    const round = await runRound(
      () => new Promise((resolve) => setTimeout(resolve, 5)),
      1,
      30,
      1,
      undefined,
    );
    // About 30 / 5 operations; a clock read only every 64th would run 64 (320 ms).
    expect(round.ops).toBeGreaterThan(0);
    expect(round.ops).toBeLessThan(20);
  });

  it('rejects a round whose operations never settle instead of hanging', async () => {
    await expect(
      runRound(() => new Promise(() => undefined), 2, 5, 1, undefined, 50),
    ).rejects.toThrow(/did not settle/);
  });
});
