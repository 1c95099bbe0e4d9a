// Fault scenarios against real memcached processes (stopped, killed, frozen by PID) and testkit's
// FaultProxy: a refused start, a kill and restart, a clean close, latency, a reply cut or reset
// mid-value, a frozen server, a wrong protocol, one server of three down. Every call must settle by its deadline + 50 ms, nothing may
// crash or leave an unhandled rejection, no read may return another key's bytes, and the backend
// must recover by itself.
import { createServer, type Server, type Socket } from 'node:net';
import {
  CacheBatchError,
  CacheErrorCode,
  isCacheError,
  type CacheBackendError,
} from '@stowage/core';
import {
  FaultProxy,
  freePort,
  hasBinary,
  startMemcached,
  startRedis,
  type ServerHandle,
} from '@stowage/testkit';
import { Client as MemjsClient } from 'memjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createMemcachedBackend,
  type MemcachedBackend,
  type MemcachedBackendOptions,
} from '../src/index.js';
import {
  entry,
  expectSettledBy,
  settle,
  sleep,
  textOf,
  trackProcessErrors,
  waitFor,
} from './helpers.js';

const TIMEOUT_MS = 300;
const COOLDOWN_MS = 300;
const MAX_COOLDOWN_MS = 600;
/** Recovery must come within one (maximum) backoff period plus a second. */
const RECOVERY_MS = MAX_COOLDOWN_MS + 1000;

const memcachedAvailable = hasBinary('memcached');

function faultBackend(
  servers: string | string[],
  extra: Partial<MemcachedBackendOptions> = {},
): MemcachedBackend {
  return createMemcachedBackend({
    servers,
    timeoutMs: TIMEOUT_MS,
    breakerThreshold: 2,
    breakerCooldownMs: COOLDOWN_MS,
    breakerMaxCooldownMs: MAX_COOLDOWN_MS,
    ...extra,
  });
}

function isBackendFailure(error: unknown): boolean {
  return isCacheError(error, CacheErrorCode.Backend) || isCacheError(error, CacheErrorCode.Timeout);
}

/** A TCP server that answers every connection's first bytes with `reply` (a protocol mock). */
async function mockServer(
  reply: (socket: Socket) => void,
): Promise<{ server: Server; address: string }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => reply(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    server,
    address: `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`,
  };
}

trackProcessErrors();
const consoleCalls = vi.fn();
beforeEach(() => {
  for (const method of ['log', 'warn', 'error', 'info'] as const) {
    vi.spyOn(console, method).mockImplementation(consoleCalls);
  }
});
afterEach(() => {
  // memjs logs every failure to the console; the backend never lets it.
  expect(consoleCalls).not.toHaveBeenCalled();
  consoleCalls.mockReset();
});

