// The pure helpers of `--resilience`: samples summarised into rows, the variants' options, the
// tables and the README section. The scenarios themselves (servers, 200 ms factories) are not run
// here; nothing here asserts speed.
import { describe, expect, it } from 'vitest';
import { RESILIENCE_END, RESILIENCE_START, updateResilienceReadme } from '../src/readme.js';
import { RESILIENCE_DEFAULTS, type ResilienceResults } from '../src/resilience/run.js';
import { staleVariants } from '../src/resilience/stale-hit.js';
import {
  hitCostTable,
  staleTable,
  StaleVariant,
  summariseHitCost,
  summariseStale,
  unavailableStaleRow,
} from '../src/resilience/summary.js';
import { Backend } from '../src/types.js';
import { MACHINE, rewriteSection } from './readme-section.js';

const AT = {
  backend: Backend.Redis,
  variant: StaleVariant.Swr,
  name: 'staleWhileRevalidate: true',
};

describe('summariseStale', () => {
  it('takes nearest-rank percentiles over every call and counts stale answers', () => {
    const latenciesMs = Array.from({ length: 100 }, (_, i) => i + 1); // 1 … 100 ms
    const row = summariseStale(AT, { latenciesMs, staleAnswers: 100, refreshes: 100, errors: 0 });
    expect(row).toMatchObject({ status: 'ok', calls: 100, p50Ms: 50, p99Ms: 99, maxMs: 100 });
    expect(row.error).toBeUndefined();
  });

  it('fails a run where a call rejected, or a stale key was not refreshed exactly once', () => {
    const rejected = summariseStale(AT, {
      latenciesMs: [1, 2],
      staleAnswers: 2,
      refreshes: 3,
      errors: 1,
      firstError: 'boom',
    });
    expect(rejected.status).toBe('failed');
    expect(rejected.error).toBe('1 calls rejected (first: boom)');
    const doubled = summariseStale(AT, {
      latenciesMs: [1, 2],
      staleAnswers: 2,
      refreshes: 4,
      errors: 0,
    });
    expect(doubled.error).toBe('4 refreshes for 2 stale keys (one each expected)');
    expect(
      summariseStale(AT, { latenciesMs: [], staleAnswers: 0, refreshes: 0, errors: 0 }).error,
    ).toBe('no call completed');
  });
});

describe('staleVariants', () => {
  it('adds nothing, softTimeout, or staleWhileRevalidate to the same ttl and grace', () => {
    const variants = staleVariants({
      rounds: 1,
      calls: 1,
      factoryMs: 200,
      softTimeoutMs: 20,
      ttlMs: 50,
      graceS: 60,
    });
    expect(variants.map((v) => [v.variant, v.name, v.options])).toEqual([
      [StaleVariant.Wait, 'grace only', {}],
      [StaleVariant.Soft, "softTimeout: '20ms'", { softTimeout: '20ms' }],
      [StaleVariant.Swr, 'staleWhileRevalidate: true', { staleWhileRevalidate: true }],
    ]);
  });
});

describe('staleTable', () => {
  it('shows milliseconds and stale answers, and why a row has none', () => {
    const ok = summariseStale(AT, {
      latenciesMs: [0.5, 1.5],
      staleAnswers: 2,
      refreshes: 2,
      errors: 0,
    });
    const table = staleTable([
      ok,
      unavailableStaleRow({ ...AT, backend: Backend.Memcached }, 'no server'),
    ]);
    expect(table.rows[1]).toEqual([
      'redis',
      'staleWhileRevalidate: true',
      '2',
      '0.50',
      '1.50',
      '1.50',
      '2/2',
    ]);
    expect(table.rows[2]).toEqual([
      'memcached',
      'staleWhileRevalidate: true',
      'unavailable',
      '',
      '',
      '',
      'no server',
    ]);
  });
});

describe('summariseHitCost', () => {
  it('pairs the rounds: the ratio is the median of per-round ratios, not a ratio of medians', () => {
    const row = summariseHitCost(Backend.Memory, {
      plainRoundsUs: [2, 4, 10],
      gracedRoundsUs: [3, 5, 11],
      plainLatenciesMs: [0.002, 0.004],
      gracedLatenciesMs: [0.003, 0.006],
    });
    // Per-round ratios 1.5, 1.25, 1.1 → median 1.25; medians 4 and 5 → difference 1 µs.
    expect(row).toMatchObject({ status: 'ok', rounds: 3, plainUs: 4, gracedUs: 5, deltaUs: 1 });
    expect(row.ratio).toBeCloseTo(1.25);
    expect(row.gracedP99Us).toBeCloseTo(6);
    const table = hitCostTable([row]);
    expect(table.rows[1]).toEqual(['memory', '4.00', '5.00', '1.25×', '+1.00', '4.00', '6.00']);
  });

  it('fails without rounds, and keeps the reason it was given', () => {
    const empty = {
      plainRoundsUs: [],
      gracedRoundsUs: [],
      plainLatenciesMs: [],
      gracedLatenciesMs: [],
    };
    expect(summariseHitCost(Backend.Redis, empty)).toMatchObject({
      status: 'failed',
      error: 'no round completed',
    });
    const ran = summariseHitCost(Backend.Redis, { ...empty, error: 'the factory ran 3 times' });
    expect(ran.error).toBe('the factory ran 3 times');
    expect(hitCostTable([ran]).rows[1]?.[6]).toBe('the factory ran 3 times');
  });
});

describe('updateResilienceReadme', () => {
  it('rewrites only the text between the resilience markers', async () => {
    const results: ResilienceResults = {
      schema: 1,
      machine: MACHINE,
      durationSec: 90,
      config: RESILIENCE_DEFAULTS,
      stale: [summariseStale(AT, { latenciesMs: [0.4], staleAnswers: 1, refreshes: 1, errors: 0 })],
      hitCost: [
        summariseHitCost(Backend.Redis, {
          plainRoundsUs: [200],
          gracedRoundsUs: [202],
          plainLatenciesMs: [0.2],
          gracedLatenciesMs: [0.202],
        }),
      ],
    };
    const text = await rewriteSection({ start: RESILIENCE_START, end: RESILIENCE_END }, (readme) =>
      updateResilienceReadme(readme, results),
    );
    expect(text).toContain('factory 200 ms, 100 stale hits per variant and backend');
    expect(text).toMatch(/\| redis\s+\| staleWhileRevalidate: true\s+\|\s+1 \|/);
    expect(text).toContain('1.01×');
  });
});
