// Leases on a real memcached: `setIf`, the compare-and-set a lease is renewed and committed with.
// It must refuse whenever the key no longer holds the lease marker — deleted by anyone (a raw
// text-protocol delete as Python's pymemcache sends it included), overwritten, expired — and cost
// one round trip when the marker is one this backend stored itself.
import { createConnection } from 'node:net';
import { CacheBackendError, CacheClosedError, CacheTimeoutError } from '@stowage/core';
import { LEASE_FLAGS, newLeaseMarker } from '@stowage/core/backend';
import { FaultProxy, hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemcachedBackend, type MemcachedBackend } from '../src/index.js';
import { Opcode } from '../src/protocol.js';
import { entry, RecordingProxy, textOf, trackProcessErrors, waitFor } from './helpers.js';

const PREFIX = 'lz:';

/**
 * Writes text-protocol `lines` over a plain socket, as a Python service's pymemcache would, and
 * resolves the reply once it contains `until`.
 */
function rawText(port: number, lines: readonly string[], until: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () =>
      socket.write(lines.map((line) => `${line}\r\n`).join('')),
    );
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes(until)) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('error', reject);
  });
}

/** The CAS value memcached holds for `fullKey` (text `gets`), or undefined on a miss. */
async function casOf(port: number, fullKey: string): Promise<string | undefined> {
  const reply = await rawText(port, [`gets ${fullKey}`], 'END\r\n');
  return /^VALUE \S+ \d+ \d+ (\d+)\r\n/.exec(reply)?.[1];
}

function errorOf(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (error: unknown) => error,
  );
}

trackProcessErrors();

