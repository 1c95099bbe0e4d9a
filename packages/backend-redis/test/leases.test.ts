// setIf, the compare-and-set that commits a lease, on a real redis-server: one script, one round
// trip, refused whenever the key no longer holds the lease marker — deleted (by the backend or a
// raw DEL from another connection), overwritten, expired — and read back through the same checks
// as every read, so a damaged reply is never trusted.
import {
  CacheClosedError,
  CacheErrorCode,
  CacheReturnCode,
  CacheTimeoutError,
  isCacheError,
  type StoredEntry,
} from '@stowage/core';
import { LEASE_FLAGS, LEASE_MARKER_PREFIX, newLeaseMarker } from '@stowage/core/backend';
import { FaultProxy } from '@stowage/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend, type RedisClientLike } from '../src/index.js';
import { encodeStored } from '../src/stored-format.js';
import {
  commandCalls,
  drivers,
  errorText,
  inspector,
  redisAvailable,
  sleep,
  timed,
  trackUnhandledRejections,
  useRedisServer,
} from './helpers.js';

/** The deadline of the calls that time out on purpose, in milliseconds. */
const T = 400;
/** Slack for a loaded 2-core machine. */
const MARGIN = 300;

const text = (value: string): StoredEntry => ({ value: Buffer.from(value), flags: 1 });
const asText = (entry: StoredEntry | false | undefined): unknown =>
  entry === undefined || entry === false ? entry : Buffer.from(entry.value).toString();

trackUnhandledRejections();

