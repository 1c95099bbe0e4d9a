// Issue 10 §7: the soak against real servers. Every CI run has the short smoke (seconds, faults
// on); the 10-minute run is behind STOWAGE_SLOW_TESTS=1. Both require zero stale and zero foreign
// reads, no unhandled rejection, and that the run actually exercised reads, writes and faults.
import { hasBinary } from '@stowage/testkit';
import { describe, expect, it } from 'vitest';
import { formatReport, runSoak, type SoakReport } from '../src/run.js';

const servers = hasBinary('memcached') && hasBinary('redis-server');
const slow = process.env['STOWAGE_SLOW_TESTS'] === '1';

function expectSound(report: SoakReport): void {
  const c = report.classification;
  expect(c.examples, formatReport(report)).toEqual([]);
  expect(c.stale).toBe(0);
  expect(c.foreign).toBe(0);
  // The run did something worth checking.
  expect(c.hits).toBeGreaterThan(100);
  expect(c.confirmedWrites).toBeGreaterThan(100);
  expect(c.deletes).toBeGreaterThan(10);
  for (const worker of report.workers) {
    expect(worker.unhandledRejections, `worker ${worker.id}`).toBe(0);
    expect(worker.uncaughtExceptions, `worker ${worker.id}`).toBe(0);
    for (const source of ['get', 'set', 'delete', 'getOrSet', 'cached']) {
      expect(worker.latency[source]?.count ?? 0, `${source} calls`).toBeGreaterThan(0);
    }
  }
}

describe.skipIf(!servers)('the soak (§7)', () => {
  it('smoke: 3 processes for 20 s under faults — no stale, no foreign read', async () => {
    const report = await runSoak({ durationMs: 20_000, workers: 3 });
    process.stdout.write(`${formatReport(report)}\n`);
    expectSound(report);
    expect(Object.keys(report.faultCounts).length).toBeGreaterThan(2);
  }, 90_000);

  it.skipIf(!slow)(
    'full: 3 processes for 10 minutes under faults — no stale, no foreign read, flat heap',
    async () => {
      const report = await runSoak({ durationMs: 600_000, workers: 3 });
      process.stdout.write(`${formatReport(report)}\n`);
      expectSound(report);
      for (const growth of report.heapGrowthMiB) expect(growth).toBeLessThan(16);
      for (const [start, end] of report.handles) expect(end).toBeLessThanOrEqual(start + 8);
    },
    720_000,
  );
});
