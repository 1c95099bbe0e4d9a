import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CacheClient,
  CacheErrorCode,
  createFernetCipher,
  getCache,
  isCacheError,
  type WarningEvent,
} from '@stowage/core';
import { hasBinary, serversRequired, startMemcached, type ServerHandle } from '@stowage/testkit';
import { Client as MemjsClient } from 'memjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createBackendFromUrl,
  createMemcachedBackend,
  type MemcachedBackend,
} from '../src/index.js';
import { Opcode } from '../src/protocol.js';
import {
  entry,
  MEMJS_CREDENTIALS,
  pymemcacheInstalled,
  RecordingProxy,
  runPeer,
  textOf,
  trackProcessErrors,
  withEnv,
} from './helpers.js';

const available = hasBinary('memcached');

function errorOf(call: () => unknown): Promise<unknown> {
  return Promise.resolve()
    .then(call)
    .then(
      () => undefined,
      (error: unknown) => error,
    );
}

/** Sends one text-protocol line to memcached and returns the first reply line. */
function textCommand(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(`${line}\r\n`));
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(reply.slice(0, end));
      }
    });
    socket.on('error', reject);
  });
}

/** Remaining TTL of an item in seconds (memcached's meta `mg <key> t`; -1 = no expiry). */
async function remainingTtl(port: number, fullKey: string): Promise<number> {
  const reply = await textCommand(port, `mg ${fullKey} t`);
  const match = / t(-?\d+)/.exec(reply);
  if (match === null) throw new Error(`unexpected reply: ${reply}`);
  return Number(match[1]);
}

function saslpasswd2(): string | undefined {
  const found = ['/usr/sbin/saslpasswd2', '/usr/bin/saslpasswd2'].find((path) => existsSync(path));
  if (found === undefined && serversRequired()) {
    throw new Error('saslpasswd2 is required when CI=true (apt-get install sasl2-bin)');
  }
  return found;
}

trackProcessErrors();

describe('API', () => {
  it('has no prepend or append (memjs prepend appends)', () => {
    const backend = createMemcachedBackend({ servers: 'h' }) as unknown as Record<string, unknown>;
    expect('prepend' in backend).toBe(false);
    expect('append' in backend).toBe(false);
    expect(Object.values(Opcode)).not.toContain(0x0e);
    expect(Object.values(Opcode)).not.toContain(0x0f);
  });
});

