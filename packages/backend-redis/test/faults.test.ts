// What the backend does when the server or the network fails: refused at start, killed idle or
// with calls in flight, frozen, slow, a reply lost after the command was applied, a late write.
// Each runs against a real redis-server the test kills, freezes or restarts by PID, or behind an
// in-process fault proxy. Expected: every call settles by its deadline (plus a margin for a
// loaded machine), only Stowage errors reach callers, nothing is left unhandled, and the backend
// recovers by itself.
import {
  CacheClient,
  CacheErrorCode,
  isCacheError,
  type CacheBackendError,
  type StoredEntry,
} from '@stowage/core';
import { FaultProxy, freePort, startRedis, type ServerHandle } from '@stowage/testkit';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRedisBackend, type RedisBackend, type RedisClientLike } from '../src/index.js';
import { decodeStored } from '../src/stored-format.js';
import {
  drivers,
  errorText,
  inspector,
  redisAvailable,
  sleep,
  timed,
  trackUnhandledRejections,
} from './helpers.js';

/** The deadline every backend and client in this file uses, in milliseconds. */
const T = 500;
/** Slack for a loaded 2-core machine. A hang is seconds; this still catches it. */
const MARGIN = 300;
/** Longest reconnect backoff (2000 ms + jitter) plus a second: recovery must not take longer. */
const RECOVERY_MS = 2100 + 1000;

const entry = (text: string): StoredEntry => ({ value: Buffer.from(text), flags: 1 });

trackUnhandledRejections();

interface Outcome {
  readonly operation: string;
  readonly ms: number;
  readonly error?: unknown;
}

/** Runs one call of every kind straight on the backend, concurrently; resolves each outcome. */
async function everyCall(backend: RedisBackend, tag: string): Promise<Outcome[]> {
  const calls: Record<string, () => Promise<unknown>> = {
    get: () => backend.get(`${tag}-get`),
    getMany: () => backend.getMany([`${tag}-a`, `${tag}-b`]),
    set: () => backend.set(`${tag}-set`, entry('v'), 0),
    setAndRead: () => backend.setAndRead(`${tag}-verify`, entry('v'), 0),
    setMany: () => backend.setMany([{ key: `${tag}-m`, entry: entry('v') }], 0),
    add: () => backend.add(`${tag}-add`, entry('v'), 0),
    touch: () => backend.touch(`${tag}-get`, 10),
    incr: () => backend.incr(`${tag}-n`, 1n),
    setIf: () => backend.setIf(`${tag}-lease`, entry('marker'), entry('v'), 0),
    delete: () => backend.delete(`${tag}-get`),
    deleteMany: () => backend.deleteMany([`${tag}-a`]),
    ping: () => backend.ping(),
  };
  return Promise.all(
    Object.entries(calls).map(async ([operation, run]) => {
      const result = await timed(run);
      return { operation, ms: result.ms, error: result.error };
    }),
  );
}

/** Every outcome settled by the deadline and failed, if at all, with a Stowage error. */
function expectSettledInTime(outcomes: readonly Outcome[], mustFail: boolean): void {
  for (const outcome of outcomes) {
    expect(
      outcome.ms,
      `${outcome.operation} settled after ${Math.round(outcome.ms)} ms`,
    ).toBeLessThanOrEqual(T + MARGIN);
    if (outcome.error !== undefined || mustFail) {
      expect(isCacheError(outcome.error), `${outcome.operation}: ${String(outcome.error)}`).toBe(
        true,
      );
    }
  }
}

/** The text a key holds on the server, read past the backend's flags header. */
async function onServer(raw: Redis, key: string): Promise<string | undefined> {
  const stored = await raw.getBuffer(key);
  if (stored === null) return undefined;
  const entry = decodeStored(stored, key);
  return entry === undefined ? undefined : Buffer.from(entry.value).toString();
}

/** Polls `attempt` until it succeeds; resolves how long that took. */
async function recoveryTime(attempt: () => Promise<unknown>, limitMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const result = await timed(attempt);
    if (result.error === undefined) return performance.now() - started;
    if (performance.now() - started > limitMs) {
      throw new Error(`no recovery within ${limitMs} ms; last error: ${errorText(result.error)}`);
    }
    await sleep(50);
  }
}

