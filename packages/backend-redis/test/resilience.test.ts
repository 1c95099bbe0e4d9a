// Grace, stale-while-revalidate, factory deadlines, negative caching, TTL jitter and getEntry
// through a CacheClient on a real redis-server (issue 13's "done means" for this backend).
// Several backend objects on one server, each with its own connection, stand for several
// processes; one test forks real ones. Entries live 1 s fresh and a few seconds stale, and each
// test sleeps past one TTL at most.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  CacheClient,
  CacheErrorCode,
  CacheReturnCode,
  CacheTimeoutError,
  GRACE_FLAGS,
  NOT_FOUND_FLAGS,
  type CacheError,
  type GetOrSetOptions,
} from '@stowage/core';
import { LEASE_FLAGS } from '@stowage/core/backend';
import { FaultProxy, findBinary, startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../src/index.js';
import {
  redisAvailable,
  sleep,
  timed,
  trackUnhandledRejections,
  useRedisServer,
} from './helpers.js';

const SWR_PROCESS = new URL('./fixtures/swr-process.mjs', import.meta.url).pathname;
const BUILT = new URL('../dist/index.mjs', import.meta.url).pathname;
const KEY_PREFIX = 'rz:';

/** Fresh for 1 s, then stale for 5 s. */
const TTL = 1;
const GRACE = 5;
const OPTIONS = { ttl: TTL, grace: GRACE } as const;
/** The deadline of calls that meet a server that is down, and slack for a loaded 2-core machine. */
const TIMEOUT_MS = 200;
const SLACK_MS = 200;

/** The grace header as a raw reader decodes it (core's codec/grace.ts, version 1). */
interface GraceHeader {
  readonly version: number;
  readonly freshUntil: number;
  readonly staleUntil: number;
  readonly leaseUntil: number;
  readonly innerFlags: number;
  readonly token: string;
  /** The codec's entry behind the header. */
  readonly inner: Buffer;
}

// version (1) + freshUntil (8) + staleUntil (8) + leaseUntil (8) + inner flags (4) + token length (1)
const GRACE_HEADER_BYTES = 30;
// Redis's stored format (src/stored-format.ts): FF 02, CRC-32 (4 bytes), flags (4 bytes), payload.
const STORED_HEADER_BYTES = 10;

function readGraceHeader(value: Uint8Array): GraceHeader {
  const bytes = Buffer.from(value);
  const tokenLength = bytes.readUInt8(29);
  return {
    version: bytes.readUInt8(0),
    freshUntil: bytes.readDoubleBE(1),
    staleUntil: bytes.readDoubleBE(9),
    leaseUntil: bytes.readDoubleBE(17),
    innerFlags: bytes.readUInt32BE(25),
    token: bytes.toString('latin1', GRACE_HEADER_BYTES, GRACE_HEADER_BYTES + tokenLength),
    inner: bytes.subarray(GRACE_HEADER_BYTES + tokenLength),
  };
}

/** Polls `check` every 25 ms for up to `ms`; true once it held. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await sleep(25);
  }
  return false;
}

trackUnhandledRejections();

describe.skipIf(!redisAvailable)('resilience on a real redis-server', () => {
  const redis = useRedisServer();
  /** Three backend objects, three connections: three processes as far as the server can tell. */
  let backends: RedisBackend[] = [];
  const clients: Array<CacheClient<unknown>> = [];
  let prefixCount = 0;

  beforeAll(() => {
    backends = [0, 1, 2].map(() =>
      createRedisBackend({ url: `redis://127.0.0.1:${redis.server.port}`, keyPrefix: KEY_PREFIX }),
    );
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await Promise.all(backends.map((backend) => backend.close()));
  });

  /** A client of `backend` under `prefix`, closed after the file. */
  function clientOn(backend: RedisBackend, prefix: string, extra: { jitter?: number } = {}) {
    const client = new CacheClient<unknown>({ backend, prefix, ownsBackend: false, ...extra });
    clients.push(client);
    return client;
  }

  /**
   * Three clients for one test, one per backend, under a prefix no other test uses (a client's
   * stats are its own, so each test counts from zero).
   */
  function three(extra: { jitter?: number } = {}): [CacheClient, CacheClient, CacheClient] {
    const prefix = `r${++prefixCount}`;
    return backends.map((backend) => clientOn(backend, prefix, extra)) as [
      CacheClient,
      CacheClient,
      CacheClient,
    ];
  }

  /** The Redis key of a client's key. */
  const redisKey = (client: CacheClient, key: string): string => KEY_PREFIX + client.fullKey(key);

  /** `writer` stores `value` with grace; resolves once it is past its TTL (stale). */
  async function staleEntry(writer: CacheClient, key: string, value: unknown = 'old') {
    await writer.getOrSet(key, () => value, OPTIONS);
    await sleep(TTL * 1000 + 50);
    expect(await writer.getEntry(key)).toMatchObject({ status: 'stale', value });
  }

  describe('stored format', () => {
    it('a raw GET shows the stored format with GRACE_FLAGS, then the grace header; PTTL is ttl + grace', async () => {
      const [a] = three();
      const before = Date.now();
      await a.getOrSet('graced', () => ({ plan: 'gold' }), OPTIONS);
      const after = Date.now();
      const raw = await redis.raw.getBuffer(redisKey(a, 'graced'));
      expect(raw?.subarray(0, 2)).toEqual(Buffer.from([0xff, 0x02]));
      expect(raw?.readUInt32BE(6)).toBe(GRACE_FLAGS);
      expect(raw?.toString('latin1', 6, 10)).toBe('STGR'); // the flags, as ASCII
      const header = readGraceHeader(raw!.subarray(STORED_HEADER_BYTES));
      expect(header.version).toBe(1);
      expect(header.freshUntil).toBeGreaterThanOrEqual(before + TTL * 1000);
      expect(header.freshUntil).toBeLessThanOrEqual(after + TTL * 1000);
      expect(header.staleUntil - header.freshUntil).toBe(GRACE * 1000);
      expect([header.leaseUntil, header.token]).toEqual([0, '']);
      expect(header.innerFlags).toBe(CacheReturnCode.Json);
      expect(header.inner.toString()).toBe('{"plan":"gold"}');
      const pttl = await redis.raw.pttl(redisKey(a, 'graced'));
      expect(pttl).toBeGreaterThan((TTL + GRACE) * 1000 - 500);
      expect(pttl).toBeLessThanOrEqual((TTL + GRACE) * 1000);
    });

    it.runIf(findBinary('redis-cli') !== undefined)(
      'redis-cli GET shows the same, escaped as at a terminal; entries without grace keep their own flags',
      async () => {
        const [a] = three();
        await a.getOrSet('graced', () => ({ plan: 'gold' }), OPTIONS);
        await a.getOrSet('plain', () => ({ plan: 'gold' }), { ttl: 60 });
        await a.getOrSet('absent', () => undefined, { ttl: 60, negativeTtl: 30 });
        const cli = (key: string): string => {
          const args = ['-h', '127.0.0.1', '-p', String(redis.server.port), '--no-raw', 'GET'];
          const result = spawnSync(findBinary('redis-cli')!, [...args, redisKey(a, key)], {
            encoding: 'latin1',
          });
          expect(result.status).toBe(0);
          return result.stdout.trim();
        };
        const graced = cli('graced');
        expect(graced.startsWith('"\\xff\\x02')).toBe(true);
        // The stored flags are GRACE_FLAGS ('STGR'); the grace header's version byte follows.
        expect(graced).toMatch(/STGR\\x01/);
        expect(graced.endsWith('{\\"plan\\":\\"gold\\"}"')).toBe(true);
        const plain = cli('plain');
        expect(plain).not.toContain('STGR');
        expect(plain).toMatch(/\\x00\\x00\\x00\\x02\{\\"plan\\":\\"gold\\"\}"$/); // JSON flags, 2
        const absent = await redis.raw.getBuffer(redisKey(a, 'absent'));
        expect(absent?.readUInt32BE(6)).toBe(NOT_FOUND_FLAGS);
        expect(cli('absent')).toContain('STNF');
      },
    );
  });

  describe('stale values', () => {
    it('serves the stale value when the factory throws, reports it, and puts the entry back', async () => {
      const [a, b, c] = three();
      await staleEntry(a, 'k');
      const errors: CacheError[] = [];
      const value = await b.getOrSet(
        'k',
        () => {
          throw new Error('upstream 503');
        },
        { ...OPTIONS, onError: (error) => errors.push(error) },
      );
      expect(value).toBe('old');
      expect(errors.map((error) => error.code)).toEqual([CacheErrorCode.Factory]);
      expect((errors[0]?.cause as Error).message).toBe('upstream 503');
      expect(b.stats().staleServed).toBe(1);
      // The refresh lease stamped on the entry was taken off again: no lease, same value.
      const stored = await backends[2]!.get(c.fullKey('k'));
      expect(stored?.flags).toBe(GRACE_FLAGS);
      expect(readGraceHeader(stored!.value)).toMatchObject({ leaseUntil: 0, token: '' });
      expect(await c.getEntry('k')).toMatchObject({ status: 'stale', value: 'old' });
      // So the next caller, in any process, refreshes it at once.
      expect(await c.getOrSet('k', () => 'new', OPTIONS)).toBe('new');
      expect(await a.getEntry('k')).toMatchObject({ status: 'hit', value: 'new' });
    });

    it('on hardTimeout the factory sees its signal abort, the stale value answers, the late result is dropped', async () => {
      const [a, b] = three();
      await staleEntry(a, 'k');
      const seen: { stale?: unknown; reason?: unknown } = {};
      const errors: CacheError[] = [];
      const result = await timed(() =>
        b.getOrSet(
          'k',
          ({ signal, stale }) =>
            new Promise<string>((resolve) => {
              seen.stale = stale;
              signal.addEventListener('abort', () => {
                seen.reason = signal.reason;
              });
              setTimeout(() => resolve('late'), 600);
            }),
          { ...OPTIONS, hardTimeout: '100ms', onError: (error) => errors.push(error) },
        ),
      );
      expect(result.error).toBeUndefined();
      expect(result.value).toBe('old');
      expect(seen.stale).toBe('old');
      expect(seen.reason).toBeInstanceOf(CacheTimeoutError);
      expect(errors.map((error) => error.code)).toEqual([CacheErrorCode.Timeout]);
      // Answered at the hard timeout, not when the factory finished.
      expect(result.ms).toBeLessThan(600);
      await sleep(650 - result.ms);
      expect(await a.getEntry('k')).toMatchObject({ status: 'stale', value: 'old' });
    });

    it('hardTimeout with nothing stale rejects with CacheTimeoutError and leaves the key empty', async () => {
      const [a] = three();
      let aborted = false;
      const error = await a
        .getOrSet(
          'k',
          ({ signal }) =>
            new Promise<string>((resolve) => {
              signal.addEventListener('abort', () => {
                aborted = true;
              });
              setTimeout(() => resolve('late'), 300);
            }),
          { ...OPTIONS, hardTimeout: '50ms' },
        )
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CacheTimeoutError);
      expect(aborted).toBe(true);
      await sleep(350);
      // The lease marker was released and the late result was not stored.
      expect(await redis.raw.exists(redisKey(a, 'k'))).toBe(0);
    });

    it('softTimeout answers stale and lets the factory finish and store behind', async () => {
      const [a, b] = three();
      await staleEntry(a, 'k');
      const result = await timed(() =>
        b.getOrSet(
          'k',
          async () => {
            await sleep(400);
            return 'new';
          },
          { ...OPTIONS, softTimeout: '50ms' },
        ),
      );
      expect(result.value).toBe('old');
      expect(result.ms).toBeLessThan(400);
      expect(await eventually(async () => (await a.getEntry('k')).status === 'hit', 2000)).toBe(
        true,
      );
      expect(await a.getEntry('k')).toMatchObject({ status: 'hit', value: 'new' });
    });
  });

  describe('staleWhileRevalidate', () => {
    const FACTORY_MS = 500;
    const SWR: GetOrSetOptions = { ...OPTIONS, staleWhileRevalidate: true };

    it('answers stale at once in three processes (connections); exactly one refresh runs', async () => {
      const [a, b, c] = three();
      await staleEntry(a, 'k');
      const leasesBefore = a.stats().leasesTaken;
      let refreshes = 0;
      const factory = async (): Promise<string> => {
        refreshes++;
        await sleep(FACTORY_MS);
        return 'new';
      };
      const started = performance.now();
      const answers = await Promise.all(
        [a, b, c].flatMap((cache) => [
          cache.getOrSet('k', factory, SWR),
          cache.getOrSet('k', factory, SWR),
        ]),
      );
      // Every caller was answered before the refresh could have finished.
      expect(performance.now() - started).toBeLessThan(FACTORY_MS);
      expect(answers).toEqual(Array.from({ length: 6 }, () => 'old'));
      expect(await eventually(async () => (await c.getEntry('k')).status === 'hit', 3000)).toBe(
        true,
      );
      expect(await b.getEntry('k')).toMatchObject({ status: 'hit', value: 'new' });
      expect(refreshes).toBe(1);
      // One refresh lease in the fleet (a's first lease was the one it wrote the entry under).
      const taken = [a, b, c].map((cache) => cache.stats().leasesTaken);
      expect(taken.reduce((sum, n) => sum + n, 0) - leasesBefore).toBe(1);
    });

    it(
      'answers stale at once in three forked processes; exactly one refresh runs',
      { timeout: 15_000 },
      async () => {
        if (!existsSync(BUILT)) {
          throw new Error(`${BUILT} is missing: build first (npx --yes pnpm@10.34.9 build)`);
        }
        const prefix = `forked${++prefixCount}`;
        const a = clientOn(backends[0]!, prefix);
        await staleEntry(a, 'forked');
        const config = {
          url: `redis://127.0.0.1:${redis.server.port}`,
          keyPrefix: KEY_PREFIX,
          prefix,
          key: 'forked',
          ttl: TTL,
          grace: GRACE,
          factoryMs: FACTORY_MS,
        };
        const children: ChildProcess[] = [];
        const messages: Array<Array<Record<string, unknown>>> = [];
        const next = (i: number, type: string): Promise<Record<string, unknown>> =>
          new Promise((resolve, reject) => {
            const found = messages[i]!.find((message) => message['type'] === type);
            if (found !== undefined) return resolve(found);
            const child = children[i]!;
            const onMessage = (message: Record<string, unknown>): void => {
              if (message['type'] !== type) return;
              child.off('message', onMessage);
              resolve(message);
            };
            child.on('message', onMessage);
            child.once('exit', (code) =>
              reject(new Error(`process ${i} exited (${code}) before '${type}'`)),
            );
          });
        try {
          for (let i = 0; i < 3; i++) {
            const child = fork(SWR_PROCESS, [JSON.stringify(config)], { stdio: 'inherit' });
            messages.push([]);
            child.on('message', (message: Record<string, unknown>) => messages[i]!.push(message));
            children.push(child);
          }
          await Promise.all(children.map((_, i) => next(i, 'ready')));
          for (const child of children) child.send('go');
          const answered = await Promise.all(children.map((_, i) => next(i, 'answered')));
          for (const reply of answered) {
            expect(reply['answers']).toEqual(['old', 'old']);
            expect(reply['ms']).toBeLessThan(FACTORY_MS);
          }
          expect(
            await eventually(async () => (await a.getEntry('forked')).status === 'hit', 3000),
          ).toBe(true);
          expect(await a.getEntry('forked')).toMatchObject({ status: 'hit', value: 'new' });
          for (const child of children) child.send('close');
          const closed = await Promise.all(children.map((_, i) => next(i, 'closed')));
          const runs = closed.map((reply) => reply['runs'] as number);
          expect(runs.reduce((sum, n) => sum + n, 0)).toBe(1);
        } finally {
          // By PID, only the processes this test forked.
          for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
        }
      },
    );
  });

  describe('with the server down', () => {
    // Its own server, so a paused or unreachable one does not touch the other tests.
    let own: ServerHandle;
    let healthy: RedisBackend;
    beforeAll(async () => {
      own = await startRedis();
      healthy = createRedisBackend({ url: `redis://127.0.0.1:${own.port}` });
    });
    afterAll(async () => {
      await healthy?.close();
      await own?.stop();
    });

    const outages = [
      {
        name: 'paused (SIGSTOP)',
        start: async () => {
          const url = `redis://127.0.0.1:${own.port}`;
          const backend = createRedisBackend({ url, timeoutMs: TIMEOUT_MS });
          return { backend, down: () => own.pause(), up: async () => own.resume() };
        },
      },
      {
        name: 'gone (its proxy closed)',
        start: async () => {
          const proxy = await FaultProxy.start(own.port);
          const url = `redis://127.0.0.1:${proxy.port}`;
          const backend = createRedisBackend({ url, timeoutMs: TIMEOUT_MS });
          return { backend, down: () => void proxy.close(), up: () => proxy.close() };
        },
      },
    ];

    for (const outage of outages) {
      it(`${outage.name}: an entry read before serves from memory by the deadline; others fail open`, async () => {
        const { backend, down, up } = await outage.start();
        const prefix = `down${++prefixCount}`;
        const writer = new CacheClient<unknown>({ backend: healthy, prefix, ownsBackend: false });
        const reader = new CacheClient<unknown>({ backend, prefix, timeoutMs: TIMEOUT_MS });
        try {
          await writer.getOrSet('k', () => 'good', OPTIONS);
          // The reader reads it while the server is up: the only time it sees it.
          expect(await reader.getOrSet('k', () => 'unused', OPTIONS)).toBe('good');
          down();
          await sleep(TTL * 1000 + 50); // stale by now, as well as unreachable
          let runs = 0;
          const errors: CacheError[] = [];
          const options = { ...OPTIONS, onError: (error: CacheError) => errors.push(error) };
          const served = await timed(() =>
            reader.getOrSet(
              'k',
              () => {
                runs++;
                return 'fresh';
              },
              options,
            ),
          );
          expect(served.value).toBe('good');
          expect(runs).toBe(0);
          expect(served.ms).toBeLessThanOrEqual(TIMEOUT_MS + SLACK_MS);
          expect(errors.length).toBeGreaterThan(0); // the failed read was reported (fail open)
          expect(reader.stats().staleServed).toBe(1);
          // A key it never read has nothing to serve: the factory answers, by the deadline too.
          const computed = await timed(() => reader.getOrSet('other', () => 'computed', options));
          expect(computed.value).toBe('computed');
          expect(computed.ms).toBeLessThanOrEqual(TIMEOUT_MS + SLACK_MS);
        } finally {
          await up();
          await reader.close();
          await writer.close();
        }
      });
    }
  });

  describe('negativeTtl', () => {
    it('remembers undefined as "not found" with its own TTL, then asks again', async () => {
      const [a, b] = three();
      let runs = 0;
      const lookup = (cache: CacheClient): Promise<unknown> =>
        cache.getOrSet(
          'user:404',
          () => {
            runs++;
            return undefined;
          },
          { ttl: 60, negativeTtl: 1 },
        );
      expect(await lookup(a)).toBeUndefined();
      expect(await lookup(b)).toBeUndefined();
      expect(runs).toBe(1);
      expect((await backends[0]!.get(a.fullKey('user:404')))?.flags).toBe(NOT_FOUND_FLAGS);
      const pttl = await redis.raw.pttl(redisKey(a, 'user:404'));
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(1000); // its own TTL, not the value's 60 s
      // Every other read sees a miss.
      expect(await b.get('user:404', 'default')).toBe('default');
      expect(await b.getEntry('user:404')).toEqual({ status: 'notFound' });
      expect(
        await eventually(async () => (await b.getEntry('user:404')).status === 'miss', 2000),
      ).toBe(true);
      expect(await lookup(b)).toBeUndefined();
      expect(runs).toBe(2);
    });
  });

  describe('jitter', () => {
    const WRITES = 300;

    it('spreads the server TTLs of a few hundred writes over the ±10 % band', async () => {
      const [jittered] = three({ jitter: 0.1 });
      const [plain] = three();
      const keys = Array.from({ length: WRITES }, (_, i) => `k${i}`);
      for (const key of keys) await jittered.set(key, 1, { ttl: 100, skipIntegrityCheck: true });
      for (const key of keys.slice(0, 20)) await plain.set(key, 1, { ttl: 100 });
      const pttls = async (client: CacheClient, some: readonly string[]): Promise<number[]> => {
        const pipeline = redis.raw.pipeline();
        for (const key of some) pipeline.pttl(redisKey(client, key));
        return ((await pipeline.exec()) ?? []).map(([, ttl]) => ttl as number);
      };
      const ttls = await pttls(jittered, keys);
      // Without jitter every TTL is 100 s, less the milliseconds since the write.
      for (const ttl of await pttls(plain, keys.slice(0, 20))) {
        expect(ttl).toBeGreaterThan(99_000);
        expect(ttl).toBeLessThanOrEqual(100_000);
      }
      expect(ttls).toHaveLength(WRITES);
      expect(Math.min(...ttls)).toBeGreaterThanOrEqual(89_000);
      expect(Math.max(...ttls)).toBeLessThanOrEqual(110_000);
      expect(Math.min(...ttls)).toBeLessThan(91_000);
      expect(Math.max(...ttls)).toBeGreaterThan(109_000);
      // Spread over the band, not bunched: each fifth of it holds a fair share (60 expected).
      const fifths = [0, 0, 0, 0, 0];
      for (const ttl of ttls)
        fifths[Math.min(4, Math.max(0, Math.floor((ttl - 90_000) / 4000)))]!++;
      for (const count of fifths) expect(count).toBeGreaterThan(25);
    });

    it("a call's jitter spreads getOrSet writes, graced ones included", async () => {
      const [a] = three();
      const keys = Array.from({ length: 100 }, (_, i) => `g${i}`);
      for (const key of keys) await a.getOrSet(key, () => 1, { ttl: 100, grace: 10, jitter: 0.1 });
      const pipeline = redis.raw.pipeline();
      for (const key of keys) pipeline.pttl(redisKey(a, key));
      const ttls = ((await pipeline.exec()) ?? []).map(([, ttl]) => ttl as number);
      // ttl jittered to 90–110 s, then the grace on top: 100–120 s.
      expect(Math.min(...ttls)).toBeGreaterThanOrEqual(99_000);
      expect(Math.max(...ttls)).toBeLessThanOrEqual(120_000);
      expect(Math.max(...ttls) - Math.min(...ttls)).toBeGreaterThanOrEqual(12_000);
    });
  });

  describe('getEntry', () => {
    it('tells hit, stale, notFound and miss apart, with expiresAt for graced entries', async () => {
      const [a, b] = three();
      await a.set('plain', 'p', { ttl: 60 });
      await a.getOrSet('graced', () => 'g', OPTIONS);
      await a.getOrSet('absent', () => undefined, { ttl: 60, negativeTtl: 30 });
      const header = readGraceHeader((await backends[0]!.get(a.fullKey('graced')))!.value);
      expect(await b.getEntry('plain')).toEqual({ status: 'hit', value: 'p' });
      expect(await b.getEntry('graced')).toEqual({
        status: 'hit',
        value: 'g',
        expiresAt: header.freshUntil,
      });
      expect(await b.getEntry('absent')).toEqual({ status: 'notFound' });
      expect(await b.getEntry('never')).toEqual({ status: 'miss' });
      await sleep(TTL * 1000 + 50);
      expect(await b.getEntry('graced')).toEqual({
        status: 'stale',
        value: 'g',
        expiresAt: header.staleUntil,
      });
      expect(await b.get('graced')).toBeUndefined(); // get never serves stale
    });

    it("reads a key under another caller's lease as a miss", async () => {
      const [a, b] = three();
      const computing = a.getOrSet('leased', async () => {
        await sleep(300);
        return 'v';
      });
      const leased = async (): Promise<boolean> =>
        (await backends[1]!.get(b.fullKey('leased')))?.flags === LEASE_FLAGS;
      expect(await eventually(leased, 250)).toBe(true);
      expect(await b.getEntry('leased')).toEqual({ status: 'miss' });
      expect(await computing).toBe('v');
      expect(await b.getEntry('leased')).toEqual({ status: 'hit', value: 'v' });
    });
  });
});
