// A damaged reply stream never becomes a hit. A fault proxy between the backend and a
// real redis-server drops, inserts or changes response bytes once, inside one value's reply (a
// faulty middlebox), while other reads are in flight behind it. Expected: no call resolves a
// value other than the one the server holds — a damaged read rejects (or misses) — and the
// backend then resets its connection, so later reads on it return the right values.
//
// This file imports nothing but `createRedisBackend` from the package, so it runs unchanged
// against earlier releases: each test fails there (a wrong value resolves as a hit).
import { CacheClient, isCacheError, type StoredEntry } from '@stowage/core';
import { FaultProxy, type FaultMode, type ServerHandle } from '@stowage/testkit';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../src/index.js';
import {
  drivers,
  errorText,
  inspector,
  redisAvailable,
  sleep,
  startServer,
  timed,
  trackUnhandledRejections,
} from './helpers.js';

/** The deadline of every call in this file, in milliseconds. */
const T = 500;
/** Longest reconnect backoff (2000 ms + jitter) plus a second. */
const RECOVERY_MS = 3100;

/** Distinct values, long enough to damage in the middle, each recognisable by its key. */
const valueOf = (key: string): string => `${key}:${'0123456789abcdef'.repeat(12)}:end-of-${key}`;
const KEYS = ['alpha', 'bravo', 'charlie', 'delta'] as const;

trackUnhandledRejections();

/** What one read settled with. */
type Outcome = PromiseSettledResult<unknown>;

/**
 * Every outcome is the right value, a miss, or a Stowage error — never another value.
 * `expected` is the value the key holds on the server.
 */
function expectNoWrongHit(outcomes: ReadonlyArray<readonly [string, Outcome]>): void {
  for (const [label, outcome] of outcomes) {
    if (outcome.status === 'rejected') {
      expect(isCacheError(outcome.reason), `${label}: ${errorText(outcome.reason)}`).toBe(true);
      continue;
    }
    const value = outcome.value;
    if (value === undefined) continue;
    expect(value, `${label} resolved a value the server does not hold`).toBe(
      valueOf(label.replace(/^.*:/, '')),
    );
  }
}

/** The `$<length>\r\n` that starts the bulk reply carrying `fullKey`'s stored value. */
async function bulkPrefix(raw: Redis, fullKey: string): Promise<number> {
  return `$${await raw.strlen(fullKey)}\r\n`.length;
}

/** Bytes of the whole bulk reply carrying `fullKey`'s stored value. */
async function bulkLength(raw: Redis, fullKey: string): Promise<number> {
  const length = await raw.strlen(fullKey);
  return `$${length}\r\n`.length + length + 2;
}

/** Where, in a stored value, the payload's middle is: past any header of ours. */
const MIDDLE = 64;