describe.skipIf(!redisAvailable)('fault behaviour', () => {
  for (const [label, driver] of drivers) {
    describe(label, () => {
      const open = (port: number, extra: object = {}): RedisBackend =>
        createRedisBackend({
          url: `redis://127.0.0.1:${port}`,
          keyPrefix: 'f:',
          timeoutMs: T,
          driver,
          ...extra,
        });

      it('refused at start — calls fail by the deadline, then recover once the server appears', async () => {
        const port = await freePort();
        const backend = open(port);
        const cache = new CacheClient({ backend, timeoutMs: T });
        try {
          const first = await everyCall(backend, 'f1');
          expectSettledInTime(first, true);
          // Once an attempt has failed, calls fail at once (not after the deadline) with the reason.
          const second = await everyCall(backend, 'f1b');
          expectSettledInTime(second, true);
          for (const outcome of second) {
            expect(isCacheError(outcome.error, CacheErrorCode.Backend)).toBe(true);
            expect((outcome.error as CacheBackendError).indeterminate).toBe(false);
            expect(String((outcome.error as Error).message)).toMatch(/unreachable|ECONNREFUSED/);
          }
          const viaClient = await timed(() => cache.get('k'));
          expect(isCacheError(viaClient.error)).toBe(true);
          expect(viaClient.ms).toBeLessThanOrEqual(T + MARGIN);

          const server = await startRedis({ port });
          try {
            const took = await recoveryTime(() => cache.set('k', 'v'), RECOVERY_MS);
            expect(took).toBeLessThanOrEqual(RECOVERY_MS);
            expect(await cache.get('k')).toBe('v');
          } finally {
            await server.stop();
          }
        } finally {
          await cache.close();
        }
      });

      describe('with a server', () => {
        let server: ServerHandle;
        let backend: RedisBackend;
        let cache: CacheClient;
        beforeEach(async () => {
          server = await startRedis();
          backend = open(server.port);
          cache = new CacheClient({ backend, timeoutMs: T });
          expect(await cache.set('warm', 'up')).toBe(true);
        });
        afterEach(async () => {
          server.resume();
          await cache.close();
          await server.stop();
        });

        it('killed while idle, restarted 1.5 s later — fails fast while down, recovers by itself', async () => {
          await server.kill();
          await sleep(100);
          expectSettledInTime(await everyCall(backend, 'f2'), true);
          await sleep(1400);
          expectSettledInTime(await everyCall(backend, 'f2b'), true);
          await server.restart();
          const took = await recoveryTime(() => cache.set('after', 'restart'), RECOVERY_MS);
          expect(took).toBeLessThanOrEqual(RECOVERY_MS);
          // The restarted server is empty: a miss, never a stale value.
          expect(await cache.get('warm')).toBeUndefined();
          expect(await cache.get('after')).toBe('restart');
        });

        it('killed with calls in flight — they settle by the deadline, writes as indeterminate', async () => {
          server.pause();
          const inFlight = everyCall(backend, 'f3');
          await sleep(100);
          // SIGKILL while still stopped (the harness's kill() sends SIGCONT first, which would let
          // the server answer before dying): the calls in flight are lost for sure.
          process.kill(server.pid, 'SIGKILL');
          await server.kill();
          const outcomes = await inFlight;
          expectSettledInTime(outcomes, true);
          for (const outcome of outcomes) {
            // Every call that changes the server — deletes and touches too — may have been
            // applied once sent: indeterminate. Reads never are.
            const read = ['get', 'getMany', 'ping'].includes(outcome.operation);
            expect((outcome.error as CacheBackendError).indeterminate, outcome.operation).toBe(
              !read,
            );
          }
          await server.restart();
          expect(await recoveryTime(() => cache.get('x'), RECOVERY_MS)).toBeLessThanOrEqual(
            RECOVERY_MS,
          );
        });

        it('frozen server (SIGSTOP) — every call rejects by the deadline, no reconnect storm, replies never cross', async () => {
          for (let i = 0; i < 20; i++) await cache.set(`key${i}`, `value${i}`);
          const raw = inspector(server.port);
          const connectionsBefore = Number(
            /total_connections_received:(\d+)/.exec(await raw.info('stats'))?.[1],
          );
          server.pause();
          const started = performance.now();
          while (performance.now() - started < 2500) {
            expectSettledInTime(await everyCall(backend, 'f6'), true);
            const read = await timed(() => cache.get('key1'));
            expect(read.ms).toBeLessThanOrEqual(T + MARGIN);
            expect(isCacheError(read.error)).toBe(true);
            await sleep(100);
          }
          server.resume();
          const took = await recoveryTime(() => cache.get('key0'), RECOVERY_MS);
          expect(took).toBeLessThanOrEqual(RECOVERY_MS);
          // Late replies to the calls that timed out are never handed to other callers.
          for (let i = 0; i < 20; i++) expect(await cache.get(`key${i}`)).toBe(`value${i}`);
          const many = await cache.getMany(Array.from({ length: 20 }, (_, i) => `key${i}`));
          for (const [key, value] of many) expect(value).toBe(key.replace('key', 'value'));
          const connectionsAfter = Number(
            /total_connections_received:(\d+)/.exec(await raw.info('stats'))?.[1],
          );
          // Backoff, not a loop: a handful of reconnect attempts over a 2.5 s freeze.
          expect(connectionsAfter - connectionsBefore).toBeLessThanOrEqual(15);
          raw.disconnect();
        });

        it('an INCR in flight when the connection resets is applied once (raw ioredis applies it twice)', async () => {
          const proxy = await FaultProxy.start(server.port);
          const raw = inspector(server.port);
          try {
            // Control: ioredis with its defaults resends the INCR after reconnecting.
            const plain = new Redis({ host: '127.0.0.1', port: proxy.port, lazyConnect: true });
            plain.on('error', () => undefined);
            await plain.set('control', '0');
            proxy.setMode({ kind: 'latency', ms: 200 }, 'existing');
            const controlIncr = plain.incr('control').catch((e: unknown) => e);
            await sleep(300); // the INCR reached the server at 200 ms; its reply is still delayed
            proxy.resetAll();
            await controlIncr;
            await sleep(1000);
            expect(await raw.get('control')).toBe('2');
            plain.disconnect();

            const viaProxy = open(proxy.port);
            const counters = new CacheClient({ backend: viaProxy, timeoutMs: T });
            try {
              // Load the script first, so the INCR under test is applied on its first send.
              expect(await counters.set('n', 0)).toBe(true);
              expect(await counters.incr('n')).toBe(1);
              expect(await counters.set('n', 0)).toBe(true);
              proxy.setMode({ kind: 'latency', ms: 200 }, 'existing');
              const incr = timed(() => counters.incr('n'));
              await sleep(300);
              proxy.resetAll();
              const outcome = await incr;
              expect(outcome.ms).toBeLessThanOrEqual(T + MARGIN);
              expect(isCacheError(outcome.error)).toBe(true);
              expect((outcome.error as CacheBackendError).indeterminate).toBe(true);
              await sleep(1000);
              expect(await raw.get('f:n')).toBe('1');
              expect(await recoveryTime(() => counters.get('n'), RECOVERY_MS)).toBeLessThanOrEqual(
                RECOVERY_MS,
              );
              expect(await counters.get('n')).toBe(1);
            } finally {
              await counters.close();
            }
          } finally {
            raw.disconnect();
            await proxy.close();
          }
        });

        it('a delete whose reply is lost after it was applied is indeterminate; a read is not', async () => {
          const proxy = await FaultProxy.start(server.port);
          const raw = inspector(server.port);
          const viaProxy = open(proxy.port);
          try {
            for (const k of ['d1', 'd2', 'd3', 'r']) {
              expect(await viaProxy.set(k, entry('v'), 0)).toBe(true);
            }
            const calls: Array<[string, () => Promise<unknown>, string[]]> = [
              ['delete', () => viaProxy.delete('d1'), ['f:d1']],
              ['deleteMany', () => viaProxy.deleteMany(['d2', 'd3']), ['f:d2', 'f:d3']],
              ['get', () => viaProxy.get('r'), []],
            ];
            for (const [operation, call, removed] of calls) {
              // The command reaches the server; its reply is cut after one byte and the connection
              // reset. ioredis resends nothing, so the call rejects by its deadline.
              proxy.setMode({ kind: 'cut', bytes: 1, reset: true }, 'existing');
              const failed = await timed(call);
              expect(failed.ms).toBeLessThanOrEqual(T + MARGIN);
              expect(isCacheError(failed.error), errorText(failed.error)).toBe(true);
              expect(failed.error).toMatchObject({ operation, indeterminate: operation !== 'get' });
              // The deletes were applied: why a caller must not take them as not done.
              for (const k of removed) expect(await raw.exists(k), k).toBe(0);
              await recoveryTime(() => viaProxy.get('r'), RECOVERY_MS);
            }
          } finally {
            raw.disconnect();
            await viaProxy.close();
            await proxy.close();
          }
        });

        it('latency above the deadline, then back — calls time out, timeouts keep working, it recovers', async () => {
          const proxy = await FaultProxy.start(server.port);
          const slow = open(proxy.port);
          const viaProxy = new CacheClient({ backend: slow, timeoutMs: T });
          try {
            expect(await viaProxy.set('k', 'v')).toBe(true); // connected before the latency starts
            proxy.setMode({ kind: 'latency', ms: 100 });
            for (let i = 0; i < 3; i++) expect(await viaProxy.get('k')).toBe('v');
            for (let round = 0; round < 2; round++) {
              // Round two proves that earlier timeouts did not switch timeouts off.
              proxy.setMode({ kind: 'latency', ms: 600 });
              const started = performance.now();
              while (performance.now() - started < 2000) {
                expectSettledInTime(await everyCall(slow, `f7-${round}`), true);
                await sleep(100);
              }
              proxy.setMode({ kind: 'latency', ms: 100 });
              // The handshake does not flap for ever: once the latency drops, it connects again.
              const took = await recoveryTime(() => viaProxy.get('k'), RECOVERY_MS + 1000);
              expect(took).toBeLessThanOrEqual(RECOVERY_MS + 1000);
              expect(await viaProxy.get('k')).toBe('v');
            }
          } finally {
            await viaProxy.close();
            await proxy.close();
          }
        });

        it('closing while the connection is stalled settles and prints nothing', async () => {
          const proxy = await FaultProxy.start(server.port);
          const stalled = open(proxy.port);
          const printed = vi.spyOn(console, 'error');
          try {
            expect(await stalled.set('k', entry('v'), 0)).toBe(true);
            proxy.setMode({ kind: 'latency', ms: 1500 });
            const inFlight = timed(() => stalled.get('k'));
            const closing = await timed(() => stalled.close());
            expect(closing.error).toBeUndefined();
            expect(closing.ms).toBeLessThanOrEqual(T + MARGIN);
            expect((await inFlight).ms).toBeLessThanOrEqual(T + MARGIN);
            await sleep(2 * T); // past the socket timeout of the abandoned QUIT
            expect(printed).not.toHaveBeenCalled();
          } finally {
            printed.mockRestore();
            await proxy.close();
          }
        });

        it('a timed-out set(k, v1) that lands after a confirmed set(k, v2) never surfaces through the client and is deleted when the window ends', async () => {
          const proxy = await FaultProxy.start(server.port);
          const raw = inspector(server.port);
          const quarantineMs = 2500;
          const client = new CacheClient({ backend: open(proxy.port), timeoutMs: T, quarantineMs });
          try {
            expect(await client.set('k', 'v0')).toBe(true);
            // The connection in use now delays everything by 1.5 s; new connections are fast.
            proxy.setMode({ kind: 'latency', ms: 1500 }, 'existing');
            const started = performance.now();
            const first = await timed(() => client.set('k', 'v1'));
            expect(isCacheError(first.error, CacheErrorCode.Timeout)).toBe(true);
            expect((first.error as CacheBackendError).indeterminate).toBe(true);
            // The stalled connection is abandoned; a retry lands on a fresh one.
            let confirmed = false;
            while (!confirmed && performance.now() - started < 4000) {
              confirmed = (await timed(() => client.set('k', 'v2'))).value === true;
            }
            expect(confirmed).toBe(true);
            const seen = new Set<unknown>();
            let sawResurrectionOnServer = false;
            while (performance.now() - started < quarantineMs + 1500) {
              seen.add(await client.get('k'));
              if ((await onServer(raw, 'f:k')) === 'v1') sawResurrectionOnServer = true;
              await sleep(50);
            }
            // The fault really happened: the stale write reached the server after v2 …
            expect(sawResurrectionOnServer).toBe(true);
            // … and the client never returned it, before or after the quarantine ended: it read
            // v2 while the server held v2, and a miss once it held v1 — never an older value …
            expect(seen.has('v1')).toBe(false);
            expect([...seen].every((value) => value === 'v2' || value === undefined)).toBe(true);
            expect(seen.has('v2')).toBe(true);
            // … and the window's end removed the late v1 (compare-and-delete), never rewrote v2:
            // the client writes only what its caller asked for.
            expect(await onServer(raw, 'f:k')).toBeUndefined();
          } finally {
            raw.disconnect();
            await client.close();
            await proxy.close();
          }
        });
      });
    });
  }
});

