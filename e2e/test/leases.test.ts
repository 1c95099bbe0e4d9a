// Leases across real processes (issue 12, "Done means"): forked workers, each with its own
// CacheClient and connections, call getOrSet on the same keys of a real memcached, Redis and
// Redis Cluster. The factory runs once in the fleet; a delete by anyone while it runs — Stowage
// in another process, Python's pymemcache, a raw DEL — is never undone by its result; a killed
// holder is taken over; a paused server makes waiters fail open by their deadline; a lease marker
// is never read as a value.
import { randomUUID } from 'node:crypto';
import { LEASE_FLAGS, LEASE_MARKER_PREFIX } from '@stowage/core/backend';
import { describe, expect, it } from 'vitest';
import { valueOf, type CallsReply, type ClientSpec } from '../src/protocol.js';
import { until, type Worker } from './fleet.js';
import {
  available,
  FOREIGN_DELETES,
  pauseServer,
  pymemcacheInstalled,
  type TargetKind,
} from './targets.js';
import {
  CALLS,
  delta,
  expectHealthyFleet,
  expectNoWarnings,
  PROCESSES,
  stampede,
  useFleet,
} from './use-fleet.js';

/** A short deadline for the paused-server test: waiters must settle by it, not by lease.wait. */
const SHORT_DEADLINE: ClientSpec = { timeoutMs: 300 };
/** A short lease, so a factory outlives it (renewals) within the test's budget. */
const SHORT_LEASE: ClientSpec = { lease: { ttl: '1s' } };

const fresh = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

/** Every call of `reply` resolved `value`. */
function expectAllGot(reply: CallsReply, value: string): void {
  expect(reply.calls.length).toBeGreaterThan(0);
  for (const call of reply.calls) expect(call).toMatchObject({ ok: true, value });
}

/** No call of `reply` returned a lease marker (or anything but one of our computed values). */
function expectNoMarker(reply: CallsReply): void {
  for (const call of reply.calls) {
    if (!call.ok) continue;
    expect(typeof call.value).toBe('string');
    expect(call.value as string).not.toContain(LEASE_MARKER_PREFIX);
    expect(call.value as string).toMatch(/^computed\|/);
  }
}

const KINDS: readonly TargetKind[] = ['memcached', 'redis', 'cluster'];