describe.runIf(available)('with a real memcached', () => {
  let server: ServerHandle;
  let backend: MemcachedBackend;
  beforeAll(async () => {
    server = await startMemcached();
    backend = createMemcachedBackend({ servers: server.address, keyPrefix: 't:' });
  });
  afterAll(async () => {
    backend.close();
    await server.stop();
  });

  describe('input is checked before any I/O', () => {
    let proxy: RecordingProxy;
    let guarded: MemcachedBackend;
    beforeAll(async () => {
      proxy = await RecordingProxy.start(server.port);
      guarded = createMemcachedBackend({ servers: proxy.address, keyPrefix: 'pfx:' });
    });
    afterAll(async () => {
      guarded.close();
      await proxy.close();
    });

    const long = 'k'.repeat(247); // 251 bytes with the 4-byte prefix
    it.each([
      ['an empty key', () => guarded.get('')],
      ['a key with a space', () => guarded.get('a b')],
      ['a key with CRLF', () => guarded.set('a\r\nflush_all', entry('x'), 0)],
      ['a key with NUL', () => guarded.delete('a\0')],
      ['a lone surrogate', () => guarded.get('a\ud800')],
      ['a key too long once the prefix is counted', () => guarded.get(long)],
      ['a non-string key', () => guarded.get(42 as never)],
      ['one bad key in getMany', () => guarded.getMany(['ok', 'bad key'])],
      ['one bad key in deleteMany', () => guarded.deleteMany(['ok', ''])],
      [
        'one bad key in setMany',
        () =>
          guarded.setMany(
            [
              { key: 'ok', entry: entry('1') },
              { key: ' ', entry: entry('2') },
            ],
            0,
          ),
      ],
    ])('rejects %s with CacheKeyError', async (_label, call) => {
      const error = await errorOf(call);
      expect(isCacheError(error, CacheErrorCode.Key)).toBe(true);
      expect(proxy.connections).toBe(0);
    });

    it.each([
      ['flags over 32 bits', () => guarded.set('v', entry('x', 2 ** 32), 0)],
      ['negative flags', () => guarded.add('v', entry('x', -1), 0)],
      ['a negative TTL', () => guarded.set('v', entry('x'), -1)],
      ['a NaN TTL', () => guarded.touch('v', Number.NaN)],
      ['a TTL over 2^31 − 1 s', () => guarded.setAndRead('v', entry('x'), 2 ** 31)],
      ['a negative delta', () => guarded.incr('v', -1n)],
      ['a delta of 2^64', () => guarded.decr('v', 2n ** 64n)],
      ['a number delta', () => guarded.incr('v', 1 as never)],
      ['a flush delay over 30 days', () => guarded.flush(31 * 86_400)],
    ])('rejects %s with CacheValueError', async (_label, call) => {
      const error = await errorOf(call);
      expect(isCacheError(error, CacheErrorCode.Value)).toBe(true);
      expect(proxy.connections).toBe(0);
    });
  });

  describe('on the wire', () => {
    let proxy: RecordingProxy;
    let wired: MemcachedBackend;
    beforeAll(async () => {
      proxy = await RecordingProxy.start(server.port);
      wired = createMemcachedBackend({ servers: proxy.address, keyPrefix: 'w:' });
    });
    afterEach(() => proxy.clear());
    afterAll(async () => {
      wired.close();
      await proxy.close();
    });

    it('getMany is one batch of quiet getkq ended by noop, duplicates sent once', async () => {
      const keys = Array.from({ length: 50 }, (_, i) => `gm${i}`);
      await wired.setMany(
        keys.filter((_, i) => i % 2 === 0).map((key) => ({ key, entry: entry(`v-${key}`) })),
        0,
      );
      proxy.clear();
      const found = await wired.getMany([...keys, 'gm0']);
      expect(found.map(textOf)).toEqual([
        ...keys.map((k, i) => (i % 2 === 0 ? `v-${k}` : undefined)),
        'v-gm0',
      ]);
      expect(proxy.frames.map((frame) => frame.opcode)).toEqual([
        ...keys.map(() => Opcode.GetKQ),
        Opcode.Noop,
      ]);
      expect(proxy.frames.slice(0, 50).map((frame) => frame.key)).toEqual(
        keys.map((key) => `w:${key}`),
      );
      const opaques = proxy.frames.map((frame) => frame.opaque);
      expect(opaques).toEqual(opaques.map((_, i) => (opaques[0] as number) + i));
    });

    it('setMany is setq × n + noop, deleteMany is deleteq × n + noop', async () => {
      await wired.setMany(
        ['a', 'b', 'c'].map((key) => ({ key, entry: entry(key) })),
        0,
      );
      expect(proxy.frames.map((frame) => frame.opcode)).toEqual([
        Opcode.SetQ,
        Opcode.SetQ,
        Opcode.SetQ,
        Opcode.Noop,
      ]);
      proxy.clear();
      await wired.deleteMany(['a', 'b', 'missing']);
      expect(proxy.frames.map((frame) => frame.opcode)).toEqual([
        Opcode.DeleteQ,
        Opcode.DeleteQ,
        Opcode.DeleteQ,
        Opcode.Noop,
      ]);
      expect(await wired.getMany(['a', 'b', 'c'])).toMatchObject([
        undefined,
        undefined,
        { flags: 1 },
      ]);
    });

    it('setAndRead pipelines set, getk and the closing noop on one connection', async () => {
      const read = await wired.setAndRead('sr', entry('checked', 2), 0);
      expect(textOf(read)).toBe('checked');
      expect(read?.flags).toBe(2);
      expect(proxy.frames.map((frame) => frame.opcode)).toEqual([
        Opcode.Set,
        Opcode.GetK,
        Opcode.Noop,
      ]);
      expect(proxy.connections).toBe(1);
    });

    it('a single get uses getk, whose answer carries the key it is checked against, then noop', async () => {
      await wired.get('one');
      // The noop's answer shows where the value ended (a damaged stream fails, never misreads).
      expect(proxy.frames).toMatchObject([
        { opcode: Opcode.GetK, key: 'w:one' },
        { opcode: Opcode.Noop, key: '' },
      ]);
    });

    it('sends no SASL even when MEMCACHIER_*/MEMCACHE_* credentials are in the environment', async () => {
      await withEnv(MEMJS_CREDENTIALS, async () => {
        const fresh = createMemcachedBackend({ servers: proxy.address });
        expect(await fresh.set('env', entry('ok'), 0)).toBe(true);
        expect(textOf(await fresh.get('env'))).toBe('ok');
        fresh.close();
      });
      const opcodes = proxy.frames.map((frame) => frame.opcode);
      expect(opcodes).not.toContain(Opcode.SaslListMechs);
      expect(opcodes).not.toContain(Opcode.SaslAuth);
      expect(opcodes).toEqual([Opcode.Set, Opcode.GetK, Opcode.Noop]);
    });
  });

  describe('TTL', () => {
    it('sends a TTL over 30 days as absolute time, so the item lives that long', async () => {
      const ttl = 31 * 86_400;
      expect(await backend.set('month', entry('long'), ttl)).toBe(true);
      expect(textOf(await backend.get('month'))).toBe('long');
      const remaining = await remainingTtl(server.port, 't:month');
      expect(Math.abs(remaining - ttl)).toBeLessThanOrEqual(5);
    });

    it('sends exactly 30 days as relative, a fraction as a whole second, 0 as no expiry', async () => {
      await backend.set('thirty', entry('x'), 30 * 86_400);
      expect(
        Math.abs((await remainingTtl(server.port, 't:thirty')) - 30 * 86_400),
      ).toBeLessThanOrEqual(2);
      await backend.set('fraction', entry('x'), 0.3);
      expect(await remainingTtl(server.port, 't:fraction')).toBeGreaterThanOrEqual(0);
      expect(await remainingTtl(server.port, 't:fraction')).toBeLessThanOrEqual(1);
      await backend.set('forever', entry('x'), 0);
      expect(await remainingTtl(server.port, 't:forever')).toBe(-1);
      expect(await backend.touch('forever', 40 * 86_400)).toBe(true);
      expect(
        Math.abs((await remainingTtl(server.port, 't:forever')) - 40 * 86_400),
      ).toBeLessThanOrEqual(5);
    });
  });

  describe('counters over the full unsigned 64-bit range', () => {
    it('incr past 2^32 is exact (memjs reports 2^32 + 6 as 262)', async () => {
      await backend.set('c32', entry('4294967290', 3), 0);
      expect(await backend.incr('c32', 12n)).toBe(2n ** 32n + 6n);

      // The defect this guards against, shown on raw memjs against the same server.
      const raw = MemjsClient.create(server.address, {
        retries: 1,
        logger: { log: () => undefined },
      });
      try {
        await raw.set('raw32', '4294967290', {});
        const { value } = await raw.increment('raw32', 12, {});
        expect(value).not.toBe(2 ** 32 + 6);
      } finally {
        raw.close();
      }
    });

    it('incr wraps at 2^64, decr stops at 0, flags are kept, a miss creates nothing', async () => {
      await backend.set('c64', entry((2n ** 64n - 2n).toString(), 3), 0);
      expect(await backend.incr('c64', 1n)).toBe(2n ** 64n - 1n);
      expect(await backend.incr('c64', 2n)).toBe(1n);
      expect(await backend.decr('c64', 5n)).toBe(0n);
      expect((await backend.get('c64'))?.flags).toBe(3);
      expect(await backend.incr('c64-missing', 1n)).toBeUndefined();
      expect(await backend.decr('c64-missing', 1n)).toBeUndefined();
      expect(await backend.get('c64-missing')).toBeUndefined();
      await backend.set('c64', entry('18446744073709551615', 3), 0);
      expect(await backend.decr('c64', 2n ** 64n - 1n)).toBe(0n);
    });

    it('add refuses an existing key; incr on text is a CacheValueError', async () => {
      expect(await backend.add('added', entry('1'), 0)).toBe(true);
      expect(await backend.add('added', entry('2'), 0)).toBe(false);
      await backend.set('text', entry('abc'), 0);
      expect(
        isCacheError(await errorOf(() => backend.incr('text', 1n)), CacheErrorCode.Value),
      ).toBe(true);
      expect(textOf(await backend.get('added'))).toBe('1');
    });
  });

  describe('size limits', () => {
    it('stores the default maxValueBytes under a 250-byte full key on a default server (-I 1m)', async () => {
      const key = 'x'.repeat(backend.limits.maxKeyBytes);
      const value = Buffer.alloc(backend.limits.maxValueBytes, 7);
      expect(await backend.set(key, entry(value, 2), 0)).toBe(true);
      expect((await backend.get(key))?.value.byteLength).toBe(value.length);
    });

    it('follows a larger -I when maxValueBytes is raised to match', async () => {
      const big = await startMemcached({ args: ['-I', '2m'] });
      const wide = createMemcachedBackend({
        servers: big.address,
        maxValueBytes: 2 * 1024 * 1024 - 512,
      });
      try {
        const value = Buffer.alloc(1_500_000, 1);
        expect(await wide.set('big', entry(value), 0)).toBe(true);
        expect(Buffer.from((await wide.get('big'))!.value).equals(value)).toBe(true);
        // The default limit refuses it, and deletes the key's old value as memcached would.
        const narrow = createMemcachedBackend({ servers: big.address });
        expect(await narrow.set('big', entry(value), 0)).toBe(false);
        expect(await wide.get('big')).toBeUndefined();
        narrow.close();
      } finally {
        wide.close();
        await big.stop();
      }
    });

    it('returns false when the server refuses a value its -I cannot hold', async () => {
      const small = await startMemcached({ args: ['-I', '1m'] });
      // A backend misconfigured with a higher limit than the server: the server's answer decides.
      const optimistic = createMemcachedBackend({
        servers: small.address,
        maxValueBytes: 4 * 1024 * 1024,
      });
      try {
        await optimistic.set('big', entry('old'), 0);
        expect(await optimistic.set('big', entry(Buffer.alloc(2 * 1024 * 1024)), 0)).toBe(false);
        expect(await optimistic.get('big')).toBeUndefined();
        expect(await optimistic.set('after', entry('fine'), 0)).toBe(true);
      } finally {
        optimistic.close();
        await small.stop();
      }
    });
  });

  describe('getCache', () => {
    it('resolves memcached://h1:port,h2:port through the optional peer dependency', async () => {
      const second = await startMemcached();
      try {
        const cache = await getCache<unknown>({
          url: `memcached://${server.address},${second.address}`,
          prefix: 'gc',
        });
        // getCache loads the built package, a second copy of the class: check by name.
        const used = cache.backend as MemcachedBackend;
        expect(used.constructor.name).toBe('MemcachedBackend');
        expect(used.servers).toEqual([server.address, second.address]);
        const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
        await cache.setMany(keys.map((key) => [key, { key }] as const));
        expect([...(await cache.getMany(keys)).keys()].sort()).toEqual([...keys].sort());
        expect(new Set(keys.map((key) => used.serverFor(cache.fullKey(key)))).size).toBe(2);
        await cache.close();
      } finally {
        await second.stop();
      }
    });

    it('parses credentials and options from the URL and rejects unknown options', () => {
      const parsed = createBackendFromUrl(
        'memcached://us%40er:p%3Ass@h1:1,h2?keyPrefix=app:&maxValueBytes=2000000&breakerThreshold=5',
        { timeoutMs: 300 },
      );
      expect(parsed.servers).toEqual(['h1:1', 'h2:11211']);
      expect(parsed.limits).toEqual({ maxKeyBytes: 246, maxValueBytes: 2_000_000 });
      expect(createBackendFromUrl(new URL('memcached://h:5')).servers).toEqual(['h:5']);
      // As getCache passes a list: a URL of the first host, every host in `hosts`.
      const fromCore = createBackendFromUrl(new URL('memcached://u:p%21@h1:1?keyPrefix=x:'), {
        timeoutMs: 300,
        hosts: ['h1:1', 'h2:2'],
      });
      expect(fromCore.servers).toEqual(['h1:1', 'h2:2']);
      expect(fromCore.limits.maxKeyBytes).toBe(248);
      expect(() => createBackendFromUrl(new URL('memcached://u@h1'))).toThrow(/username/);
      expect(() => createBackendFromUrl('memcached://h?nope=1')).toThrow(
        /unknown memcached:\/\/ option 'nope'/,
      );
      expect(() => createBackendFromUrl('redis://h')).toThrow(/memcached:\/\//);
      expect(() => createBackendFromUrl('memcached://h?maxValueBytes=-1')).toThrow(
        /positive integer/,
      );
    });
  });

  describe('user hooks', () => {
    it('a throwing serializer rejects the write; a throwing deserializer reads as a miss plus a warning', async () => {
      const cache = new CacheClient<unknown>({
        backend,
        ownsBackend: false,
        serializer: () => {
          throw new Error('serializer boom');
        },
      });
      expect(isCacheError(await errorOf(() => cache.set('hook', 'x')), CacheErrorCode.Value)).toBe(
        true,
      );

      const warnings: WarningEvent[] = [];
      const plain = new CacheClient<unknown>({ backend, ownsBackend: false });
      await plain.set('k', 'v');
      const reading = new CacheClient<unknown>({
        backend,
        ownsBackend: false,
        deserializer: () => {
          throw new Error('deserializer boom');
        },
      });
      reading.on('warning', (event) => warnings.push(event));
      expect(await reading.get('k')).toBeUndefined();
      expect(warnings).toHaveLength(1);
      // The connection is untouched by either hook.
      expect(await plain.get('k')).toBe('v');
    });
  });

  describe.runIf(pymemcacheInstalled())(
    'interop with pymemcache (Debian python3-pymemcache)',
    () => {
      const passphrase = 'supersecretpassword';
      let plainServer: ServerHandle;
      beforeAll(async () => {
        plainServer = await startMemcached();
      });
      afterAll(async () => {
        await plainServer.stop();
      });

      it('pymemcache reads what Stowage wrote: flags 1/2/3/4 and the exact bytes', async () => {
        const raw = createMemcachedBackend({ servers: plainServer.address });
        const cache = new CacheClient<unknown>({ backend: raw, compress: false, prefix: 'q2' });
        const sealed = new CacheClient<unknown>({
          backend: raw,
          ownsBackend: false,
          compress: false,
          prefix: 'q2',
          cipher: createFernetCipher({ key: passphrase }),
        });
        await cache.set('s', 'héllo');
        await cache.set('j', { a: [1, 'x'] });
        await cache.set('i', 42);
        await sealed.set('e', 'secret');
        const answer = runPeer({
          port: plainServer.port,
          read: ['q2:s', 'q2:j', 'q2:i', 'q2:e'],
          fernet: { passphrase, key: 'q2:e' },
        }) as {
          read: Record<string, [number, string]>;
          fernet: { flags: number; plaintext_hex: string };
        };
        expect(answer.read['q2:s']).toEqual([1, Buffer.from('héllo').toString('hex')]);
        expect(answer.read['q2:j']).toEqual([2, Buffer.from('{"a":[1,"x"]}').toString('hex')]);
        expect(answer.read['q2:i']).toEqual([3, Buffer.from('42').toString('hex')]);
        expect(answer.read['q2:e']?.[0]).toBe(4);
        expect(answer.read['q2:e']?.[1]).toBe(
          Buffer.from((await raw.get('q2:e'))!.value).toString('hex'),
        );
        expect(Buffer.from(answer.fernet.plaintext_hex, 'hex').toString('utf8')).toBe('"secret"');
        await cache.close();
      });

      it('Stowage reads what pymemcache wrote with flags 1/2/3/4', async () => {
        runPeer({
          port: plainServer.port,
          write: [
            { key: 'py:s', flags: 1, hex: Buffer.from('grüße').toString('hex') },
            {
              key: 'py:j',
              flags: 2,
              hex: Buffer.from('{"x": [1, 2], "ok": true}').toString('hex'),
            },
            { key: 'py:i', flags: 3, hex: Buffer.from('-1234567890123').toString('hex') },
          ],
          fernet_write: {
            passphrase,
            key: 'py:e',
            plaintext_hex: Buffer.from('{"n": 7}').toString('hex'),
          },
        });
        const raw = createMemcachedBackend({ servers: plainServer.address });
        const cache = new CacheClient<unknown>({
          backend: raw,
          prefix: 'py',
          cipher: createFernetCipher({ key: passphrase }),
          acceptPlaintext: true,
        });
        expect(await cache.get('s')).toBe('grüße');
        expect(await cache.get('j')).toEqual({ x: [1, 2], ok: true });
        expect(await cache.get('i')).toBe(-1234567890123);
        expect(await cache.get('e')).toEqual({ n: 7 });
        expect(
          (await raw.getMany(['py:s', 'py:j', 'py:i', 'py:e'])).map((found) => found?.flags),
        ).toEqual([1, 2, 3, 4]);
        await cache.close();
      });
    },
  );

  describe.runIf(saslpasswd2() !== undefined)('SASL PLAIN, credentials from options only', () => {
    let secure: ServerHandle;
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'stowage-sasl-'));
      const db = join(dir, 'sasldb');
      const made = spawnSync(
        saslpasswd2() as string,
        ['-p', '-c', '-f', db, '-a', 'memcached', 'alice'],
        {
          input: 's3cret',
        },
      );
      expect(made.status).toBe(0);
      writeFileSync(join(dir, 'memcached.conf'), `mech_list: plain\nsasldb_path: ${db}\n`);
      const previous = process.env['SASL_CONF_PATH'];
      process.env['SASL_CONF_PATH'] = dir; // read by the memcached child started next
      try {
        secure = await startMemcached({ args: ['-S'], probe: 'binary' });
      } finally {
        if (previous === undefined) delete process.env['SASL_CONF_PATH'];
        else process.env['SASL_CONF_PATH'] = previous;
      }
    });
    afterAll(async () => {
      await secure?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('authenticates with username and password from the options', async () => {
      const authed = createMemcachedBackend({
        servers: secure.address,
        username: 'alice',
        password: 's3cret',
      });
      expect(await authed.set('sasl', entry('in'), 0)).toBe(true);
      expect(textOf(await authed.get('sasl'))).toBe('in');
      expect(await authed.getMany(['sasl', 'nope'])).toMatchObject([{ flags: 1 }, undefined]);
      authed.close();
    });

    it('fails with a CacheBackendError on a wrong password', async () => {
      const wrong = createMemcachedBackend({
        servers: secure.address,
        username: 'alice',
        password: 'nope',
      });
      const error = await errorOf(() => wrong.get('sasl'));
      expect(isCacheError(error, CacheErrorCode.Backend)).toBe(true);
      expect((error as Error).message).toMatch(/SASL authentication failed/);
      wrong.close();
    });

    it('ignores valid credentials in MEMCACHIER_*/MEMCACHE_* (the server refuses the unauthenticated call)', async () => {
      await withEnv(MEMJS_CREDENTIALS, async () => {
        const anonymous = createMemcachedBackend({ servers: secure.address });
        const error = await errorOf(() => anonymous.get('sasl'));
        expect(isCacheError(error, CacheErrorCode.Backend)).toBe(true);
        expect((error as Error).message).toMatch(/authentication/);
        anonymous.close();
      });
    });
  });
});