/**
 * A client that is connected and sends every command, but whose commands all fail with `error`:
 * the failure path of every call without a server.
 */
function failingClient(error: () => Error): RedisClientLike {
  return {
    status: 'ready',
    // commandTimeout within the backend's deadline: the calls take the path without a timer.
    options: { commandTimeout: 1000 },
    callBuffer: () => Promise.reject(error()),
    pipeline: () => ({ callBuffer: () => undefined, exec: () => Promise.reject(error()) }),
    connect: () => Promise.resolve(),
    disconnect: () => undefined,
    quit: () => Promise.resolve(),
    on: () => undefined,
    removeListener: () => undefined,
  };
}

describe('indeterminate: one rule for every call', () => {
  const v: StoredEntry = entry('v');
  const calls: Record<string, (backend: RedisBackend) => Promise<unknown>> = {
    get: (b) => b.get('k'),
    getMany: (b) => b.getMany(['k', 'l']),
    set: (b) => b.set('k', v, 0),
    setAndRead: (b) => b.setAndRead('k', v, 0),
    setMany: (b) => b.setMany([{ key: 'k', entry: v }], 0),
    add: (b) => b.add('k', v, 0),
    touch: (b) => b.touch('k', 1),
    incr: (b) => b.incr('k', 1n),
    decr: (b) => b.decr('k', 1n),
    delete: (b) => b.delete('k'),
    deleteIf: (b) => b.deleteIf('k', v),
    setIf: (b) => b.setIf('k', v, entry('w'), 0),
    deleteMany: (b) => b.deleteMany(['k', 'l']),
  };
  const reads = new Set(['get', 'getMany']);
  const failureOf = async (
    error: () => Error,
    call: (backend: RedisBackend) => Promise<unknown>,
  ): Promise<unknown> => {
    const backend = createRedisBackend({ client: failingClient(error), keyPrefix: 'i:' });
    try {
      return await call(backend).then(
        () => undefined,
        (e: unknown) => e,
      );
    } finally {
      await backend.close();
    }
  };

  it('a command lost after it was sent: every write is indeterminate — deletes too — and no read', async () => {
    for (const [name, call] of Object.entries(calls)) {
      const error = await failureOf(() => new Error('Connection is closed.'), call);
      expect(isCacheError(error, CacheErrorCode.Backend), `${name}: ${String(error)}`).toBe(true);
      // setAndRead reports as 'set', the write it is.
      const operation = name === 'setAndRead' ? 'set' : name;
      expect(error, name).toMatchObject({ operation, indeterminate: !reads.has(name) });
      expect((error as Error).cause, name).toBeInstanceOf(Error);
    }
  });

  it('an error reply of the server (READONLY): nothing was applied, so never indeterminate', async () => {
    const readOnly = (): Error =>
      Object.assign(new Error("READONLY You can't write against a read only replica."), {
        name: 'ReplyError',
      });
    for (const [name, call] of Object.entries(calls)) {
      const error = await failureOf(readOnly, call);
      expect(isCacheError(error, CacheErrorCode.Backend), `${name}: ${String(error)}`).toBe(true);
      expect(error, name).toMatchObject({ indeterminate: false });
    }
  });
});