for (const kind of KINDS) {
  describe.runIf(available(kind))(`leases across processes on ${kind}`, () => {
    const fleet = useFleet(kind);

    /** A gated getOrSet of `key` on `worker`, resolved once its factory has started. */
    async function holdLease(
      worker: Worker,
      key: string,
      spec?: ClientSpec,
    ): Promise<{ id: number; reply: Promise<CallsReply> }> {
      const pending = worker.calls({
        op: 'getOrSet',
        key,
        calls: CALLS,
        factory: { ms: 0, gate: true },
        ...(spec === undefined ? {} : { client: spec }),
      });
      await worker.waitStarted(pending.id);
      return pending;
    }

    /** What the server holds under `key`'s full key: a lease marker, a value, or nothing. */
    async function rawFlags(key: string): Promise<number | undefined> {
      return (await fleet.raw.get(fleet.client.fullKey(key)))?.flags;
    }

    it(`${PROCESSES} processes × ${CALLS} concurrent getOrSet on one missing key run the factory once; every caller gets its value`, async () => {
      const key = fresh('once');
      const { replies, before, after } = await stampede(fleet.workers, (startAt) => ({
        op: 'getOrSet',
        key,
        calls: CALLS,
        factory: { ms: 50, gate: true },
        startAt,
      }));
      const runs = replies.flatMap((reply) => reply.runs);
      expect(runs).toHaveLength(1);
      const value = valueOf(runs[0]!);
      for (const reply of replies) expectAllGot(reply, value);
      expect(replies.flatMap((reply) => reply.calls)).toHaveLength(PROCESSES * CALLS);
      expect(await fleet.client.get(key)).toBe(value);
      // One process took the lease; every other one found it and waited for the value.
      expect(delta(before, after, 'leasesTaken')).toBe(1);
      expect(delta(before, after, 'leaseWaits')).toBe(PROCESSES - 1);
      expect(delta(before, after, 'leaseTimeouts')).toBe(0);
    });

    const deletes: Array<[string, (key: string) => Promise<boolean>]> = [
      ['a Stowage delete from another process', (key) => fleet.client.delete(key)],
      ...FOREIGN_DELETES[kind].map((label): [string, (key: string) => Promise<boolean>] => [
        label,
        (key) => {
          const foreign = fleet.target.foreignDeletes.get(label);
          if (foreign === undefined) throw new Error(`${label} is not available on ${kind}`);
          return foreign(fleet.client.fullKey(key));
        },
      ]),
    ];

    for (const [label, remove] of deletes) {
      // pymemcache is decided when the suite is collected: with CI=true a missing one throws.
      const runnable = label === deletes[0]![0] || kind !== 'memcached' || pymemcacheInstalled();
      it.runIf(runnable)(
        `${label} while the factory runs leaves the key missing, never the factory's result`,
        async () => {
          const key = fresh('bust');
          const holder = fleet.workers[0]!;
          const before = await holder.stats();
          const pending = await holdLease(holder, key);
          // What the delete removes is the holder's lease marker.
          expect(await rawFlags(key)).toBe(LEASE_FLAGS);
          expect(await remove(key)).toBe(true);
          holder.release(pending.id);
          const reply = await pending.reply;
          expect(reply.runs).toHaveLength(1);
          // The caller gets its result; the cache does not.
          expectAllGot(reply, valueOf(reply.runs[0]!));
          expect(await rawFlags(key)).toBeUndefined();
          expect(await fleet.client.get(key)).toBeUndefined();
          expect((await holder.stats()).leasesLost - before.leasesLost).toBe(1);
        },
      );
    }

    it('a waiter in another process takes over after the delete: the key then holds its later value, never the old one', async () => {
      const key = fresh('bust-waiter');
      const [holder, waiter] = [fleet.workers[0]!, fleet.workers[1]!];
      const held = await holdLease(holder, key);
      const before = await waiter.stats();
      const waiting = waiter.calls({
        op: 'getOrSet',
        key,
        calls: CALLS,
        factory: { ms: 0, gate: true },
      });
      await until('the waiter to find the lease', async () => {
        return (await waiter.stats()).leaseWaits > before.leaseWaits;
      });
      expect(waiter.started(waiting.id)).toEqual([]);
      expect(await fleet.client.delete(key)).toBe(true);
      // The marker is gone: the waiter's next poll takes the lease and runs its own factory,
      // which starts after the delete.
      await waiter.waitStarted(waiting.id);
      holder.release(held.id);
      const stale = await held.reply;
      waiter.release(waiting.id);
      const later = await waiting.reply;
      expect(later.runs).toHaveLength(1);
      expectAllGot(later, valueOf(later.runs[0]!));
      expect(await fleet.client.get(key)).toBe(valueOf(later.runs[0]!));
      expect(await fleet.client.get(key)).not.toBe(valueOf(stale.runs[0]!));
    });

    // memcached counts TTLs in whole seconds of a clock that ticks once a second, so a marker
    // stored for n s may be gone after n-1 s; core stores it for ceil(ttl) + 1 s there, so a
    // renewal every ttl/2 always finds it (with a 1 s lease it was lost on every run before).
    it('a live holder whose factory outlives the lease TTL keeps the lease by renewing it: a waiter in another process waits for its value', async () => {
      const key = fresh('renewed');
      const [holder, waiter] = [fleet.workers[0]!, fleet.workers[1]!];
      // 2.5 lease TTLs: the marker survives only through the holder's renewals (every half TTL).
      const held = holder.calls({
        op: 'getOrSet',
        key,
        calls: CALLS,
        factory: { ms: 2500 },
        client: SHORT_LEASE,
      });
      await holder.waitStarted(held.id);
      const waiting = waiter.calls({
        op: 'getOrSet',
        key,
        calls: CALLS,
        factory: { ms: 0 },
        client: SHORT_LEASE,
      });
      const [run, waited] = await Promise.all([held.reply, waiting.reply]);
      expect(run.runs).toHaveLength(1);
      // The waiter never took the lease over: it got the holder's value and ran nothing.
      expect(waited.runs).toEqual([]);
      expectAllGot(waited, valueOf(run.runs[0]!));
      expect(await fleet.client.get(key)).toBe(valueOf(run.runs[0]!));
    });

    it('a lease holder killed mid-factory is taken over after the lease TTL by a waiter in another process', async () => {
      const key = fresh('killed');
      const lease = SHORT_LEASE;
      // How long a dead holder's marker can outlive it: the lease TTL, plus the second core adds
      // on memcached, whose whole-second clock could otherwise drop a marker early.
      const markerMs = kind === 'memcached' ? 2000 : 1000;
      const doomed = await fleet.spawn('doomed');
      const doomedHold = await holdLease(doomed, key, lease);
      // Its callers never hear back: the process is gone.
      const doomedEnd = doomedHold.reply.then(
        () => 'replied',
        (error: unknown) => String(error),
      );
      const waiter = fleet.workers[1]!;
      const before = await waiter.stats(lease);
      const waiting = waiter.calls({
        op: 'getOrSet',
        key,
        calls: CALLS,
        factory: { ms: 50 },
        client: lease,
      });
      await until('the waiter to find the lease', async () => {
        return (await waiter.stats(lease)).leaseWaits > before.leaseWaits;
      });
      expect(await doomed.kill()).toBe('SIGKILL');
      expect(await doomedEnd).toContain('exited (SIGKILL) before replying');
      const killedAt = performance.now();
      const reply = await waiting.reply;
      const tookMs = performance.now() - killedAt;
      // The waiter computed the value itself, as the new holder: one run, every caller has it.
      expect(reply.runs).toHaveLength(1);
      const value = valueOf(reply.runs[0]!);
      expectAllGot(reply, value);
      // Within the lease TTL plus a poll, the factory and a loaded machine's slack — far below
      // lease.wait (10 s): the dead holder's marker expired and was taken over.
      expect(tookMs).toBeLessThan(markerMs + 1500);
      const after = await waiter.stats(lease);
      expect(after.leasesTaken - before.leasesTaken).toBe(1);
      expect(after.leaseTimeouts - before.leaseTimeouts).toBe(0);
      expect(await fleet.client.get(key)).toBe(value);
    });

    it('no lease marker is ever returned as a value: get and getMany in other processes miss while the key is leased', async () => {
      const key = fresh('marker');
      const other = fresh('marker-neighbour');
      expect(await fleet.client.set(other, 'neighbour')).toBe(true);
      const [holder, reader] = [fleet.workers[0]!, fleet.workers[2]!];
      const readerBefore = await reader.stats();
      const parentBefore = fleet.client.stats();
      const held = await holdLease(holder, key);
      // The key really holds a marker: the reads below are about one, not about an empty key.
      expect(await rawFlags(key)).toBe(LEASE_FLAGS);

      expect(await fleet.client.get(key)).toBeUndefined();
      expect(await fleet.client.get(key, 'default')).toBe('default');
      expect(Object.fromEntries(await fleet.client.getMany([key, other]))).toEqual({
        [other]: 'neighbour',
      });
      expect(await reader.read([key, other])).toEqual({
        get: { [other]: 'neighbour' },
        getMany: { [other]: 'neighbour' },
      });

      const readerAfter = await reader.stats();
      expect(readerAfter.decodeErrors).toBe(readerBefore.decodeErrors);
      expect(readerAfter.misses - readerBefore.misses).toBe(2);
      expect(fleet.client.stats().decodeErrors).toBe(parentBefore.decodeErrors);
      expect(fleet.client.stats().misses - parentBefore.misses).toBe(3);

      holder.release(held.id);
      const reply = await held.reply;
      expectNoMarker(reply);
      // Once committed, the same reads see the value.
      expect(await reader.read([key])).toEqual({
        get: { [key]: valueOf(reply.runs[0]!) },
        getMany: { [key]: valueOf(reply.runs[0]!) },
      });
    });

    it('a paused server makes waiters settle by their deadline: they fail open and never return a marker', async () => {
      const key = fresh('paused');
      const [holder, waiter, latecomer] = [fleet.workers[0]!, fleet.workers[1]!, fleet.workers[2]!];
      // A key on the same server process as `key` (on the cluster: the same node).
      const server = fleet.target.serverOf(fleet.client.fullKey(key));
      let other = fresh('paused-other');
      while (fleet.target.serverOf(fleet.client.fullKey(other)) !== server)
        other = fresh('paused-other');

      const held = await holdLease(holder, key, SHORT_DEADLINE);
      const before = await waiter.stats(SHORT_DEADLINE);
      const waiting = waiter.calls({
        op: 'getOrSet',
        key,
        calls: CALLS,
        factory: { ms: 50 },
        client: SHORT_DEADLINE,
      });
      await until('the waiter to find the lease', async () => {
        return (await waiter.stats(SHORT_DEADLINE)).leaseWaits > before.leaseWaits;
      });

      // Waits until every server thread is stopped: a busy machine can leave one answering.
      await pauseServer(server);
      let waited: CallsReply;
      let late: CallsReply;
      let waitedMs: number;
      let lateMs: number;
      try {
        const pausedAt = performance.now();
        const arriving = latecomer.calls({
          op: 'getOrSet',
          key: other,
          calls: CALLS,
          factory: { ms: 50 },
          client: SHORT_DEADLINE,
        });
        [waited, late] = await Promise.all([
          waiting.reply.then((reply) => {
            waitedMs = performance.now() - pausedAt;
            return reply;
          }),
          arriving.reply.then((reply) => {
            lateMs = performance.now() - pausedAt;
            return reply;
          }),
        ]);
      } finally {
        server.resume();
      }

      // By the deadline (300 ms) plus one poll pause (≤ 200 ms), the factory (50 ms) and a loaded
      // machine's slack — never lease.wait (10 s), never a hang.
      expect(waitedMs!).toBeLessThan(300 + 200 + 50 + 900);
      expect(lateMs!).toBeLessThan(300 + 50 + 900);
      // Each process failed open: it ran the factory once for its callers and returned that.
      for (const reply of [waited, late]) {
        expect(reply.runs).toHaveLength(1);
        expectAllGot(reply, valueOf(reply.runs[0]!));
        expectNoMarker(reply);
      }
      const after = await waiter.stats(SHORT_DEADLINE);
      expect(after.errors - before.errors).toBeGreaterThanOrEqual(1);

      // The server is back: the holder's commit lands, and the fail-open results were not stored.
      holder.release(held.id);
      const committed = await held.reply;
      expectAllGot(committed, valueOf(committed.runs[0]!));
      expect(await fleet.client.get(key)).toBe(valueOf(committed.runs[0]!));
      expect(await fleet.client.get(other)).toBeUndefined();
    });

    it('no process read a marker as a value, had an unhandled rejection or emitted a warning', async () => {
      await expectHealthyFleet(fleet, [
        undefined,
        SHORT_LEASE,
        { lease: { ttl: '1000ms' } },
        { lease: { ttl: '2000ms' } },
        SHORT_DEADLINE,
      ]);
      await expectNoWarnings(fleet);
    });
  });
}