describe.runIf(hasBinary('memcached'))('setIf (leases) on a real memcached', () => {
  let server: ServerHandle;
  let proxy: RecordingProxy;
  /** Through the recording proxy, so the frames it sends can be counted. */
  let backend: MemcachedBackend;
  /** Another backend object (another process, as far as the CAS records go). */
  let other: MemcachedBackend;
  beforeAll(async () => {
    server = await startMemcached();
    proxy = await RecordingProxy.start(server.port);
    backend = createMemcachedBackend({ servers: proxy.address, keyPrefix: PREFIX });
    other = createMemcachedBackend({ servers: server.address, keyPrefix: PREFIX });
  });
  afterAll(async () => {
    backend.close();
    other.close();
    await proxy.close();
    await server.stop();
  });
  afterEach(() => {
    proxy.clear();
  });

  /** The opcodes `backend` sent since the last `proxy.clear()`. */
  const sent = (): number[] => proxy.frames.map((frame) => frame.opcode);
  const ONE_ROUND_TRIP = [Opcode.Set, Opcode.GetK, Opcode.Noop];
  const READ_THEN_SET = [Opcode.GetK, Opcode.Noop, ...ONE_ROUND_TRIP];

  describe('compare-and-set', () => {
    it('stores over the marker it names and resolves what the server holds', async () => {
      const marker = newLeaseMarker();
      expect(await backend.add('commit', marker, 5)).toBe(true);
      const value = entry('computed', 2);
      const held = await backend.setIf('commit', marker, value, 60);
      expect(held).not.toBe(false);
      expect(textOf(held || undefined)).toBe('computed');
      expect(held && held.flags).toBe(2);
      expect(textOf(await other.get('commit'))).toBe('computed');
      // The lease is spent: the same commit again is refused and changes nothing.
      expect(await backend.setIf('commit', marker, entry('again'), 60)).toBe(false);
      expect(textOf(await other.get('commit'))).toBe('computed');
    });

    it('refuses under another marker, on a miss, and over flags that differ', async () => {
      const [mine, theirs] = [newLeaseMarker(), newLeaseMarker()];
      await other.add('taken', theirs, 5);
      expect(await backend.setIf('taken', mine, entry('x'), 60)).toBe(false);
      expect(await backend.setIf('never-there', mine, entry('x'), 60)).toBe(false);
      expect(await other.get('never-there')).toBeUndefined();
      const sameBytes = { value: theirs.value, flags: 1 };
      expect(await backend.setIf('taken', sameBytes, entry('x'), 60)).toBe(false);
      expect((await other.get('taken'))?.flags).toBe(LEASE_FLAGS);
    });

    it('refuses after a delete through the backend', async () => {
      const marker = newLeaseMarker();
      await backend.add('deleted', marker, 5);
      expect(await other.delete('deleted')).toBe(true);
      expect(await backend.setIf('deleted', marker, entry('stale'), 60)).toBe(false);
      expect(await other.get('deleted')).toBeUndefined();
    });

    it("refuses after a raw text-protocol delete of the full key (pymemcache's bust)", async () => {
      const marker = newLeaseMarker();
      await backend.add('py-deleted', marker, 5);
      // pymemcache's default_noreply sends `delete <key> noreply`; `version` tells when it ran.
      await rawText(server.port, [`delete ${PREFIX}py-deleted noreply`, 'version'], 'VERSION');
      expect(await backend.setIf('py-deleted', marker, entry('stale'), 60)).toBe(false);
      expect(await other.get('py-deleted')).toBeUndefined();
    });

    it('refuses after the key was overwritten, and keeps the newer value', async () => {
      const marker = newLeaseMarker();
      await backend.add('overwritten', marker, 5);
      expect(await other.set('overwritten', entry('newer'), 60)).toBe(true);
      expect(await backend.setIf('overwritten', marker, entry('older'), 60)).toBe(false);
      expect(textOf(await other.get('overwritten'))).toBe('newer');
      // One round trip: the read-back of the refused set said the key holds something else.
      expect(sent().slice(-3)).toEqual(ONE_ROUND_TRIP);
    });

    it('refuses after the marker expired', { timeout: 10_000 }, async () => {
      const marker = newLeaseMarker();
      await backend.add('expired', marker, 1);
      expect(await waitFor(async () => (await other.get('expired')) === undefined, 4000)).not.toBe(
        -1,
      );
      expect(await backend.setIf('expired', marker, entry('late'), 60)).toBe(false);
      expect(await other.get('expired')).toBeUndefined();
    });

    it('refuses after a flush', async () => {
      const marker = newLeaseMarker();
      await backend.add('flushed', marker, 5);
      await other.flush(0);
      expect(await backend.setIf('flushed', marker, entry('stale'), 60)).toBe(false);
      expect(await other.get('flushed')).toBeUndefined();
    });

    it('an oversized commit deletes the marker it names, and only that one', async () => {
      const big = entry(new Uint8Array(backend.limits.maxValueBytes + 1));
      const [mine, theirs] = [newLeaseMarker(), newLeaseMarker()];
      await backend.add('big-mine', mine, 5);
      expect(await backend.setIf('big-mine', mine, big, 60)).toBeUndefined();
      expect(await other.get('big-mine')).toBeUndefined();
      await other.add('big-theirs', theirs, 5);
      expect(await backend.setIf('big-theirs', mine, big, 60)).toBe(false);
      expect((await other.get('big-theirs'))?.flags).toBe(LEASE_FLAGS);
    });
  });

  describe('round trips', () => {
    it('a marker this backend added: one round trip, carrying the CAS of its add', async () => {
      const marker = newLeaseMarker();
      await backend.add('one-trip', marker, 5);
      proxy.clear();
      expect(await backend.setIf('one-trip', marker, entry('v'), 60)).not.toBe(false);
      expect(sent()).toEqual(ONE_ROUND_TRIP);
      expect(proxy.frames[0]?.cas).not.toBe(0n);
      expect(proxy.frames[0]?.key).toBe(`${PREFIX}one-trip`);
    });

    it('a marker written by someone else: a getk first, then the CAS set', async () => {
      const marker = newLeaseMarker();
      await other.add('two-trips', marker, 5);
      expect(await backend.setIf('two-trips', marker, entry('v'), 60)).not.toBe(false);
      expect(sent()).toEqual(READ_THEN_SET);
    });

    it('renewals then the commit: one round trip each, the TTL extended', async () => {
      const marker = newLeaseMarker();
      await backend.add('renew', marker, 1);
      proxy.clear();
      for (let renewal = 0; renewal < 3; renewal++) {
        const held = await backend.setIf('renew', marker, marker, 30);
        expect(held && Buffer.from(held.value).equals(Buffer.from(marker.value))).toBe(true);
      }
      // Past the first TTL: the renewals kept the marker.
      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect((await other.get('renew'))?.flags).toBe(LEASE_FLAGS);
      proxy.clear();
      expect(textOf((await backend.setIf('renew', marker, entry('done'), 60)) || undefined)).toBe(
        'done',
      );
      expect(sent()).toEqual(ONE_ROUND_TRIP);
    });

    it('a remembered CAS gone stale while the bytes stayed is retried once', async () => {
      const marker = newLeaseMarker();
      await backend.add('stale-cas', marker, 5);
      // Another backend object renews the same marker: same bytes, new CAS.
      expect(await other.setIf('stale-cas', marker, marker, 5)).not.toBe(false);
      proxy.clear();
      expect(textOf((await backend.setIf('stale-cas', marker, entry('v'), 60)) || undefined)).toBe(
        'v',
      );
      expect(sent()).toEqual([...ONE_ROUND_TRIP, ...ONE_ROUND_TRIP]);
      // The retry carried the CAS the first read-back saw, not the remembered one.
      expect(proxy.frames[3]?.cas).not.toBe(proxy.frames[0]?.cas);
    });

    it('a record is never used for another key', async () => {
      const marker = newLeaseMarker();
      await backend.add('record-a', marker, 5);
      await other.add('record-b', marker, 5);
      proxy.clear();
      expect(await backend.setIf('record-b', marker, entry('v'), 60)).not.toBe(false);
      expect(sent()).toEqual(READ_THEN_SET);
    });
  });

  it('a delete between the read and the CAS set wins', async () => {
    // Each way through the fault proxy takes L ms: the read reaches the server at L, its answer
    // is back at 2L, the CAS set reaches the server at 3L. The delete lands at 2L, in between.
    const L = 150;
    const faults = await FaultProxy.start(server.port);
    const slow = createMemcachedBackend({
      servers: faults.address,
      keyPrefix: PREFIX,
      timeoutMs: 2000,
    });
    try {
      const marker = newLeaseMarker();
      await other.add('race', marker, 5);
      faults.setMode({ kind: 'latency', ms: L });
      const committing = slow.setIf('race', marker, entry('stale'), 60);
      await new Promise((resolve) => setTimeout(resolve, 2 * L));
      expect(await other.delete('race')).toBe(true);
      expect(await committing).toBe(false);
      expect(await other.get('race')).toBeUndefined();
    } finally {
      slow.close();
      await faults.close();
    }
  });

  it('rejects with CacheClosedError after close(), and in flight at close()', async () => {
    const closing = createMemcachedBackend({ servers: server.address, keyPrefix: PREFIX });
    const marker = newLeaseMarker();
    await closing.add('closed', marker, 5);
    const inFlight = errorOf(() => closing.setIf('closed', marker, entry('v'), 60));
    closing.close();
    expect(await inFlight).toBeInstanceOf(CacheClosedError);
    expect(await errorOf(() => closing.setIf('closed', marker, entry('v'), 60))).toBeInstanceOf(
      CacheClosedError,
    );
  });
});

