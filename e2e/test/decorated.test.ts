// Leases through @stowage/decorator across real processes (issue 12, "Done means": the same for
// decorated methods): a `cached` function called from a fleet of forked workers runs once; an
// `invalidate()` from another process while it runs leaves no entry behind, with single-flight
// on or off. Each worker's function is `cached(fn, { storageLevel: Service, key: name })` on its
// own client; the parent (or another worker) wraps a function under the same name to bust it
// and to look at what the cache serves afterwards.
import { randomUUID } from 'node:crypto';
import { StorageLevel, type CacheClient } from '@stowage/core';
import { cached, invalidate } from '@stowage/decorator';
import { describe, expect, it } from 'vitest';
import { valueOf, type CallsReply } from '../src/protocol.js';
import { available, type TargetKind } from './targets.js';
import {
  CALLS,
  delta,
  expectHealthyFleet,
  expectNoWarnings,
  PROCESSES,
  stampede,
  useFleet,
} from './use-fleet.js';

const ARG = 'EUR';

/** The parent's function under `name`: counts its runs, so a stale hit shows as zero runs. */
function parentFunction(
  client: CacheClient,
  name: string,
): { fn: (arg: string) => Promise<string>; runs: () => number } {
  let runs = 0;
  const fn = cached(
    async (arg: string): Promise<string> => {
      runs++;
      return `parent|${arg}|${runs}`;
    },
    {
      context: { client },
      storageLevel: StorageLevel.Service,
      key: name,
      timeout: 60,
      strict: true,
    },
  );
  return { fn, runs: () => runs };
}

/** Every call of `reply` succeeded with the value of one of this reply's own runs. */
function expectOwnValues(reply: CallsReply): void {
  const own = new Set(reply.runs.map(valueOf));
  expect(reply.calls.length).toBeGreaterThan(0);
  for (const call of reply.calls) {
    expect(call.ok).toBe(true);
    expect(own.has(call.ok ? (call.value as string) : '')).toBe(true);
  }
}

const KINDS: readonly TargetKind[] = ['memcached', 'redis', 'cluster'];

for (const kind of KINDS) {
  describe.runIf(available(kind))(`decorated functions across processes on ${kind}`, () => {
    const fleet = useFleet(kind);
    const fresh = (): string => `rates-${randomUUID().slice(0, 8)}`;

    it(`${PROCESSES} processes × ${CALLS} concurrent calls run the function once; every caller gets its result`, async () => {
      const name = fresh();
      const { replies, before, after } = await stampede(fleet.workers, (startAt) => ({
        op: 'cached',
        name,
        arg: ARG,
        calls: CALLS,
        factory: { ms: 50, gate: true },
        singleFlight: true,
        startAt,
      }));
      const runs = replies.flatMap((reply) => reply.runs);
      expect(runs).toHaveLength(1);
      for (const reply of replies)
        for (const call of reply.calls)
          expect(call).toMatchObject({ ok: true, value: valueOf(runs[0]!) });
      // One process took the entry's lease; every other one found it and waited for the value.
      expect(delta(before, after, 'leasesTaken')).toBe(1);
      expect(delta(before, after, 'leaseWaits')).toBe(PROCESSES - 1);
      // The entry is stored and served to another process without running its function.
      const parent = parentFunction(fleet.client, name);
      expect(await parent.fn(ARG)).toBe(valueOf(runs[0]!));
      expect(parent.runs()).toBe(0);
    });

    // Who calls invalidate(): the parent, or another worker process.
    const bustFrom: Array<[string, (name: string) => Promise<boolean>]> = [
      ['the parent', (name) => invalidate(parentFunction(fleet.client, name).fn, ARG)],
      [
        'another worker',
        (name) =>
          fleet.workers[3]!.send<boolean>({ op: 'invalidate', name, arg: ARG, singleFlight: true })
            .reply,
      ],
    ];

    for (const [who, bust] of bustFrom) {
      it(`invalidate() from ${who} while the function runs leaves no stale entry`, async () => {
        const name = fresh();
        const runner = fleet.workers[0]!;
        const before = await runner.stats();
        const pending = runner.calls({
          op: 'cached',
          name,
          arg: ARG,
          calls: CALLS,
          factory: { ms: 0, gate: true },
          singleFlight: true,
        });
        await runner.waitStarted(pending.id);
        // The entry holds the run's lease: invalidate() deletes it, so it "existed".
        expect(await bust(name)).toBe(true);
        runner.release(pending.id);
        const reply = await pending.reply;
        expect(reply.runs).toHaveLength(1);
        for (const call of reply.calls)
          expect(call).toMatchObject({ ok: true, value: valueOf(reply.runs[0]!) });
        expect((await runner.stats()).leasesLost - before.leasesLost).toBe(1);
        await expectNoEntry(name);
      });
    }

    it('singleFlight: false calls in every process never store a result computed before an invalidate()', async () => {
      const name = fresh();
      const startAt = Date.now() + 150;
      const pending = fleet.workers.map((worker) =>
        worker.calls({
          op: 'cached',
          name,
          arg: ARG,
          calls: CALLS,
          factory: { ms: 0, gate: true },
          singleFlight: false,
          startAt,
        }),
      );
      // Every call missed and runs the function: one under the entry's lease, the others
      // unstored because they found it (they do not wait with single-flight off).
      await Promise.all(
        pending.map((call, i) => fleet.workers[i]!.waitStarted(call.id, CALLS, 10_000)),
      );
      expect(await invalidate(parentFunction(fleet.client, name).fn, ARG)).toBe(true);
      pending.forEach((call, i) => fleet.workers[i]!.release(call.id));
      const replies = await Promise.all(pending.map((call) => call.reply));
      for (const reply of replies) {
        expect(reply.runs).toHaveLength(CALLS);
        expectOwnValues(reply);
      }
      await expectNoEntry(name);
    });

    it('no process read a marker as a value or had an unhandled rejection', async () => {
      await expectHealthyFleet(fleet, [undefined]);
    });

    // Every getOrSet factory run listens to its client's shutdown signal (close() aborts it): the
    // 64 singleFlight: false calls above are 64 listeners at once, which once printed Node's
    // MaxListenersExceededWarning on every pod.
    it('no process emitted a warning (64 factories listening to the shutdown signal at once)', async () => {
      await expectNoWarnings(fleet);
    });

    /**
     * Nothing is cached for `name`: a call from the parent runs its own function instead of
     * getting a result computed before the invalidate().
     */
    async function expectNoEntry(name: string): Promise<void> {
      const parent = parentFunction(fleet.client, name);
      expect(await parent.fn(ARG)).toBe(`parent|${ARG}|1`);
      expect(parent.runs()).toBe(1);
    }
  });
}
