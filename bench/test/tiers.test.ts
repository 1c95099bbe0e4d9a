// Smoke test of the tiers bench: a tiny round of every scenario, every subject, on servers the
// test starts, checking the shape of what comes back (a cell per subject, scenario and
// concurrency; Stowage's L1 answering the hit scenario and not the miss one) and of the tables.
// The two-process delivery bound needs the built worker and is not run here; its table is.
// Nothing here asserts speed.
import { hasBinary, startMemcached, startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMachine } from '../src/machine.js';
import { busFactory } from '../src/tiers/bus.js';
import { measureCells, tierKeys, type CellOptions, type TierCell } from '../src/tiers/cells.js';
import { DeliverySubject } from '../src/tiers/delivery-protocol.js';
import { TIERS_MARKERS, updateTiersReadme } from '../src/tiers/readme.js';
import { TIER_SUBJECTS, TierScenario, type TierContext } from '../src/tiers/subjects.js';
import {
  busCostTable,
  deliveryTable,
  renderTiers,
  scenarioTable,
  type TiersResults,
} from '../src/tiers/summary.js';

const servers = hasBinary('memcached') && hasBinary('redis-server');

const OPTIONS: CellOptions = {
  keys: 200,
  missL1Entries: 20,
  inflight: [1, 4],
  rounds: 2,
  roundMs: 20,
  warmupMs: 10,
  scenarios: Object.values(TierScenario),
  log: () => undefined,
};

describe.skipIf(!servers)('tiers bench, a tiny round', () => {
  const started: ServerHandle[] = [];
  let cells: TierCell[] = [];
  let failures: Array<{ subject: string; error: string }> = [];
  let copies: Record<string, boolean> = {};
  let busKind = '';

  beforeAll(async () => {
    const redis = await startRedis();
    started.push(redis);
    const memcached = await startMemcached();
    started.push(memcached);
    const bus = busFactory(`redis://${redis.address}`);
    busKind = bus.kind;
    const ctx: TierContext = { redis, memcached, bus };
    ({ cells, failures, copies } = await measureCells(ctx, TIER_SUBJECTS, OPTIONS));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(started.map((server) => server.stop()));
  });

  it('measures every subject in each of its scenarios at each concurrency', () => {
    expect(failures).toEqual([]);
    for (const subject of TIER_SUBJECTS) {
      for (const scenario of subject.scenarios) {
        for (const inflight of OPTIONS.inflight) {
          const cell = cells.find(
            (c) => c.subject === subject.id && c.scenario === scenario && c.inflight === inflight,
          );
          expect(cell, `${subject.id} ${scenario} ${inflight}`).toBeDefined();
          expect(cell?.opsPerSec).toHaveLength(OPTIONS.rounds);
          expect(cell?.medianOpsPerSec).toBeGreaterThan(0);
          expect(Number.isFinite(cell?.p99Us)).toBe(true);
        }
      }
    }
    expect(
      cells.filter((c) => c.subject === TIER_SUBJECTS[0]?.id).every((c) => c.ratio === 1),
    ).toBe(true);
  });

  it('hits Stowage’s L1 in the hit scenario and misses it in the miss scenario', () => {
    const stowage = (scenario: TierScenario): TierCell[] =>
      cells.filter((c) => c.subject === 'stowage-redis' && c.scenario === scenario);
    for (const cell of stowage(TierScenario.Hit)) expect(cell.l1HitRate).toBeGreaterThan(0.95);
    for (const cell of stowage(TierScenario.Miss)) expect(cell.l1HitRate).toBeLessThan(0.05);
  });

  it('finds out, for every subject, whether a read hands out a fresh object', () => {
    for (const subject of TIER_SUBJECTS) expect(typeof copies[subject.id]).toBe('boolean');
    expect(copies['stowage-redis']).toBe(true);
  });

  it('renders a table per scenario, the bus cost and the whole report', () => {
    const hit = scenarioTable(cells, TIER_SUBJECTS, TierScenario.Hit);
    const inHit = TIER_SUBJECTS.filter((s) => s.scenarios.includes(TierScenario.Hit));
    expect(hit.rows).toHaveLength(inHit.length + 1);
    expect(hit.rows[0]).toHaveLength(1 + 5 * OPTIONS.inflight.length + 1);
    // Three pairs (Stowage default set, Stowage skip check, bentocache) × two concurrencies.
    expect(busCostTable(cells).rows).toHaveLength(1 + 3 * OPTIONS.inflight.length);
    const { log: _log, ...config } = OPTIONS;
    const results: TiersResults = {
      machine: describeMachine(),
      bus: busKind,
      config: { ...config, samples: 0 },
      subjects: TIER_SUBJECTS,
      copies,
      failures,
      cells,
      delivery: [],
    };
    const markdown = renderTiers(results, true);
    expect(markdown).toContain('| stowage Redis |');
    expect(markdown).toContain('What a bus adds to a write');
  });
});

describe('tiers bench helpers', () => {
  it('gives every subject keys of one length, distinct between subjects', () => {
    const a = tierKeys(0, 10_000);
    const b = tierKeys(11, 10_000);
    expect(new Set([...a, ...b]).size).toBe(20_000);
    expect(new Set([...a, ...b].map((key) => key.length)).size).toBe(1);
  });

  it('renders the delivery table, one row per library', () => {
    const table = deliveryTable([
      {
        subject: DeliverySubject.Stowage,
        bus: 'x',
        samples: 3,
        setP50Ms: 0.5,
        p50Ms: 1,
        p99Ms: 2,
        maxMs: 3,
        readsP50: 7,
      },
    ]);
    expect(table.rows).toHaveLength(2);
    expect(table.rows[1]).toEqual([
      'stowage-redis-bus',
      'x',
      '3',
      '0.50',
      '1.00',
      '2.00',
      '3.00',
      '7',
    ]);
  });

  it('rewrites only what lies between the tiers markers of the README', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tiers-readme-'));
    try {
      const path = join(dir, 'README.md');
      const before = `# Bench\n\nkept\n\n${TIERS_MARKERS.start}\nold\n${TIERS_MARKERS.end}\n\nafter\n`;
      await writeFile(path, before);
      await updateTiersReadme(path, '| a | b |\n| --- | ---: |\n| x | 1 |');
      const after = await readFile(path, 'utf8');
      expect(after).toContain('kept');
      expect(after).toContain('after');
      expect(after).not.toContain('old');
      expect(after).toContain('| x   |   1 |');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