describe.skipIf(!redisAvailable)('setIf (lease commit) on redis', () => {
  const redis = useRedisServer();

  for (const [label, driver] of drivers) {
    describe(label, () => {
      let backend: RedisBackend;
      const open = (extra: object = {}): RedisBackend =>
        createRedisBackend({
          url: `redis://127.0.0.1:${redis.server.port}`,
          keyPrefix: 'lease:',
          driver,
          ...extra,
        });
      beforeAll(() => {
        backend = open();
      });
      afterAll(async () => {
        await backend?.close();
      });
      beforeEach(async () => {
        await redis.raw.flushdb();
      });

      it('commits over its own marker and reads back in one script call (EVALSHA, loaded with EVAL once)', async () => {
        await redis.raw.script('FLUSH');
        const first = newLeaseMarker();
        expect(await backend.add('k', first, 5)).toBe(true);
        await redis.raw.config('RESETSTAT');
        const back = await backend.setIf('k', first, text('v1'), 60);
        expect(back).toEqual({ value: Buffer.from('v1'), flags: 1 });
        // The commands inside the script count too: one compare, one SET, one bounded read-back.
        const inside = { strlen: 1, get: 1, set: 1, getrange: 1 };
        expect(await commandCalls(redis.raw)).toEqual({ evalsha: 1, eval: 1, ...inside });
        const pttl = await redis.raw.pttl('lease:k');
        expect(pttl).toBeGreaterThan(59_000);
        expect(pttl).toBeLessThanOrEqual(60_000);
        expect(asText(await backend.get('k'))).toBe('v1');

        const second = newLeaseMarker();
        await backend.delete('k');
        expect(await backend.add('k', second, 5)).toBe(true);
        await redis.raw.config('RESETSTAT');
        expect(asText(await backend.setIf('k', second, text('v2'), 60))).toBe('v2');
        expect(await commandCalls(redis.raw)).toEqual({ evalsha: 1, ...inside });
      });

      it('a key under lease holds the marker in the stored format: flags STLE, then the token', async () => {
        const marker = newLeaseMarker();
        expect(await backend.add('k', marker, 5)).toBe(true);
        const stored = (await redis.raw.getBuffer('lease:k'))!;
        expect([...stored.subarray(0, 2)]).toEqual([0xff, 0x02]);
        expect(stored.subarray(6, 10).toString('latin1')).toBe('STLE');
        expect(stored.readUInt32BE(6)).toBe(LEASE_FLAGS);
        expect(stored.subarray(10).toString('latin1')).toBe(
          Buffer.from(marker.value).toString('latin1'),
        );
        expect(stored.subarray(10).toString('latin1').startsWith(LEASE_MARKER_PREFIX)).toBe(true);
        expect(await backend.get('k')).toEqual({ value: marker.value, flags: LEASE_FLAGS });
      });

      it('refuses another lease’s marker: false, and the key keeps what it holds', async () => {
        const held = newLeaseMarker();
        expect(await backend.add('k', held, 5)).toBe(true);
        expect(await backend.setIf('k', newLeaseMarker(), text('stale'), 60)).toBe(false);
        // Same bytes, other flags: not the same entry either.
        expect(await backend.setIf('k', { value: held.value, flags: 1 }, text('x'), 60)).toBe(
          false,
        );
        expect(await backend.get('k')).toEqual({ value: held.value, flags: LEASE_FLAGS });
      });

      it('refuses after a delete — the backend’s, or a raw DEL from another connection', async () => {
        const marker = newLeaseMarker();
        expect(await backend.add('k', marker, 5)).toBe(true);
        expect(await backend.delete('k')).toBe(true);
        expect(await backend.setIf('k', marker, text('stale'), 60)).toBe(false);
        expect(await redis.raw.exists('lease:k')).toBe(0);

        const other = inspector(redis.server.port);
        try {
          const again = newLeaseMarker();
          expect(await backend.add('k', again, 5)).toBe(true);
          expect(await other.del('lease:k')).toBe(1);
          expect(await backend.setIf('k', again, text('stale'), 60)).toBe(false);
          expect(await redis.raw.exists('lease:k')).toBe(0);
        } finally {
          other.disconnect();
        }
      });

      it('refuses after an overwrite — by the backend, or a raw SET — and the newer value survives', async () => {
        const marker = newLeaseMarker();
        expect(await backend.add('k', marker, 5)).toBe(true);
        expect(await backend.set('k', text('newer'), 0)).toBe(true);
        expect(await backend.setIf('k', marker, text('stale'), 60)).toBe(false);
        expect(asText(await backend.get('k'))).toBe('newer');

        await redis.raw.set('lease:j', encodeStored(marker, 'lease:j'));
        expect(asText(await backend.setIf('j', marker, text('v'), 60))).toBe('v');
        await redis.raw.set('lease:j', 'foreign');
        expect(await backend.setIf('j', text('v'), text('stale'), 60)).toBe(false);
        expect(await redis.raw.get('lease:j')).toBe('foreign');
      });

      it('refuses after the marker expired, and a missing key stays missing', async () => {
        const marker = newLeaseMarker();
        expect(await backend.add('k', marker, 0.05)).toBe(true);
        await sleep(120);
        expect(await backend.setIf('k', marker, text('late'), 60)).toBe(false);
        expect(await backend.setIf('never', marker, text('late'), 60)).toBe(false);
        expect(await redis.raw.exists('lease:k', 'lease:never')).toBe(0);
      });

      it('renews a lease (marker over marker, new TTL), then commits over it', async () => {
        const marker = newLeaseMarker();
        expect(await backend.add('k', marker, 1)).toBe(true);
        expect(await redis.raw.pttl('lease:k')).toBeLessThanOrEqual(1000);
        expect(await backend.setIf('k', marker, marker, 30)).toEqual({
          value: marker.value,
          flags: LEASE_FLAGS,
        });
        expect(await redis.raw.pttl('lease:k')).toBeGreaterThan(29_000);
        await sleep(1100); // past the first TTL: the renewal holds it
        expect(asText(await backend.setIf('k', marker, text('computed'), 0))).toBe('computed');
        expect(await redis.raw.pttl('lease:k')).toBe(-1);
      });

      it('TTL 0 is no expiry; fractional seconds become milliseconds, rounded up, never 0', async () => {
        const commit = async (key: string, ttl: number): Promise<number> => {
          const marker = newLeaseMarker();
          expect(await backend.add(key, marker, 5)).toBe(true);
          expect(asText(await backend.setIf(key, marker, text('v'), ttl))).toBe('v');
          return redis.raw.pttl(`lease:${key}`);
        };
        expect(await commit('none', 0)).toBe(-1);
        const half = await commit('half', 1.5);
        expect(half).toBeGreaterThan(1400);
        expect(half).toBeLessThanOrEqual(1500);
        // 0.4 ms is PX 1: gone almost at once, and never kept for ever.
        expect(await commit('tiny', 0.0004)).not.toBe(-1);
        await sleep(20);
        expect(await redis.raw.exists('lease:tiny')).toBe(0);
      });

      it('commits an integer raw (INCRBY still works) and compares raw integers too', async () => {
        const marker = newLeaseMarker();
        const fortyTwo: StoredEntry = { value: Buffer.from('42'), flags: CacheReturnCode.Integer };
        expect(await backend.add('n', marker, 5)).toBe(true);
        expect(await backend.setIf('n', marker, fortyTwo, 0)).toEqual(fortyTwo);
        expect(await redis.raw.get('lease:n')).toBe('42');
        expect(asText(await backend.setIf('n', fortyTwo, text('text'), 0))).toBe('text');
      });

      it('a key of another Redis type is not the marker: false, and it is left alone', async () => {
        await redis.raw.rpush('lease:list', 'a');
        expect(await backend.setIf('list', newLeaseMarker(), text('v'), 0)).toBe(false);
        expect(await redis.raw.lrange('lease:list', 0, -1)).toEqual(['a']);
      });

      it('an oversized value is refused: the marker goes, undefined; under another holder, false and nothing goes', async () => {
        const small = open({ maxValueBytes: 1024 });
        try {
          const large = text('x'.repeat(2048));
          const marker = newLeaseMarker();
          expect(await small.add('big', marker, 5)).toBe(true);
          expect(await small.setIf('big', marker, large, 60)).toBeUndefined();
          expect(await redis.raw.exists('lease:big')).toBe(0);

          expect(await small.set('big', text('newer'), 0)).toBe(true);
          expect(await small.setIf('big', marker, large, 60)).toBe(false);
          expect(asText(await small.get('big'))).toBe('newer');
        } finally {
          await small.close();
        }
      });

      it('one marker, many concurrent commits: exactly one wins', async () => {
        const marker = newLeaseMarker();
        const others = [open(), open(), open()];
        try {
          expect(await backend.add('race', marker, 5)).toBe(true);
          const outcomes = await Promise.all(
            Array.from({ length: 24 }, (_, i) =>
              (others[i % others.length] as RedisBackend).setIf('race', marker, text(`v${i}`), 0),
            ),
          );
          const won = outcomes.filter((outcome) => outcome !== false);
          expect(won).toHaveLength(1);
          expect(asText(await backend.get('race'))).toBe(asText(won[0]));
        } finally {
          await Promise.all(others.map((other) => other.close()));
        }
      });

      it('after close(): CacheClosedError before any I/O, oversized or not', async () => {
        const closing = open({ maxValueBytes: 1024 });
        await closing.close();
        for (const entry of [text('v'), text('x'.repeat(2048))]) {
          const error = await Promise.resolve(closing.setIf('k', newLeaseMarker(), entry, 0)).catch(
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(CacheClosedError);
          expect((error as CacheClosedError).code).toBe(CacheErrorCode.Closed);
        }
      });

      describe('through a fault proxy', () => {
        let proxy: FaultProxy;
        let slow: RedisBackend;
        beforeEach(async () => {
          proxy = await FaultProxy.start(redis.server.port);
          slow = createRedisBackend({
            url: `redis://127.0.0.1:${proxy.port}`,
            keyPrefix: 'lease:',
            timeoutMs: T,
            driver,
          });
        });
        afterEach(async () => {
          await slow.close();
          await proxy.close();
        });

        it('a script call that times out is indeterminate — and it may land after all', async () => {
          const marker = newLeaseMarker();
          expect(await slow.add('k', marker, 5)).toBe(true);
          // Loaded first, so the call under test is one EVALSHA that the server applies.
          expect(await slow.setIf('k', marker, marker, 5)).not.toBe(false);
          proxy.setMode({ kind: 'latency', ms: T + 200 }, 'existing');
          const outcome = await timed(() => slow.setIf('k', marker, text('late'), 0));
          expect(outcome.ms).toBeLessThanOrEqual(T + MARGIN);
          expect(outcome.error, errorText(outcome.error)).toBeInstanceOf(CacheTimeoutError);
          expect(outcome.error).toMatchObject({ operation: 'setIf', indeterminate: true });
          await sleep(T + 400);
          // The write landed: why the caller must not take it as not done.
          expect(asText(await backend.get('k'))).toBe('late');
        });

        it('a damaged read-back rejects (indeterminate) and is never handed back', async () => {
          const marker = newLeaseMarker();
          const value = text(`computed:${'0123456789abcdef'.repeat(8)}`);
          expect(await slow.add('k', marker, 5)).toBe(true);
          expect(await slow.setIf('k', marker, marker, 5)).not.toBe(false); // loads the script
          const stored = encodeStored(value, 'lease:k');
          proxy.setMode(
            {
              kind: 'tamper',
              offset: `$${stored.length}\r\n`.length + 64,
              drop: 1,
              insert: Buffer.from('#'),
            },
            'existing',
          );
          const outcome = await timed(() => slow.setIf('k', marker, value, 0));
          expect(
            isCacheError(outcome.error, CacheErrorCode.Backend),
            errorText(outcome.error),
          ).toBe(true);
          expect(outcome.error).toMatchObject({ operation: 'setIf', indeterminate: true });
          expect((outcome.error as Error).message).toMatch(/checksum/);
          // The server holds the committed value, intact.
          expect(asText(await backend.get('k'))).toBe(asText(value));
        });
      });
    });
  }
});

/** A ready client whose every command answers `reply`: what a reply out of step looks like. */
function answering(reply: unknown): RedisClientLike & { disconnects: number } {
  const client = {
    disconnects: 0,
    status: 'ready',
    options: { commandTimeout: 1000 },
    callBuffer: () => Promise.resolve(reply),
    pipeline: () => ({ callBuffer: () => undefined, exec: () => Promise.resolve([]) }),
    connect: () => Promise.resolve(),
    disconnect: () => {
      client.disconnects++;
    },
    quit: () => Promise.resolve(),
    on: () => undefined,
    removeListener: () => undefined,
  };
  return client;
}

describe('setIf replies', () => {
  const marker = newLeaseMarker();

  it('the mismatch reply (-1) is false; an integer any other command answers is a desync', async () => {
    const mismatch = createRedisBackend({ client: answering(-1), keyPrefix: 'r:' });
    expect(await mismatch.setIf('k', marker, text('v'), 0)).toBe(false);
    await mismatch.close();
    for (const stray of [0, 1, 2]) {
      const client = answering(stray);
      const backend = createRedisBackend({ client, keyPrefix: 'r:' });
      const error = await backend.setIf('k', marker, text('v'), 0).catch((e: unknown) => e);
      expect(isCacheError(error, CacheErrorCode.Backend), String(error)).toBe(true);
      expect(error).toMatchObject({ operation: 'setIf', indeterminate: true });
      expect(client.disconnects).toBe(1); // the connection was reset
      await backend.close();
    }
  });

  it('a read-back that is another key’s value is a desync, never a hit', async () => {
    const client = answering(encodeStored(text('v'), 'r:other'));
    const backend = createRedisBackend({ client, keyPrefix: 'r:' });
    const error = await backend.setIf('k', marker, text('v'), 0).catch((e: unknown) => e);
    expect(isCacheError(error, CacheErrorCode.Backend), String(error)).toBe(true);
    expect(error).toMatchObject({ operation: 'setIf', indeterminate: true });
    expect((error as Error).message).toMatch(/checksum/);
    expect(client.disconnects).toBe(1);
    await backend.close();
  });

  it('a stray status reply reads as a foreign value (flags 0), which never matches what was written', async () => {
    const backend = createRedisBackend({ client: answering(Buffer.from('OK')), keyPrefix: 'r:' });
    expect(await backend.setIf('k', marker, text('v'), 0)).toEqual({
      value: Buffer.from('OK'),
      flags: 0,
    });
    await backend.close();
  });
});