describe.runIf(hasBinary('memcached'))('setIf across servers and restarts', () => {
  let servers: ServerHandle[];
  beforeAll(async () => {
    servers = await Promise.all([startMemcached(), startMemcached()]);
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('each key is taken and committed on the server that owns it', async () => {
    const ring = createMemcachedBackend({ servers: servers.map((server) => server.address) });
    const single = servers.map((server) => createMemcachedBackend({ servers: server.address }));
    try {
      for (const [index, server] of servers.entries()) {
        let n = 0;
        while (ring.serverFor(`route-${n}`) !== server.address) n++;
        const key = `route-${n}`;
        const marker = newLeaseMarker();
        expect(await ring.add(key, marker, 5)).toBe(true);
        expect(await ring.setIf(key, marker, marker, 5)).not.toBe(false);
        expect(textOf((await ring.setIf(key, marker, entry(key), 60)) || undefined)).toBe(key);
        expect(textOf(await single[index]!.get(key))).toBe(key);
        expect(await single[1 - index]!.get(key)).toBeUndefined();
      }
    } finally {
      ring.close();
      for (const backend of single) backend.close();
    }
  });

  it('a remembered CAS is not sent after a reconnect (a restarted server reuses CAS values)', async () => {
    const server = servers[0]!;
    const holder = createMemcachedBackend({ servers: server.address });
    const taker = createMemcachedBackend({ servers: server.address });
    try {
      const mine = newLeaseMarker();
      // A fresh server: the add is its first item.
      await server.restart();
      expect(await holder.add('restart', mine, 30)).toBe(true);
      const before = await casOf(server.port, 'restart');
      await server.restart();
      // Another process takes the lease on the restarted server: the same CAS value again.
      const theirs = newLeaseMarker();
      expect(await taker.add('restart', theirs, 30)).toBe(true);
      expect(await casOf(server.port, 'restart')).toBe(before);
      // The holder reconnects (a later call), so its socket is ready again, on a new generation.
      await waitFor(async () => (await holder.get('other')) === undefined, 2000);
      expect(await holder.setIf('restart', mine, entry('stale'), 60)).toBe(false);
      expect((await taker.get('restart'))?.value).toEqual(Buffer.from(theirs.value));
    } finally {
      holder.close();
      taker.close();
    }
  });
});

describe.runIf(hasBinary('memcached'))('setIf failures', () => {
  let server: ServerHandle;
  let proxy: FaultProxy;
  let backend: MemcachedBackend;
  beforeAll(async () => {
    server = await startMemcached();
    proxy = await FaultProxy.start(server.port);
    backend = createMemcachedBackend({
      servers: proxy.address,
      timeoutMs: 200,
      breakerThreshold: 1000,
    });
  });
  afterAll(async () => {
    backend.close();
    await proxy.close();
    await server.stop();
  });
  afterEach(() => {
    proxy.setMode({ kind: 'pass' });
  });

  it('a CAS set sent and unanswered is an indeterminate timeout', async () => {
    const marker = newLeaseMarker();
    await backend.add('timeout-set', marker, 5);
    proxy.setMode({ kind: 'blackhole' });
    const error = await errorOf(() => backend.setIf('timeout-set', marker, entry('v'), 60));
    expect(error).toBeInstanceOf(CacheTimeoutError);
    expect(error).toMatchObject({ operation: 'setIf', key: 'timeout-set', indeterminate: true });
  });

  it('a timeout in the read before the set is not indeterminate: nothing was written', async () => {
    const marker = newLeaseMarker();
    await backend.set('timeout-read', marker, 5); // set, not add: no CAS remembered
    proxy.setMode({ kind: 'blackhole' });
    const error = await errorOf(() => backend.setIf('timeout-read', marker, entry('v'), 60));
    expect(error).toBeInstanceOf(CacheTimeoutError);
    expect(error).toMatchObject({ operation: 'setIf', indeterminate: false });
  });
});

describe.runIf(hasBinary('memcached'))('setIf on a server started with -C (no CAS)', () => {
  let server: ServerHandle;
  let backend: MemcachedBackend;
  beforeAll(async () => {
    server = await startMemcached({ args: ['-C'] });
    backend = createMemcachedBackend({ servers: server.address });
  });
  afterAll(async () => {
    backend.close();
    await server.stop();
  });

  it('refuses with CacheBackendError, writes nothing; the lease can still be released', async () => {
    const marker = newLeaseMarker();
    expect(await backend.add('no-cas', marker, 5)).toBe(true);
    const error = await errorOf(() => backend.setIf('no-cas', marker, entry('v'), 60));
    expect(error).toBeInstanceOf(CacheBackendError);
    expect(error).toMatchObject({ operation: 'setIf', indeterminate: false });
    expect((error as Error).message).toContain('-C');
    expect((await backend.get('no-cas'))?.flags).toBe(LEASE_FLAGS);
    // Under another marker it is simply false, as anywhere.
    expect(await backend.setIf('no-cas', newLeaseMarker(), entry('v'), 60)).toBe(false);
    expect(await backend.deleteIf('no-cas', marker)).toBe(true);
    expect(await backend.get('no-cas')).toBeUndefined();
  });
});
