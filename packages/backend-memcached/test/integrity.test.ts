// A damaged reply stream never becomes a hit. A fault proxy between the backend and a
// real memcached drops or inserts response bytes once, inside one value's answer (a faulty
// middlebox), while other reads are in flight behind it. Expected: no call resolves bytes the
// server does not hold for that key — the damaged read rejects with `CacheBackendError` — and the
// backend resets the connection, so later reads on it are right again.
//
// What cannot be caught: bytes changed in place, same length, inside an unencrypted value. The
// frame still parses where it should; only the payload differs. `CacheClient`'s encryption
// (authenticated) catches that; the README says so.
import { CacheBatchError, isCacheError, type StoredEntry } from '@stowage/core';
import {
  FaultProxy,
  hasBinary,
  startMemcached,
  type FaultMode,
  type ServerHandle,
} from '@stowage/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemcachedBackend, type MemcachedBackend } from '../src/index.js';
import { entry, settle, sleep, textOf, trackProcessErrors } from './helpers.js';

const T = 500;
/** Reconnecting after a reset: the breaker's first cooldown plus a second. */
const RECOVERY_MS = 2000;
const HEADER_BYTES = 24;
/** Extras of a `getk` hit: the 4-byte flags. */
const FLAGS_BYTES = 4;
/** Where, in a value, its middle is. */
const MIDDLE = 64;

/** Distinct values, long enough to damage in the middle, each recognisable by its key. */
const valueOf = (key: string): string => `${key}:${'0123456789abcdef'.repeat(12)}:end-of-${key}`;
const KEYS = ['alpha', 'bravo', 'charlie', 'delta'] as const;

/** Bytes before the middle of `key`'s value in a `getk` answer. */
const middleOf = (key: string): number => HEADER_BYTES + FLAGS_BYTES + key.length + MIDDLE;

/** Bytes of a whole `getk` hit answer for `key`. */
const answerBytes = (key: string): number =>
  HEADER_BYTES + FLAGS_BYTES + key.length + valueOf(key).length;

trackProcessErrors();

type Outcome = PromiseSettledResult<StoredEntry | undefined>;

/** Every outcome is the key's own value, a miss, or a Stowage error — never other bytes. */
function expectNoWrongHit(outcomes: ReadonlyArray<readonly [string, Outcome]>): void {
  for (const [key, outcome] of outcomes) {
    if (outcome.status === 'rejected') {
      expect(isCacheError(outcome.reason), `${key}: ${String(outcome.reason)}`).toBe(true);
      continue;
    }
    if (outcome.value === undefined) continue;
    expect(textOf(outcome.value), `${key} resolved bytes the server does not hold`).toBe(
      valueOf(key),
    );
  }
}

