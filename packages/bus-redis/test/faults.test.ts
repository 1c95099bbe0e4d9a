import { CacheBackendError } from '@stowage/core';
import { BusAction } from '@stowage/core/backend';
import { FaultProxy, freePort, startRedis, type ServerHandle } from '@stowage/testkit';
import { Redis } from 'ioredis';
import { Redis as Redis5 } from 'ioredis5';
import { afterEach, describe, expect, it } from 'vitest';
import {
  probeBus,
  redisAvailable,
  sleep,
  trackUnhandledRejections,
  until,
  type Probe,
} from './helpers.js';
import type { RedisBusOptions } from '../src/index.js';

/** Short timings so a fault is seen in a fraction of a second. */
const FAST = {
  heartbeatMs: 200,
  timeoutMs: 200,
  connectTimeoutMs: 500,
  reconnectMaxDelayMs: 200,
  closeTimeoutMs: 300,
} as const;

/** Timer slack on a loaded 2-core machine (other test files and processes share the CPU). */
const SLACK_MS = 800;

const del = (source: string, ...keys: string[]) => ({ action: BusAction.Delete, keys, source });

describe.runIf(redisAvailable)('redis bus under faults', () => {
  trackUnhandledRejections();
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function server(port?: number): Promise<ServerHandle> {
    const handle = await startRedis(port === undefined ? {} : { port });
    cleanup.push(() => handle.stop());
    return handle;
  }

  async function proxy(port: number): Promise<FaultProxy> {
    const handle = await FaultProxy.start(port);
    cleanup.push(() => handle.close());
    return handle;
  }

  async function bus(port: number, options: Partial<RedisBusOptions> = {}): Promise<Probe> {
    const probe = probeBus({ url: `redis://127.0.0.1:${port}`, ...FAST, ...options });
    cleanup.push(() => probe.bus.close());
    await probe.bus.start(probe.handlers);
    return probe;
  }

  const lost = (probe: Probe): number => probe.kinds().filter((k) => k === 'lost').length;
  const live = (probe: Probe): number => probe.kinds().filter((k) => k === 'live').length;

  it('SIGKILL and restart on the same port: lost once, then live; the queue is delivered in order', async () => {
    const redis = await server();
    const via = await proxy(redis.port);
    const a = await bus(via.port); // the publisher, behind a proxy we can hold shut
    const b = await bus(redis.port);
    const killed = performance.now();
    await redis.kill();
    await until(() => lost(a) === 1 && lost(b) === 1, 2000, 'both lost');
    const seen = (b.calls.find((c) => c.kind === 'lost')?.at ?? 0) - killed;
    console.log(`lost detected ${seen.toFixed(1)} ms after SIGKILL`);
    expect(a.bus.live).toBe(false);
    for (let i = 0; i < 3; i++) a.bus.publish(del('down', `k${i}`));
    await sleep(300);
    expect(a.bus.queued).toBe(3);
    await via.refuse(); // a stays away until b has resubscribed, so b cannot miss the queue
    await redis.restart();
    await until(() => live(b) === 2, 3000, 'b live again');
    await via.accept();
    await until(() => b.messages('down').length === 3, 3000, 'queued messages delivered');
    expect(b.messages('down').map((m) => m.keys[0])).toEqual(['k0', 'k1', 'k2']);
    await until(() => live(a) === 2, 3000, 'a live again');
    expect(b.kinds().slice(0, 3)).toEqual(['live', 'lost', 'live']);
    expect(lost(a)).toBe(1);
    expect(lost(b)).toBe(1);
  });

  it('SIGSTOP: lost within heartbeatMs + timeoutMs; SIGCONT: live again, queue flushed', async () => {
    const redis = await server();
    const a = await bus(redis.port);
    const b = await bus(redis.port);
    const paused = performance.now();
    redis.pause();
    cleanup.push(async () => redis.resume());
    await until(() => lost(a) === 1 && lost(b) === 1, 2000, 'both lost');
    const detected = Math.max(
      ...[a, b].map((p) => (p.calls.find((c) => c.kind === 'lost')?.at ?? 0) - paused),
    );
    // FAST: 200 ms between PINGs + 200 ms to answer, plus timer slack.
    expect(detected).toBeLessThan(FAST.heartbeatMs + FAST.timeoutMs + SLACK_MS);
    console.log(
      `lost detected ${detected.toFixed(0)} ms after SIGSTOP (heartbeat 200 ms + 200 ms)`,
    );
    a.bus.publish(del('frozen', 'k'));
    await sleep(FAST.connectTimeoutMs + 300); // reconnect attempts meet the frozen server too
    expect(lost(a)).toBe(1); // once per loss, however many attempts fail
    redis.resume();
    const resumed = performance.now();
    await until(() => live(a) === 2 && live(b) === 2, 4000, 'live after SIGCONT');
    console.log(`live again ${(performance.now() - resumed).toFixed(0)} ms after SIGCONT`);
    await until(() => a.bus.queued === 0, 3000, 'queue flushed');
    expect(a.bus.live && b.bus.live).toBe(true);
  });

  it('a duplicated ioredis 5 client (RESP2): SIGSTOP is lost in time, SIGCONT live again', async () => {
    const redis = await server();
    const client = new Redis5({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    cleanup.push(async () => client.disconnect());
    const a = await bus(redis.port, { url: undefined, client });
    const paused = performance.now();
    redis.pause();
    cleanup.push(async () => redis.resume());
    await until(() => lost(a) === 1, 2000, 'lost');
    expect((a.calls.at(-1)?.at ?? 0) - paused).toBeLessThan(
      FAST.heartbeatMs + FAST.timeoutMs + SLACK_MS,
    );
    await sleep(FAST.connectTimeoutMs + 300);
    expect(lost(a)).toBe(1);
    redis.resume();
    await until(() => live(a) === 2, 4000, 'live after SIGCONT');
  });

  it('with the default timing a frozen server is reported lost within about 2 s', async () => {
    const redis = await server();
    const a = await bus(redis.port, { heartbeatMs: undefined, timeoutMs: undefined });
    const paused = performance.now();
    redis.pause();
    cleanup.push(async () => redis.resume());
    await until(() => lost(a) === 1, 3000, 'lost');
    const detected = (a.calls.find((c) => c.kind === 'lost')?.at ?? 0) - paused;
    expect(detected).toBeGreaterThan(900); // no false alarm before a heartbeat was due
    expect(detected).toBeLessThan(2000 + SLACK_MS);
    console.log(`lost detected ${detected.toFixed(0)} ms after SIGSTOP (defaults)`);
  });

  it('a silent partition (proxy blackhole) is lost, then live once the path is back', async () => {
    const redis = await server();
    const via = await proxy(redis.port);
    const a = await bus(via.port);
    const cut = performance.now();
    via.setMode({ kind: 'blackhole' });
    await until(() => lost(a) === 1, 2000, 'lost on blackhole');
    expect((a.calls.at(-1)?.at ?? 0) - cut).toBeLessThan(
      FAST.heartbeatMs + FAST.timeoutMs + SLACK_MS,
    );
    await sleep(FAST.connectTimeoutMs + 200);
    expect(lost(a)).toBe(1); // reconnect attempts into the blackhole fail quietly
    expect(a.bus.live).toBe(false);
    via.setMode({ kind: 'pass' });
    await until(() => live(a) === 2, 4000, 'live after the path is back');
    a.bus.publish(del('healed', 'k'));
    await until(() => a.messages('healed').length === 1, 2000, 'delivery after healing');
  });

  it('a reset connection is lost at once and recovers; a cut mid-reply too', async () => {
    const redis = await server();
    const via = await proxy(redis.port);
    const a = await bus(via.port);
    via.resetAll();
    await until(() => lost(a) === 1, 1000, 'lost on RST');
    await until(() => live(a) === 2, 3000, 'live after RST');
    via.setMode({ kind: 'cut', bytes: 5 }, 'existing');
    a.bus.publish(del('cut', 'k'));
    await until(() => lost(a) === 2, 2000, 'lost on cut');
    await until(() => live(a) === 3, 3000, 'live after cut');
    await until(() => a.bus.queued === 0, 3000, 'the cut publish retried');
    expect(a.kinds().filter((k) => k !== 'warn' && k !== 'message')).toEqual([
      'live',
      'lost',
      'live',
      'lost',
      'live',
    ]);
  });

  it('start() rejects after connectTimeoutMs with no server, then reports live when one appears', async () => {
    const port = await freePort();
    const probe = probeBus({ url: `redis://127.0.0.1:${port}`, ...FAST });
    cleanup.push(() => probe.bus.close());
    probe.bus.publish(del('before', 'k'));
    const started = performance.now();
    const error = await probe.bus.start(probe.handlers).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheBackendError);
    expect(performance.now() - started).toBeLessThan(FAST.connectTimeoutMs + SLACK_MS);
    await server(port);
    await until(() => live(probe) === 1, 3000, 'live once the server is up');
    await until(() => probe.bus.queued === 0, 2000, 'queue flushed');
  });

  it('a refused password: start() rejects naming the reason, never the password', async () => {
    const redis = await server();
    const admin = new Redis({ host: '127.0.0.1', port: redis.port });
    await admin.config('SET', 'requirepass', 'right-one');
    admin.disconnect();
    const probe = probeBus({ url: `redis://:S3CRET-wrong@127.0.0.1:${redis.port}`, ...FAST });
    cleanup.push(() => probe.bus.close());
    const error = await probe.bus.start(probe.handlers).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheBackendError);
    expect((error as Error).message).toMatch(/WRONGPASS|invalid username-password/);
    expect((error as Error).message).not.toContain('S3CRET');
    expect(probe.kinds()).not.toContain('live');
  });

  it('close() while start() waits for an unreachable server settles both at once', async () => {
    const port = await freePort();
    const probe = probeBus({ url: `redis://127.0.0.1:${port}`, ...FAST, connectTimeoutMs: 5000 });
    const starting = probe.bus.start(probe.handlers);
    await sleep(50);
    const began = performance.now();
    await probe.bus.close();
    await starting;
    expect(performance.now() - began).toBeLessThan(SLACK_MS);
    expect(probe.calls).toEqual([]);
  });

  it('close() with a frozen or dead server settles within its deadline, then calls nothing', async () => {
    const redis = await server();
    const a = await bus(redis.port);
    redis.pause();
    cleanup.push(async () => redis.resume());
    a.bus.publish(del('late', 'k'));
    const started = performance.now();
    await a.bus.close();
    const took = performance.now() - started;
    expect(took).toBeLessThan(FAST.closeTimeoutMs * 2 + SLACK_MS);
    const calls = a.calls.length;
    redis.resume();
    await sleep(FAST.heartbeatMs * 2);
    expect(a.calls.length).toBe(calls);

    const other = await server();
    const b = await bus(other.port);
    await other.kill();
    b.bus.publish(del('late', 'k'));
    const again = performance.now();
    await b.bus.close();
    expect(performance.now() - again).toBeLessThan(FAST.closeTimeoutMs + SLACK_MS);
  });
});