describe.runIf(memcachedAvailable)('memcached faults', () => {
  it('refused at start — no throw, fast failures, breaker, recovery when the server appears', async () => {
    const port = await freePort();
    const backend = faultBackend(`127.0.0.1:${port}`);
    let server: ServerHandle | undefined;
    try {
      const first = await settle(() => backend.get('k'));
      expect(first.outcome).toBe('error');
      expect(isBackendFailure(first.error)).toBe(true);
      expectSettledBy(first, TIMEOUT_MS);
      await settle(() => backend.set('k', entry('v'), 0));
      expect(backend.breakers()[`127.0.0.1:${port}`]).toBe('open');
      const fast = await settle(() => backend.get('k'));
      expect(fast.outcome).toBe('error');
      expect((fast.error as Error).message).toMatch(/marked down/);
      expect(fast.ms).toBeLessThan(50);

      server = await startMemcached({ port });
      const recovered = await waitFor(
        async () => (await backend.set('k', entry('v'), 0)) === true,
        RECOVERY_MS,
      );
      expect(recovered).toBeGreaterThanOrEqual(0);
      expect(textOf(await backend.get('k'))).toBe('v');
      expect(backend.breakers()[`127.0.0.1:${port}`]).toBe('closed');
    } finally {
      backend.close();
      await server?.stop();
    }
  });

  it('killed and restarted — fast failures while down, recovery by itself, data gone', async () => {
    const server = await startMemcached();
    const backend = faultBackend(server.address);
    try {
      expect(await backend.set('before', entry('kept?'), 0)).toBe(true);
      await server.kill();
      for (let i = 0; i < 4; i++) {
        const result = await settle(() => backend.get('before'));
        expect(result.outcome).toBe('error');
        expect(isBackendFailure(result.error)).toBe(true);
        expectSettledBy(result, TIMEOUT_MS);
      }
      expect(backend.breakers()[server.address]).toBe('open');
      await server.restart();
      const recovered = await waitFor(
        async () => (await backend.get('before')) === undefined,
        RECOVERY_MS,
      );
      expect(recovered).toBeGreaterThanOrEqual(0);
      expect(await backend.set('after', entry('new'), 0)).toBe(true);
      expect(textOf(await backend.get('after'))).toBe('new');
    } finally {
      backend.close();
      await server.stop();
    }
  });

  describe('through a fault proxy', () => {
    let server: ServerHandle;
    let proxy: FaultProxy;
    let backend: MemcachedBackend;
    beforeAll(async () => {
      server = await startMemcached();
    });
    beforeEach(async () => {
      proxy = await FaultProxy.start(server.port);
      backend = faultBackend(proxy.address);
    });
    afterEach(async () => {
      backend.close();
      await proxy.close();
    });
    afterAll(async () => {
      await server.stop();
    });

    it('a clean close (FIN) with requests in flight settles every one of them at once', async () => {
      expect(await backend.set('f4', entry('value'), 0)).toBe(true);
      proxy.setMode({ kind: 'blackhole' });
      const calls = [
        settle(() => backend.get('f4')),
        settle(() => backend.getMany(['f4', 'other'])),
        settle(() => backend.set('f4', entry('maybe'), 0)),
        settle(() => backend.get('')), // refused before I/O; never reaches the connection
      ];
      await sleep(50);
      proxy.finAll();
      const results = await Promise.all(calls);
      for (const result of results.slice(0, 3)) {
        expect(result.outcome).toBe('error');
        expect(isCacheError(result.error, CacheErrorCode.Backend)).toBe(true);
        expect(result.ms).toBeLessThan(TIMEOUT_MS); // the FIN fails them, not the deadline
      }
      expect((results[2]!.error as CacheBackendError).indeterminate).toBe(true);
      expect(isCacheError(results[3]!.error, CacheErrorCode.Key)).toBe(true);
      proxy.setMode({ kind: 'pass' });
      expect(['value', 'maybe']).toContain(textOf(await backend.get('f4')));
    });

    it('latency above the deadline then back — every call settles, timeouts never switch off', async () => {
      await backend.set('f7', entry('slow'), 0);
      proxy.setMode({ kind: 'latency', ms: 40 });
      expect(textOf(await backend.get('f7'))).toBe('slow');

      proxy.setMode({ kind: 'latency', ms: 350 }); // RTT 700 ms > 300 ms deadline
      for (let i = 0; i < 8; i++) {
        const result = await settle(() => backend.get('f7'));
        expect(result.outcome).toBe('error');
        expect(isBackendFailure(result.error)).toBe(true);
        expectSettledBy(result, TIMEOUT_MS);
        await sleep(100);
      }
      proxy.setMode({ kind: 'latency', ms: 40 });
      const recovered = await waitFor(
        async () => textOf(await backend.get('f7')) === 'slow',
        RECOVERY_MS,
      );
      expect(recovered).toBeGreaterThanOrEqual(0);
    });

    it('a reply cut mid-frame then FIN never yields wrong bytes (the memjs splice)', async () => {
      const first = Buffer.alloc(10_000, 'A');
      first.write('FIRST-KEY-START', 0);
      const second = Buffer.from('SECOND-VALUE-'.repeat(10));
      await backend.set('g1', entry(first, 2), 0);
      await backend.set('g2', entry(second, 2), 0);

      proxy.setMode({ kind: 'cut', bytes: 1000 });
      const cut = await settle(() => backend.get('g1'));
      expect(cut.outcome).toBe('error');
      expectSettledBy(cut, TIMEOUT_MS);

      // Concurrent reads while replies are being cut: each is its own value or an error.
      const racing = await Promise.all(
        ['g1', 'g2', 'g1', 'g2'].map((key) => settle(() => backend.get(key))),
      );
      for (const [i, result] of racing.entries()) {
        expectSettledBy(result, TIMEOUT_MS);
        if (result.outcome === 'ok' && result.value !== undefined) {
          expect(Buffer.from(result.value.value).equals(i % 2 === 0 ? first : second)).toBe(true);
        }
      }

      proxy.setMode({ kind: 'pass' });
      // The cuts opened the breaker; it lets a probe through after its cool-down.
      expect(
        await waitFor(async () => (await backend.get('g2')) !== undefined, RECOVERY_MS),
      ).toBeGreaterThanOrEqual(0);
      const again = await backend.getMany(['g2', 'g1']);
      expect(Buffer.from(again[0]!.value).equals(second)).toBe(true);
      expect(Buffer.from(again[1]!.value).equals(first)).toBe(true);
      expect(Buffer.from((await backend.get('g1'))!.value).equals(first)).toBe(true);
    });

    it('control: raw memjs 1.3.2 in the same scenario does not return the right bytes', async () => {
      const first = Buffer.alloc(10_000, 'A');
      // Large enough that its reply completes the cut frame in memjs's stale buffer.
      const second = Buffer.from('SECOND-VALUE-'.repeat(2000));
      await backend.set('m1', entry(first), 0);
      await backend.set('m2', entry(second), 0);
      const raw = MemjsClient.create(proxy.address, {
        retries: 1,
        timeout: 1,
        logger: { log: () => undefined },
      });
      try {
        await raw.get('m2'); // connect
        proxy.setMode({ kind: 'cut', bytes: 1000 });
        const cut = settle(() => raw.get('m1'), 3000);
        await sleep(100);
        proxy.setMode({ kind: 'pass' });
        const next = settle(() => raw.get('m2'), 3000);
        const [cutResult] = await Promise.all([cut, next]);
        const delivered = cutResult.value?.value;
        const correct = cutResult.outcome === 'ok' && delivered != null && delivered.equals(first);
        // memjs resolves the cut read "successfully", with the next reply spliced into it.
        expect(correct).toBe(false);
        expect(cutResult.outcome).toBe('ok');
        expect(delivered?.includes('SECOND-VALUE-')).toBe(true);
      } finally {
        raw.close();
      }
    });

    it('a reset mid-value fails the read by its deadline, no partial value, then recovers', async () => {
      const big = Buffer.alloc(900_000);
      for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
      await backend.set('big', entry(big, 2), 0);
      proxy.setMode({ kind: 'cut', bytes: 200_000, reset: true });
      const cut = await settle(() => backend.get('big'));
      expect(cut.outcome).toBe('error');
      expect(isBackendFailure(cut.error)).toBe(true);
      expectSettledBy(cut, TIMEOUT_MS);
      proxy.setMode({ kind: 'pass' });
      expect(Buffer.from((await backend.get('big'))!.value).equals(big)).toBe(true);
      expect(await backend.set('small', entry('s'), 0)).toBe(true);
    });
  });

  it('a frozen server (SIGSTOP) — deadline, breaker, late replies discarded, recovery', async () => {
    const server = await startMemcached();
    const backend = faultBackend(server.address);
    try {
      await backend.setMany(
        ['a', 'b', 'c'].map((key) => ({ key, entry: entry(`value-${key}`) })),
        0,
      );
      server.pause();
      await sleep(50); // let the signal land
      const frozen = await Promise.all([
        settle(() => backend.get('a')),
        settle(() => backend.set('late', entry('v1'), 0)),
        settle(() => backend.getMany(['b', 'c'])),
        ...Array.from({ length: 30 }, (_, i) => settle(() => backend.get(`k${i}`))),
      ]);
      for (const result of frozen) {
        expect(result.outcome).toBe('error');
        expectSettledBy(result, TIMEOUT_MS);
      }
      expect(isCacheError(frozen[0].error, CacheErrorCode.Timeout)).toBe(true);
      expect((frozen[1].error as CacheBackendError).indeterminate).toBe(true);
      await settle(() => backend.get('a'));
      expect(backend.breakers()[server.address]).toBe('open');
      const fast = await settle(() => backend.get('a'));
      expect(fast.ms).toBeLessThan(50);

      server.resume();
      const recovered = await waitFor(
        async () => textOf(await backend.get('b')) === 'value-b',
        RECOVERY_MS,
      );
      expect(recovered).toBeGreaterThanOrEqual(0);
      // Replies the frozen server sends late belong to dead connections: every key reads its own.
      const values = await backend.getMany(['a', 'b', 'c']);
      expect(values.map(textOf)).toEqual(['value-a', 'value-b', 'value-c']);
      expect(['v1', undefined]).toContain(textOf(await backend.get('late')));
    } finally {
      server.resume();
      backend.close();
      await server.stop();
    }
  });

  it('a wrong protocol (ascii-only memcached, Redis, garbage, oversize frame) fails fast or by the deadline', async () => {
    const ascii = await startMemcached({ args: ['-B', 'ascii'] });
    const redis = hasBinary('redis-server') ? await startRedis() : undefined;
    const http = await mockServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const huge = await mockServer((socket) => {
      const header = Buffer.alloc(24);
      header[0] = 0x81;
      header.writeUInt32BE(0x7fffffff, 8); // claims a 2 GiB body
      socket.write(header);
    });
    const misordered = await mockServer((socket) => {
      const header = Buffer.alloc(24);
      header[0] = 0x81;
      header[1] = 0x0c;
      header.writeUInt32BE(0xdeadbeef, 12); // an opaque nobody asked for
      socket.write(header);
    });
    const targets = [
      ascii.address,
      http.address,
      huge.address,
      misordered.address,
      ...(redis ? [redis.address] : []),
    ];
    const backends = targets.map((address) => faultBackend(address));
    try {
      for (const backend of backends) {
        for (let i = 0; i < 3; i++) {
          const result = await settle(() => backend.get(`k${i}`));
          expect(result.outcome).toBe('error');
          expect(isBackendFailure(result.error)).toBe(true);
          expectSettledBy(result, TIMEOUT_MS);
        }
      }
      for (const backend of backends.slice(1, 4)) {
        // Answers that are not a valid reply are protocol errors, not waits for the deadline.
        const result = await settle(() => faultBackend(backend.servers[0]!).get('x'));
        expect((result.error as Error).message).toMatch(
          /binary-protocol|oversized|out of order|closed/,
        );
      }
    } finally {
      for (const backend of backends) backend.close();
      await ascii.stop();
      await redis?.stop();
      http.server.close();
      huge.server.close();
      misordered.server.close();
    }
  });

  it('one of three servers down — fast failures for its keys only, partial batches, recovery', async () => {
    const servers = [await startMemcached(), await startMemcached(), await startMemcached()];
    const backend = faultBackend(servers.map((server) => server.address));
    try {
      const keys = Array.from({ length: 60 }, (_, i) => `f14-${i}`);
      expect(
        await backend.setMany(
          keys.map((key) => ({ key, entry: entry(key) })),
          0,
        ),
      ).toEqual([]);
      const down = servers[1]!;
      const onDown = keys.filter((key) => backend.serverFor(key) === down.address);
      const onUp = keys.filter((key) => backend.serverFor(key) !== down.address);
      expect(onDown.length).toBeGreaterThan(5);
      await down.kill();

      for (const key of onDown.slice(0, 4)) {
        const result = await settle(() => backend.get(key));
        expect(result.outcome).toBe('error');
        expectSettledBy(result, TIMEOUT_MS);
      }
      expect(backend.breakers()).toMatchObject({ [down.address]: 'open' });
      const fast = await settle(() => backend.get(onDown[0]!));
      expect(fast.ms).toBeLessThan(50);
      for (const key of onUp.slice(0, 10)) expect(textOf(await backend.get(key))).toBe(key);

      // A partial batch is thrown, never swallowed: CacheBatchError carries the healthy part.
      const many = await settle(() => backend.getMany(keys));
      expect(many.error).toBeInstanceOf(CacheBatchError);
      expectSettledBy(many, TIMEOUT_MS);
      const partial = many.error as CacheBatchError;
      expect(partial.operation).toBe('getMany');
      expect([...partial.failedKeys].sort()).toEqual([...onDown].sort());
      keys.forEach((key, i) => {
        expect(textOf(partial.entries![i])).toBe(onDown.includes(key) ? undefined : key);
      });

      const setMany = await settle(() =>
        backend.setMany(
          keys.map((key) => ({ key, entry: entry(`${key}!`) })),
          0,
        ),
      );
      expect(setMany.error).toBeInstanceOf(CacheBatchError);
      expect([...(setMany.error as CacheBatchError).notStored!].sort()).toEqual([...onDown].sort());
      const deleted = await settle(() => backend.deleteMany(keys));
      expect(deleted.error).toBeInstanceOf(CacheBatchError);
      expect(isBackendFailure(deleted.error)).toBe(true);

      await down.restart();
      const recovered = await waitFor(
        async () => (await backend.get(onDown[0]!)) === undefined,
        RECOVERY_MS,
      );
      expect(recovered).toBeGreaterThanOrEqual(0);
      expect(await backend.set(onDown[0]!, entry('back'), 0)).toBe(true);
      expect(textOf(await backend.get(onDown[0]!))).toBe('back');
    } finally {
      backend.close();
      for (const server of servers) await server.stop();
    }
  });

  it('ping() reaches every server: one frozen of two fails it by the deadline, naming it', async () => {
    const servers = [await startMemcached(), await startMemcached()];
    const backend = faultBackend(servers.map((server) => server.address));
    try {
      await backend.ping();
      servers[1]!.pause();
      const frozen = await settle(() => backend.ping());
      expect(frozen.outcome).toBe('error');
      expect(isBackendFailure(frozen.error)).toBe(true);
      expect((frozen.error as Error).message).toContain(servers[1]!.address);
      expectSettledBy(frozen, TIMEOUT_MS);
      servers[1]!.resume();
      const recovered = await waitFor(async () => {
        await backend.ping();
        return true;
      }, RECOVERY_MS);
      expect(recovered).toBeGreaterThanOrEqual(0);
    } finally {
      servers[1]!.resume();
      backend.close();
      for (const server of servers) await server.stop();
    }
  });

  it('close() settles calls in flight and later calls with a Closed error', async () => {
    const server = await startMemcached();
    // A deadline far beyond the close: on a loaded machine a short one could win the race.
    const backend = faultBackend(server.address, { timeoutMs: 10_000 });
    try {
      await backend.set('x', entry('1'), 0);
      server.pause();
      const pending = settle(() => backend.get('x'));
      await sleep(20);
      backend.close();
      const result = await pending;
      expect(
        isCacheError(result.error, CacheErrorCode.Closed),
        `${result.outcome} after ${Math.round(result.ms)} ms: ${String(result.error)}`,
      ).toBe(true);
      expect(result.ms).toBeLessThan(5_000); // settled by the close, not by the deadline
      expect(
        isCacheError((await settle(() => backend.get('x'))).error, CacheErrorCode.Closed),
      ).toBe(true);
    } finally {
      server.resume();
      await server.stop();
    }
  });
});