describe.skipIf(!hasBinary('memcached'))('a damaged reply stream never becomes a hit', () => {
  let server: ServerHandle;
  let proxy: FaultProxy;
  let backend: MemcachedBackend;
  beforeAll(async () => {
    server = await startMemcached();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(async () => {
    proxy = await FaultProxy.start(server.port);
    backend = createMemcachedBackend({ servers: proxy.address, timeoutMs: T });
    for (const key of KEYS) expect(await backend.set(key, entry(valueOf(key)), 0)).toBe(true);
  });
  afterEach(async () => {
    backend.close();
    await proxy.close();
  });

  /** Damages the connection in use once, from now on, as `mode` says. */
  const damage = (mode: FaultMode): void => proxy.setMode(mode, 'existing');

  /** Reads every key in one tick, so their answers follow each other on the connection. */
  async function readAll(): Promise<Array<readonly [string, Outcome]>> {
    const outcomes = await Promise.allSettled(KEYS.map((key) => backend.get(key)));
    return KEYS.map((key, i) => [key, outcomes[i] as Outcome] as const);
  }

  /** After the fault the backend recovers by itself and every read is right again. */
  async function expectRightValuesAfterwards(): Promise<void> {
    const started = performance.now();
    for (;;) {
      const attempt = await settle(() => backend.get('alpha'));
      if (attempt.outcome === 'ok') {
        expect(textOf(attempt.value)).toBe(valueOf('alpha'));
        break;
      }
      if (performance.now() - started > RECOVERY_MS) {
        throw new Error(`no recovery: ${attempt.outcome}`, { cause: attempt.error });
      }
      await sleep(50);
    }
    for (let round = 0; round < 3; round++) {
      const values = await Promise.all(KEYS.map((key) => backend.get(key)));
      expect(values.map(textOf)).toEqual(KEYS.map(valueOf));
      const many = await backend.getMany([...KEYS].reverse());
      expect(many.map(textOf)).toEqual([...KEYS].reverse().map(valueOf));
    }
  }

  it('bytes dropped inside a value: the read rejects, never resolves bytes of the next answer', async () => {
    damage({ kind: 'tamper', offset: middleOf('alpha'), drop: 7 });
    const outcomes = await readAll();
    expectNoWrongHit(outcomes);
    expect(outcomes[0]?.[1].status, 'the damaged read').toBe('rejected');
    await expectRightValuesAfterwards();
  });

  it('bytes inserted inside a value: the read rejects, never resolves a shifted value', async () => {
    damage({ kind: 'tamper', offset: middleOf('alpha'), insert: Buffer.from('XYZ') });
    const outcomes = await readAll();
    expectNoWrongHit(outcomes);
    expect(outcomes[0]?.[1].status, 'the damaged read').toBe('rejected');
    await expectRightValuesAfterwards();
  });

  it('bytes dropped at the end of the last value: the read alone in flight still rejects', async () => {
    // Nothing follows alpha's answer but what the backend sent after it: the terminator must be
    // there to show where the value ends.
    damage({ kind: 'tamper', offset: answerBytes('alpha') - 5, drop: 3 });
    const [outcome] = await Promise.allSettled([backend.get('alpha')]);
    expectNoWrongHit([['alpha', outcome]]);
    expect(outcome?.status, 'the damaged read').toBe('rejected');
    await expectRightValuesAfterwards();
  });

  it('a whole answer dropped: the next key’s value is never taken for this key’s', async () => {
    damage({ kind: 'tamper', offset: 0, drop: answerBytes('alpha') });
    const outcomes = await readAll();
    expectNoWrongHit(outcomes);
    expect(outcomes[0]?.[1].status, 'the damaged read').toBe('rejected');
    await expectRightValuesAfterwards();
  });

  it('setAndRead: bytes dropped inside the read-back reject the call', async () => {
    // The answer to the `set` (a bare 24-byte header) comes first, then the `getk` hit.
    damage({ kind: 'tamper', offset: HEADER_BYTES + middleOf('alpha'), drop: 7 });
    const [outcome] = await Promise.allSettled([
      backend.setAndRead('alpha', entry(valueOf('alpha')), 0),
    ]);
    expectNoWrongHit([['alpha', outcome]]);
    expect(outcome?.status, 'the damaged integrity read').toBe('rejected');
    await expectRightValuesAfterwards();
  });

  it('getMany: bytes dropped inside one value reject the batch, no damaged value is returned', async () => {
    damage({ kind: 'tamper', offset: middleOf('alpha'), drop: 7 });
    const [many] = await Promise.allSettled([backend.getMany([...KEYS])]);
    if (many.status === 'fulfilled') {
      expectNoWrongHit(
        KEYS.map((key, i) => [key, { status: 'fulfilled', value: many.value[i] }] as const),
      );
    }
    expect(many.status, 'the damaged batch').toBe('rejected');
    await expectRightValuesAfterwards();
  });
});

describe.skipIf(!hasBinary('memcached'))('a damaged answer from one server of a ring', () => {
  let healthy: ServerHandle;
  let damaged: ServerHandle;
  let proxy: FaultProxy;
  let backend: MemcachedBackend;
  beforeAll(async () => {
    [healthy, damaged] = await Promise.all([startMemcached(), startMemcached()]);
    proxy = await FaultProxy.start(damaged.port);
    backend = createMemcachedBackend({
      servers: [healthy.address, proxy.address],
      timeoutMs: T,
    });
  });
  afterAll(async () => {
    backend?.close();
    await proxy?.close();
    await Promise.all([healthy?.stop(), damaged?.stop()]);
  });

  it('getMany reports the damaged server’s share as failed, never its damaged bytes', async () => {
    const keys = Array.from({ length: 16 }, (_, i) => `ring-${i}`);
    for (const key of keys) expect(await backend.set(key, entry(valueOf(key)), 0)).toBe(true);
    const behindProxy = keys.filter((key) => backend.serverFor(key) === proxy.address);
    const direct = keys.filter((key) => backend.serverFor(key) !== proxy.address);
    expect(behindProxy.length).toBeGreaterThan(1);
    expect(direct.length).toBeGreaterThan(0);
    // getMany asks each server for its keys in call order: the first proxied key answers first,
    // as a hit, before the second one's answer is damaged.
    const [first, second] = behindProxy as [string, string];
    proxy.setMode(
      { kind: 'tamper', offset: answerBytes(first) + middleOf(second), drop: 7 },
      'existing',
    );
    // The damaged share fails the batch partly: a CacheBatchError carries the healthy part.
    const failure = await backend.getMany(keys).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(CacheBatchError);
    const batch = failure as CacheBatchError;
    expect([...batch.failedKeys].sort()).toEqual([...behindProxy].sort());
    const results = batch.entries!;
    keys.forEach((key, i) => {
      const found = results[i];
      if (found !== undefined) expect(textOf(found), key).toBe(valueOf(key));
    });
    for (const key of direct) expect(textOf(results[keys.indexOf(key)]), key).toBe(valueOf(key));
    // Every hit of the damaged batch came before the damage was seen: none may survive it.
    for (const key of behindProxy) expect(results[keys.indexOf(key)], key).toBeUndefined();
  });
});