describe.skipIf(!redisAvailable)('a damaged reply stream never becomes a hit', () => {
  let server: ServerHandle;
  let raw: Redis;
  beforeAll(async () => {
    server = await startServer();
    raw = inspector(server.port);
  });
  afterAll(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  for (const [label, driver] of drivers) {
    describe(label, () => {
      let proxy: FaultProxy;
      let backend: RedisBackend;
      let cache: CacheClient;
      beforeEach(async () => {
        await raw.flushdb();
        proxy = await FaultProxy.start(server.port);
        backend = createRedisBackend({
          url: `redis://127.0.0.1:${proxy.port}`,
          keyPrefix: 'i:',
          timeoutMs: T,
          driver,
        });
        cache = new CacheClient({ backend, timeoutMs: T, compress: false });
        for (const key of KEYS) expect(await cache.set(key, valueOf(key))).toBe(true);
        expect((await cache.getMany([...KEYS])).size).toBe(KEYS.length);
      });
      afterEach(async () => {
        await cache.close();
        await proxy.close();
      });

      /** Damages the connection in use once, from now on, as `mode` says. */
      const damage = (mode: FaultMode): void => proxy.setMode(mode, 'existing');

      /** After the fault: the backend recovers by itself and every read is right again. */
      async function expectRightValuesAfterwards(): Promise<void> {
        const started = performance.now();
        for (;;) {
          const attempt = await timed(() => cache.get('alpha'));
          if (attempt.error === undefined) {
            expect(attempt.value).toBe(valueOf('alpha'));
            break;
          }
          if (performance.now() - started > RECOVERY_MS) {
            throw new Error(`no recovery: ${errorText(attempt.error)}`);
          }
          await sleep(50);
        }
        // Many reads in flight at once, each answered with its own value: nothing is left
        // misaligned on the connection.
        for (let round = 0; round < 3; round++) {
          const values = await Promise.all(KEYS.map((key) => cache.get(key)));
          expect(values).toEqual(KEYS.map(valueOf));
          const many = await cache.getMany([...KEYS].reverse());
          expect([...many.entries()]).toEqual([...KEYS].reverse().map((k) => [k, valueOf(k)]));
        }
      }

      /** Reads every key concurrently (in one tick, so their replies follow each other). */
      async function readAll(): Promise<Array<readonly [string, Outcome]>> {
        const outcomes = await Promise.allSettled(KEYS.map((key) => cache.get(key)));
        return KEYS.map((key, i) => [`get:${key}`, outcomes[i] as Outcome] as const);
      }

      it('bytes dropped inside a value: the read rejects, never resolves bytes of the next reply', async () => {
        damage({ kind: 'tamper', offset: (await bulkPrefix(raw, 'i:alpha')) + MIDDLE, drop: 7 });
        const outcomes = await readAll();
        expectNoWrongHit(outcomes);
        expect(outcomes[0]?.[1].status, 'the damaged read').toBe('rejected');
        await expectRightValuesAfterwards();
      });

      it('bytes inserted inside a value: the read rejects, never resolves a shifted value', async () => {
        damage({
          kind: 'tamper',
          offset: (await bulkPrefix(raw, 'i:alpha')) + MIDDLE,
          insert: Buffer.from('XYZ'),
        });
        const outcomes = await readAll();
        expectNoWrongHit(outcomes);
        expect(outcomes[0]?.[1].status, 'the damaged read').toBe('rejected');
        await expectRightValuesAfterwards();
      });

      it('one byte changed inside a value: the read rejects, the reads behind it are right', async () => {
        damage({
          kind: 'tamper',
          offset: (await bulkPrefix(raw, 'i:alpha')) + MIDDLE,
          drop: 1,
          insert: Buffer.from('#'),
        });
        const outcomes = await readAll();
        expectNoWrongHit(outcomes);
        expect(outcomes[0]?.[1].status, 'the damaged read').toBe('rejected');
        await expectRightValuesAfterwards();
      });

      it('a whole reply dropped: the next key’s value is never taken for this key’s', async () => {
        // Every reply then answers the command before its own: `alpha` receives bravo's value.
        damage({ kind: 'tamper', offset: 0, drop: await bulkLength(raw, 'i:alpha') });
        const outcomes = await readAll();
        expectNoWrongHit(outcomes);
        expect(outcomes[0]?.[1].status, 'the damaged read').toBe('rejected');
        await expectRightValuesAfterwards();
      });

      it('getMany: a byte changed inside one value of the batch rejects the batch', async () => {
        // The first value's reply comes first (an MGET, in earlier releases, puts the 4 bytes
        // `*4\r\n` before it: the damage then lands 4 bytes earlier, still inside the value).
        damage({
          kind: 'tamper',
          offset: (await bulkPrefix(raw, 'i:alpha')) + MIDDLE,
          drop: 1,
          insert: Buffer.from('#'),
        });
        const [many] = await Promise.allSettled([cache.getMany([...KEYS])]);
        if (many.status === 'fulfilled') {
          expectNoWrongHit(
            [...many.value.entries()].map(
              ([key, value]) =>
                [`getMany:${key}`, { status: 'fulfilled', value }] as readonly [string, Outcome],
            ),
          );
        }
        expect(many.status, 'the damaged batch').toBe('rejected');
        await expectRightValuesAfterwards();
      });

      it('setAndRead (the integrity check): a damaged read-back is never handed back as what the server holds', async () => {
        const written: StoredEntry = { value: Buffer.from(valueOf('alpha')), flags: 1 };
        // `+OK\r\n` answers the SET; the read-back follows it.
        damage({
          kind: 'tamper',
          offset: 5 + (await bulkPrefix(raw, 'i:alpha')) + MIDDLE,
          drop: 1,
          insert: Buffer.from('#'),
        });
        const outcome = await timed(() => backend.setAndRead('alpha', written, 0));
        if (outcome.error === undefined) {
          const back = outcome.value;
          expect(back, 'the read-back').toBeDefined();
          expect(Buffer.from(back!.value).toString(), 'the read-back').toBe(valueOf('alpha'));
        }
        expect(isCacheError(outcome.error), errorText(outcome.error)).toBe(true);
        await expectRightValuesAfterwards();
      });
    });
  }
});
