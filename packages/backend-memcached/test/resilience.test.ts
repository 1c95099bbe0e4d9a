// Grace, stale-while-revalidate, factory deadlines, negative caching, TTL jitter and getEntry
// through a CacheClient on a real memcached (issue 13's "done means" for this backend). Several
// backend objects on one server, each with its own connection, stand for several processes; one
// test forks real ones. memcached counts TTLs in whole seconds, so entries live 1 s fresh and a
// few seconds stale, and each test sleeps past one TTL at most.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
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
import { FaultProxy, hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemcachedBackend, type MemcachedBackend } from '../src/index.js';
import { expectSettledBy, settle, sleep, trackProcessErrors, waitFor } from './helpers.js';

const PYTHON = process.env['PYTHON_BIN'] ?? '/usr/bin/python3';
const Q2_READER = new URL('./fixtures/q2_style_reader.py', import.meta.url).pathname;
const SWR_PROCESS = new URL('./fixtures/swr-process.mjs', import.meta.url).pathname;
const BUILT = new URL('../dist/index.mjs', import.meta.url).pathname;

/** Fresh for 1 s (memcached's smallest TTL), then stale for 5 s. */
const TTL = 1;
const GRACE = 5;
const OPTIONS = { ttl: TTL, grace: GRACE } as const;
/** The deadline of calls that meet a server that is down. */
const TIMEOUT_MS = 200;

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

/**
 * Remaining TTL in seconds of each of `keys` (memcached's meta `mg <key> t`, pipelined on one raw
 * socket; `-1` for no expiry, `undefined` for a miss), in the order given.
 */
function serverTtls(port: number, keys: readonly string[]): Promise<Array<number | undefined>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () =>
      socket.write(`${keys.map((key) => `mg ${key} t\r\n`).join('')}mn\r\n`),
    );
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (!reply.endsWith('MN\r\n')) return;
      socket.destroy();
      const lines = reply.split('\r\n').slice(0, keys.length);
      resolve(
        lines.map((line) => (line === 'EN' ? undefined : Number(/ t(-?\d+)/.exec(line)?.[1]))),
      );
    });
    socket.on('error', reject);
  });
}

/** What a Q2 Python service reading `keys` gets (fixtures/q2_style_reader.py). */
type Q2Read = Record<string, { flags: number; value: unknown; hex: string } | null>;

function readLikeQ2(port: number, keys: readonly string[]): Q2Read {
  const result = spawnSync(PYTHON, [Q2_READER], {
    input: JSON.stringify({ port, read: keys }),
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`q2_style_reader.py failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { read: Q2Read }).read;
}

function pymemcacheInstalled(): boolean {
  return spawnSync(PYTHON, ['-c', 'import pymemcache']).status === 0;
}

trackProcessErrors();

describe.runIf(hasBinary('memcached'))('resilience on a real memcached', () => {
  let server: ServerHandle;
  /** Three backend objects, three connections: three processes as far as the server can tell. */
  let backends: MemcachedBackend[];
  const clients: Array<CacheClient<unknown>> = [];
  let prefixCount = 0;

  beforeAll(async () => {
    server = await startMemcached();
    backends = [0, 1, 2].map(() => createMemcachedBackend({ servers: server.address }));
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    for (const backend of backends ?? []) backend.close();
    await server?.stop();
  });

  /**
   * Three clients for one test, one per backend, under a prefix no other test uses (a client's
   * stats are its own, so each test counts from zero).
   */
  function three(extra: { jitter?: number } = {}): [CacheClient, CacheClient, CacheClient] {
    const prefix = `r${++prefixCount}`;
    const made = backends.map(
      (backend) => new CacheClient<unknown>({ backend, prefix, ownsBackend: false, ...extra }),
    );
    clients.push(...made);
    return made as [CacheClient, CacheClient, CacheClient];
  }

  /** `writer` stores `value` with grace; resolves once it is past its TTL (stale). */
  async function staleEntry(writer: CacheClient, key: string, value: unknown = 'old') {
    await writer.getOrSet(key, () => value, OPTIONS);
    await sleep(TTL * 1000 + 50);
    expect(await writer.getEntry(key)).toMatchObject({ status: 'stale', value });
  }

  describe('stored format', () => {
    it('puts a graced entry behind GRACE_FLAGS and a 30-byte header; entries without grace stay Q2', async () => {
      const [a] = three();
      const before = Date.now();
      await a.getOrSet('graced', () => ({ plan: 'gold' }), OPTIONS);
      const after = Date.now();
      await a.getOrSet('plain', () => ({ plan: 'gold' }), { ttl: 60 });
      const graced = await backends[0]!.get(a.fullKey('graced'));
      expect(graced?.flags).toBe(GRACE_FLAGS);
      const header = readGraceHeader(graced!.value);
      expect(header.version).toBe(1);
      expect(header.freshUntil).toBeGreaterThanOrEqual(before + TTL * 1000);
      expect(header.freshUntil).toBeLessThanOrEqual(after + TTL * 1000);
      expect(header.staleUntil - header.freshUntil).toBe(GRACE * 1000);
      expect([header.leaseUntil, header.token]).toEqual([0, '']);
      expect(header.innerFlags).toBe(CacheReturnCode.Json);
      expect(header.inner.toString()).toBe('{"plan":"gold"}');
      // The server keeps it through its grace: ttl + grace seconds.
      const [ttl] = await serverTtls(server.port, [a.fullKey('graced')]);
      expect(ttl).toBeGreaterThanOrEqual(TTL + GRACE - 1);
      expect(ttl).toBeLessThanOrEqual(TTL + GRACE);
      const plain = await backends[0]!.get(a.fullKey('plain'));
      expect(plain?.flags).toBe(CacheReturnCode.Json);
      expect(Buffer.from(plain!.value).toString()).toBe('{"plan":"gold"}');
    });

    it.runIf(pymemcacheInstalled())(
      'a Q2 Python reader (pymemcache) sees the flags and gets None for graced and "not found" entries',
      async () => {
        const [a] = three();
        await a.getOrSet('graced', () => ({ plan: 'gold' }), OPTIONS);
        await a.getOrSet('plain', () => ({ plan: 'gold' }), { ttl: 60 });
        await a.getOrSet('absent', () => undefined, { ttl: 60, negativeTtl: 30 });
        const keys = ['graced', 'plain', 'absent'].map((key) => a.fullKey(key));
        const read = readLikeQ2(server.port, keys);
        const [graced, plain, absent] = keys.map((key) => read[key]);
        // pymemcache hands over the item as stored: the grace flags and the header's bytes…
        expect(graced?.flags).toBe(GRACE_FLAGS);
        const stored = await backends[0]!.get(keys[0]!);
        expect(graced?.hex).toBe(Buffer.from(stored!.value).toString('hex'));
        // …which Q2's branches (flags 1–4) do not know: None, "not cached", never a misread value.
        expect(graced?.value).toBeNull();
        expect(absent).toMatchObject({ flags: NOT_FOUND_FLAGS, value: null });
        // The same reader does read a plain entry, so the None above is about the flags.
        expect(plain).toMatchObject({ flags: CacheReturnCode.Json, value: { plan: 'gold' } });
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
      const result = await settle(() =>
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
      expect(result.outcome).toBe('ok');
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
      expect(await backends[0]!.get(a.fullKey('k'))).toBeUndefined();
    });

    it('softTimeout answers stale and lets the factory finish and store behind', async () => {
      const [a, b] = three();
      await staleEntry(a, 'k');
      const result = await settle(() =>
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
      expect(await waitFor(async () => (await a.getEntry('k')).status === 'hit', 2000)).not.toBe(
        -1,
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
      expect(await waitFor(async () => (await c.getEntry('k')).status === 'hit', 3000)).not.toBe(
        -1,
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
        const a = new CacheClient<unknown>({ backend: backends[0]!, prefix, ownsBackend: false });
        clients.push(a);
        await staleEntry(a, 'forked');
        const config = {
          servers: server.address,
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
            await waitFor(async () => (await a.getEntry('forked')).status === 'hit', 3000),
          ).not.toBe(-1);
          expect(await a.getEntry('forked')).toMatchObject({ status: 'hit', value: 'new' });
          for (const child of children) child.send('close');
          const closed = await Promise.all(children.map((_, i) => next(i, 'closed')));
          expect(
            closed.map((reply) => reply['runs'] as number).reduce((sum, n) => sum + n, 0),
          ).toBe(1);
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
    let healthy: MemcachedBackend;
    beforeAll(async () => {
      own = await startMemcached();
      healthy = createMemcachedBackend({ servers: own.address });
    });
    afterAll(async () => {
      healthy?.close();
      await own?.stop();
    });

    const outages = [
      {
        name: 'paused (SIGSTOP)',
        start: async () => {
          const backend = createMemcachedBackend({ servers: own.address, timeoutMs: TIMEOUT_MS });
          return { backend, down: () => own.pause(), up: async () => own.resume() };
        },
      },
      {
        name: 'gone (its proxy closed)',
        start: async () => {
          const proxy = await FaultProxy.start(own.port);
          const backend = createMemcachedBackend({ servers: proxy.address, timeoutMs: TIMEOUT_MS });
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
          const served = await settle(() =>
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
          expectSettledBy(served, TIMEOUT_MS);
          expect(errors.length).toBeGreaterThan(0); // the failed read was reported (fail open)
          expect(reader.stats().staleServed).toBe(1);
          // A key it never read has nothing to serve: the factory answers, by the deadline too.
          const computed = await settle(() => reader.getOrSet('other', () => 'computed', options));
          expect(computed.value).toBe('computed');
          expectSettledBy(computed, TIMEOUT_MS);
        } finally {
          await up();
          await reader.close();
          await writer.close();
        }
      });
    }

    // A delete that timed out is indeterminate: by core's write model the key then reads as a
    // miss in this process, so getOrSet's failed read must not serve the value from before it
    // (the client forgets its last good value as soon as it sends a write or delete).
    it('a delete that timed out is not undone by the last good value', async () => {
      const backend = createMemcachedBackend({ servers: own.address, timeoutMs: TIMEOUT_MS });
      const cache = new CacheClient<unknown>({
        backend,
        prefix: `bust${++prefixCount}`,
        timeoutMs: TIMEOUT_MS,
      });
      try {
        await cache.getOrSet('k', () => 'busted', OPTIONS);
        own.pause();
        expect(await cache.delete('k').catch((error: unknown) => error)).toBeInstanceOf(
          CacheTimeoutError,
        );
        const value = await cache.getOrSet('k', () => 'computed', {
          ...OPTIONS,
          onError: () => {},
        });
        expect(value).toBe('computed'); // served today: 'busted'
      } finally {
        own.resume();
        await cache.close();
      }
    });
  });

  describe('negativeTtl', () => {
    it(
      'remembers undefined as "not found" with its own TTL, then asks again',
      { timeout: 10_000 },
      async () => {
        const [a, b] = three();
        let runs = 0;
        const lookup = (cache: CacheClient): Promise<unknown> =>
          cache.getOrSet(
            'user:404',
            () => {
              runs++;
              return undefined;
            },
            // memcached's clock ticks in whole seconds: a 2 s TTL lives 1–2 s.
            { ttl: 60, negativeTtl: 2 },
          );
        expect(await lookup(a)).toBeUndefined();
        expect(await lookup(b)).toBeUndefined();
        expect(runs).toBe(1);
        const fullKey = a.fullKey('user:404');
        expect((await backends[0]!.get(fullKey))?.flags).toBe(NOT_FOUND_FLAGS);
        const [ttl] = await serverTtls(server.port, [fullKey]);
        expect(ttl).toBeGreaterThanOrEqual(1);
        expect(ttl).toBeLessThanOrEqual(2); // its own TTL, not the value's 60 s
        // Every other read sees a miss.
        expect(await b.get('user:404', 'default')).toBe('default');
        expect(await b.getEntry('user:404')).toEqual({ status: 'notFound' });
        expect(
          await waitFor(async () => (await b.getEntry('user:404')).status === 'miss', 3000),
        ).not.toBe(-1);
        expect(await lookup(b)).toBeUndefined();
        expect(runs).toBe(2);
      },
    );
  });

  describe('jitter', () => {
    const WRITES = 300;

    it('spreads the server TTLs of a few hundred writes over the ±10 % band', async () => {
      const [jittered] = three({ jitter: 0.1 });
      const [plain] = three();
      const keys = Array.from({ length: WRITES }, (_, i) => `k${i}`);
      for (const key of keys) await jittered.set(key, 1, { ttl: 100, skipIntegrityCheck: true });
      for (const key of keys.slice(0, 20)) await plain.set(key, 1, { ttl: 100 });
      const ttls = (await serverTtls(
        server.port,
        keys.map((key) => jittered.fullKey(key)),
      )) as number[];
      const unjittered = await serverTtls(
        server.port,
        keys.slice(0, 20).map((key) => plain.fullKey(key)),
      );
      // Without jitter every TTL is 100 s (99 once memcached's clock ticked).
      for (const ttl of unjittered) expect([99, 100]).toContain(ttl);
      // With it, 90–110 s rounded up to whole seconds; memcached may count one of them gone.
      expect(Math.min(...ttls)).toBeGreaterThanOrEqual(89);
      expect(Math.max(...ttls)).toBeLessThanOrEqual(110);
      expect(Math.min(...ttls)).toBeLessThanOrEqual(92);
      expect(Math.max(...ttls)).toBeGreaterThanOrEqual(108);
      // Spread over the band, not bunched: each fifth of it holds a fair share (60 expected).
      const fifths = [0, 0, 0, 0, 0];
      for (const ttl of ttls) fifths[Math.min(4, Math.max(0, Math.floor((ttl - 90) / 4)))]!++;
      for (const count of fifths) expect(count).toBeGreaterThan(25);
    });

    it("a call's jitter spreads getOrSet writes, graced ones included", async () => {
      const [a] = three();
      const keys = Array.from({ length: 100 }, (_, i) => `g${i}`);
      for (const key of keys) await a.getOrSet(key, () => 1, { ttl: 100, grace: 10, jitter: 0.1 });
      const ttls = (await serverTtls(
        server.port,
        keys.map((key) => a.fullKey(key)),
      )) as number[];
      // ttl jittered to 90–110, then the grace on top: 100–120.
      expect(Math.min(...ttls)).toBeGreaterThanOrEqual(99);
      expect(Math.max(...ttls)).toBeLessThanOrEqual(120);
      expect(Math.max(...ttls) - Math.min(...ttls)).toBeGreaterThanOrEqual(12);
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
      expect(
        await waitFor(
          async () => (await backends[1]!.get(b.fullKey('leased')))?.flags === LEASE_FLAGS,
          250,
        ),
      ).not.toBe(-1);
      expect(await b.getEntry('leased')).toEqual({ status: 'miss' });
      expect(await computing).toBe('v');
      expect(await b.getEntry('leased')).toEqual({ status: 'hit', value: 'v' });
    });
  });
});
