import { randomUUID } from 'node:crypto';
import {
  CacheErrorCode,
  CacheReturnCode,
  isCacheError,
  type BackendCapabilities,
  type CacheBackend,
  type StoredEntry,
} from '@stowage/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/** Options of {@link describeBackendConformance}. */
export interface ConformanceOptions<B extends CacheBackend> {
  /**
   * The capabilities the backend claims. Passed statically because `it.skipIf` runs before any
   * backend exists; the first test checks the live backend declares exactly these.
   */
  readonly capabilities: BackendCapabilities;
  /**
   * Creates a backend isolated under `namespace` (a random string per call). Called once for the
   * suite and again for the isolation tests, which need a second instance that shares the server.
   */
  readonly create: (namespace: string) => B | Promise<B>;
  /**
   * Moves the backend's clock forward by `ms` for the TTL tests. Backends with an injectable
   * clock pass it here; by default the suite waits in real time.
   */
  readonly advanceTime?: (ms: number) => void | Promise<void>;
  /**
   * Creates a backend whose server cannot be reached (a closed port), to check that calls reject
   * with a `CacheBackendError` (or `CacheTimeoutError`) rather than a raw client error. Leave out
   * for in-process backends.
   */
  readonly createUnreachable?: () => B | Promise<B>;
  /**
   * Smallest key limit, in UTF-8 bytes, the created backends may declare. A backend whose
   * namespace prefix counts against memcached's 250 bytes declares less; the key tests then use
   * the declared `limits.maxKeyBytes`.
   * @default 250
   */
  readonly minKeyBytes?: number;
  /** Backend-specific tests registered inside the same `describe`; `backend()` returns the live instance. */
  readonly extra?: (backend: () => B) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function entry(text: string | Uint8Array, flags: number = CacheReturnCode.String): StoredEntry {
  return { value: typeof text === 'string' ? Buffer.from(text, 'utf8') : text, flags };
}

async function read(backend: CacheBackend, key: string): Promise<StoredEntry | undefined> {
  return backend.get(key);
}

function bytesOf(found: StoredEntry | undefined): string | undefined {
  return found === undefined ? undefined : Buffer.from(found.value).toString('hex');
}

function textOf(found: StoredEntry | undefined): string | undefined {
  return found === undefined ? undefined : Buffer.from(found.value).toString('utf8');
}

/**
 * Registers the shared backend conformance suite in the current vitest file. Every Stowage
 * backend runs it; run it against your own backend to check it keeps the contract of
 * `CacheBackend`.
 *
 * @example
 * describeBackendConformance('memory', {
 *   capabilities: createMemoryBackend().capabilities,
 *   create: () => createMemoryBackend({ clock }),
 *   advanceTime: (ms) => { clock.time += ms; },
 * });
 */
export function describeBackendConformance<B extends CacheBackend>(
  name: string,
  options: ConformanceOptions<B>,
): void {
  const caps = options.capabilities;
  const seconds = caps.ttlPrecision === 'seconds';
  const advance = async (ms: number): Promise<void> => {
    if (options.advanceTime !== undefined) await options.advanceTime(ms);
    else await sleep(ms);
  };
  // memcached checks expiry against a clock that ticks once a second, so a 1 s item may live
  // almost 2 s; wait long enough for any seconds-precision server.
  const expireWaitMs = (ttlSeconds: number): number =>
    seconds ? ttlSeconds * 1000 + 1100 : ttlSeconds * 1000 + 5;

  describe(`${name} backend conformance`, () => {
    let backend: B;
    const extraBackends: CacheBackend[] = [];
    let counter = 0;
    const key = (label: string): string => `cf-${label}-${++counter}`;

    beforeAll(async () => {
      backend = await options.create(`cf-${randomUUID()}`);
    });
    afterEach(async () => {
      await backend.clear();
    });
    afterAll(async () => {
      for (const other of extraBackends) await other.close();
      await backend?.close();
    });

    describe('contract', () => {
      it('declares the capabilities the suite was told about', () => {
        expect(backend.capabilities).toEqual(caps);
      });

      it('has a name and sane limits', () => {
        expect(typeof backend.name).toBe('string');
        expect(backend.name.length).toBeGreaterThan(0);
        expect(Number.isSafeInteger(backend.limits.maxKeyBytes)).toBe(true);
        expect(backend.limits.maxKeyBytes).toBeGreaterThanOrEqual(options.minKeyBytes ?? 250);
        expect(backend.limits.maxValueBytes).toBeGreaterThan(1024);
      });
    });

    describe('get / set / delete', () => {
      it('returns what was set, bytes and flags', async () => {
        const k = key('basic');
        expect(await backend.set(k, entry('hello', 7), 0)).toBe(true);
        const found = await read(backend, k);
        expect(textOf(found)).toBe('hello');
        expect(found?.flags).toBe(7);
      });

      it('returns undefined, never null, for a key that does not exist', async () => {
        const found = await read(backend, key('missing'));
        expect(found).toBeUndefined();
      });

      it('overwrites an existing value', async () => {
        const k = key('overwrite');
        await backend.set(k, entry('one'), 0);
        await backend.set(k, entry('two', CacheReturnCode.Json), 0);
        const found = await read(backend, k);
        expect(textOf(found)).toBe('two');
        expect(found?.flags).toBe(CacheReturnCode.Json);
      });

      it('deletes a key and reports whether it existed', async () => {
        const k = key('delete');
        await backend.set(k, entry('x'), 0);
        expect(await backend.delete(k)).toBe(true);
        expect(await read(backend, k)).toBeUndefined();
        expect(await backend.delete(k)).toBe(false);
      });

      it('keeps keys apart that differ only in case or a trailing character', async () => {
        const k = key('case');
        await backend.set(`${k}a`, entry('lower'), 0);
        await backend.set(`${k}A`, entry('upper'), 0);
        await backend.set(`${k}a1`, entry('longer'), 0);
        expect(textOf(await read(backend, `${k}a`))).toBe('lower');
        expect(textOf(await read(backend, `${k}A`))).toBe('upper');
        expect(textOf(await read(backend, `${k}a1`))).toBe('longer');
      });
    });

    describe('batches', () => {
      it('getMany returns entries aligned with the keys, misses as undefined', async () => {
        const [a, b, c] = [key('many'), key('many'), key('many')];
        await backend.set(a, entry('A'), 0);
        await backend.set(c, entry('C', CacheReturnCode.Integer), 0);
        const found = await backend.getMany([c, b, a]);
        expect(found).toHaveLength(3);
        expect(textOf(found[0])).toBe('C');
        expect(found[0]?.flags).toBe(CacheReturnCode.Integer);
        expect(found[1]).toBeUndefined();
        expect(textOf(found[2])).toBe('A');
      });

      it('getMany handles duplicate keys and an empty list', async () => {
        const a = key('dup');
        await backend.set(a, entry('A'), 0);
        const found = await backend.getMany([a, a]);
        expect(found.map(textOf)).toEqual(['A', 'A']);
        expect(await backend.getMany([])).toEqual([]);
      });

      it('getMany of 200 keys keeps order', async () => {
        const keys = Array.from({ length: 200 }, () => key('wide'));
        const writes = keys
          .filter((_, i) => i % 3 !== 0)
          .map((k) => ({ key: k, entry: entry(`v:${k}`) }));
        expect(await backend.setMany(writes, 0)).toEqual([]);
        const found = await backend.getMany(keys);
        keys.forEach((k, i) => {
          expect(textOf(found[i])).toBe(i % 3 === 0 ? undefined : `v:${k}`);
        });
      });

      it('setMany stores every entry and returns no failed keys', async () => {
        const writes = [1, 2, 3].map((n) => ({
          key: key('setmany'),
          entry: entry(`value ${n}`, n),
        }));
        expect(await backend.setMany(writes, 0)).toEqual([]);
        for (const write of writes) {
          const found = await read(backend, write.key);
          expect(textOf(found)).toBe(textOf(write.entry));
          expect(found?.flags).toBe(write.entry.flags);
        }
      });

      it('setMany lets the last write of a duplicate key win', async () => {
        const k = key('setmany-dup');
        await backend.setMany(
          [
            { key: k, entry: entry('first') },
            { key: k, entry: entry('last') },
          ],
          0,
        );
        expect(textOf(await read(backend, k))).toBe('last');
      });

      it('deleteMany removes every listed key and leaves others', async () => {
        const [a, b, keep] = [key('dm'), key('dm'), key('dm')];
        await backend.setMany(
          [a, b, keep].map((k) => ({ key: k, entry: entry(k) })),
          0,
        );
        await backend.deleteMany([a, b, key('dm-missing')]);
        expect(await read(backend, a)).toBeUndefined();
        expect(await read(backend, b)).toBeUndefined();
        expect(textOf(await read(backend, keep))).toBe(keep);
        await backend.deleteMany([]);
      });
    });

    describe('flags', () => {
      for (const [label, code] of Object.entries(CacheReturnCode)) {
        it(`round-trips CacheReturnCode.${label} (${code})`, async () => {
          const k = key(`flag${code}`);
          await backend.set(k, entry('payload', code), 0);
          expect((await read(backend, k))?.flags).toBe(code);
        });
      }

      it('round-trips arbitrary unsigned 32-bit flags', async () => {
        for (const flags of [0, 5, 255, 256, 65_535, 0xdeadbeef, 2 ** 31, 2 ** 32 - 1]) {
          const k = key('u32');
          await backend.set(k, entry('x', flags), 0);
          expect((await read(backend, k))?.flags).toBe(flags);
        }
      });

      it('keeps flags through getMany and setMany', async () => {
        const writes = [0, 3, 0xfffffffe].map((flags) => ({
          key: key('mflags'),
          entry: entry('v', flags),
        }));
        await backend.setMany(writes, 0);
        const found = await backend.getMany(writes.map((w) => w.key));
        expect(found.map((f) => f?.flags)).toEqual([0, 3, 0xfffffffe]);
      });
    });

    describe('binary payloads', () => {
      it('round-trips every byte value', async () => {
        const k = key('bytes');
        const all = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
        await backend.set(k, entry(all, 0), 0);
        expect(bytesOf(await read(backend, k))).toBe(Buffer.from(all).toString('hex'));
      });

      it('round-trips CRLF, NUL and protocol words inside a value', async () => {
        const k = key('crlf');
        const tricky = Buffer.from('a\r\nEND\r\nVALUE x 0 1\r\n\0b\r\n', 'latin1');
        await backend.set(k, entry(tricky, 0), 0);
        expect(bytesOf(await read(backend, k))).toBe(tricky.toString('hex'));
      });

      it('round-trips an empty payload', async () => {
        const k = key('empty');
        expect(await backend.set(k, entry(new Uint8Array(0), 1), 0)).toBe(true);
        const found = await read(backend, k);
        expect(found).toBeDefined();
        expect(found?.value.byteLength).toBe(0);
        expect(found?.flags).toBe(1);
      });

      it('stores a value of exactly maxValueBytes and refuses one byte more before any I/O', async () => {
        const k = key('limit');
        const max = backend.limits.maxValueBytes;
        const big = Buffer.alloc(max, 0x62);
        big[max - 1] = 0x03;
        expect(await backend.set(k, entry(big, 2), 0)).toBe(true);
        const found = await read(backend, k);
        expect(found?.value.byteLength).toBe(max);
        expect(Buffer.from(found!.value).equals(big)).toBe(true);
        const over = await Promise.resolve()
          .then(() => backend.set(key('limit-over'), entry(Buffer.alloc(max + 1, 0x62), 2), 0))
          .catch((error: unknown) => error);
        // Refused: either false (the server's own answer) or a CacheValueError before I/O — never stored.
        if (over !== false) expect(isCacheError(over, CacheErrorCode.Value)).toBe(true);
        expect(await read(backend, key('limit-over'))).toBeUndefined();
      });

      it('stores a value near the size limit', async () => {
        const k = key('large');
        const size = Math.min(backend.limits.maxValueBytes - 1024, 900 * 1024);
        const big = Buffer.alloc(size, 0x61);
        big[0] = 0x01;
        big[size - 1] = 0x02;
        expect(await backend.set(k, entry(big, 2), 0)).toBe(true);
        const found = await read(backend, k);
        expect(found?.value.byteLength).toBe(size);
        expect(Buffer.from(found!.value).equals(big)).toBe(true);
      });
    });

    describe('keys', () => {
      it('accepts an ASCII key of exactly maxKeyBytes (250 by default)', async () => {
        const k = `${key('long')}-`.padEnd(backend.limits.maxKeyBytes, 'k');
        expect(Buffer.byteLength(k)).toBe(backend.limits.maxKeyBytes);
        await backend.set(k, entry('long'), 0);
        expect(textOf(await read(backend, k))).toBe('long');
      });

      it('accepts multi-byte UTF-8 keys up to maxKeyBytes', async () => {
        const limit = backend.limits.maxKeyBytes;
        const head = `${key('utf8')}-`;
        const k = head + 'é'.repeat(Math.floor((limit - head.length) / 2));
        expect(Buffer.byteLength(k)).toBeLessThanOrEqual(limit);
        expect(Buffer.byteLength(k)).toBeGreaterThan(limit - 2);
        await backend.set(k, entry('accent'), 0);
        expect(textOf(await read(backend, k))).toBe('accent');
        await backend.set(`${key('emoji')}-🦀`, entry('crab'), 0);
        expect(textOf(await read(backend, `${key('emoji-miss')}-🦀`))).toBeUndefined();
      });

      it('accepts the separators and punctuation core produces', async () => {
        const k = `${key('punct')}:stack=acme:session=s1:a/b#c?d&e`;
        await backend.set(k, entry('punct'), 0);
        expect(textOf(await read(backend, k))).toBe('punct');
      });
    });

    describe('ttl', () => {
      it(`expires an entry after its TTL (${caps.ttlPrecision})`, { timeout: 15_000 }, async () => {
        const k = key('ttl');
        await backend.set(k, entry('short'), 1);
        expect(textOf(await read(backend, k))).toBe('short');
        await advance(expireWaitMs(1));
        expect(await read(backend, k)).toBeUndefined();
      });

      it('keeps an entry with TTL 0 (no expiry)', { timeout: 15_000 }, async () => {
        const k = key('forever');
        await backend.set(k, entry('forever'), 0);
        await advance(expireWaitMs(1));
        expect(textOf(await read(backend, k))).toBe('forever');
      });

      it(
        'keeps an entry with a fractional TTL instead of treating it as 0',
        { timeout: 15_000 },
        async () => {
          const k = key('fraction');
          await backend.set(k, entry('fraction'), 0.2);
          expect(textOf(await read(backend, k))).toBe('fraction');
          await advance(expireWaitMs(1));
          expect(await read(backend, k)).toBeUndefined();
        },
      );

      it('applies the TTL to setMany entries', { timeout: 15_000 }, async () => {
        const [a, b] = [key('mttl'), key('mttl')];
        await backend.setMany(
          [a, b].map((k) => ({ key: k, entry: entry(k) })),
          1,
        );
        expect((await backend.getMany([a, b])).map(textOf)).toEqual([a, b]);
        await advance(expireWaitMs(1));
        expect(await backend.getMany([a, b])).toEqual([undefined, undefined]);
      });

      it('touch gives an entry a new TTL and is false on a miss', { timeout: 15_000 }, async () => {
        const k = key('touch');
        await backend.set(k, entry('t'), 0);
        expect(await backend.touch(k, 1)).toBe(true);
        expect(await backend.touch(key('touch-missing'), 1)).toBe(false);
        await advance(expireWaitMs(1));
        expect(await read(backend, k)).toBeUndefined();
      });

      it('accepts a TTL longer than 30 days as relative', async () => {
        const k = key('month');
        await backend.set(k, entry('long ttl'), 31 * 24 * 3600);
        expect(textOf(await read(backend, k))).toBe('long ttl');
      });
    });

    describe('add / incr / decr', () => {
      it('add stores only when the key is absent', async () => {
        const k = key('add');
        expect(await backend.add(k, entry('first'), 0)).toBe(true);
        expect(await backend.add(k, entry('second'), 0)).toBe(false);
        expect(textOf(await read(backend, k))).toBe('first');
      });

      it('incr and decr change a decimal value and keep its flags', async () => {
        const k = key('counter');
        await backend.set(k, entry('41', CacheReturnCode.Integer), 0);
        expect(await backend.incr(k, 1n)).toBe(42n);
        expect(await backend.incr(k, 100n)).toBe(142n);
        expect(await backend.decr(k, 2n)).toBe(140n);
        const found = await read(backend, k);
        expect(textOf(found)?.trimEnd()).toBe('140');
        expect(found?.flags).toBe(CacheReturnCode.Integer);
      });

      it('incr and decr resolve undefined on a miss and do not create the key', async () => {
        const k = key('counter-missing');
        expect(await backend.incr(k, 1n)).toBeUndefined();
        expect(await backend.decr(k, 1n)).toBeUndefined();
        expect(await read(backend, k)).toBeUndefined();
      });

      it('incr handles values beyond 2^53 exactly', async () => {
        const k = key('big-counter');
        const start = 2n ** 53n + 1n;
        await backend.set(k, entry(start.toString(), CacheReturnCode.Integer), 0);
        expect(await backend.incr(k, 2n ** 32n)).toBe(start + 2n ** 32n);
        expect(await backend.incr(k, 1n)).toBe(start + 2n ** 32n + 1n);
      });

      it('incr works on the digits whatever the flags: a String "7" becomes the String "8"', async () => {
        const k = key('string-counter');
        await backend.set(k, entry('7', CacheReturnCode.String), 0);
        expect(await backend.incr(k, 1n)).toBe(8n);
        const found = await read(backend, k);
        expect(textOf(found)?.trimEnd()).toBe('8');
        expect(found?.flags).toBe(CacheReturnCode.String);
        await backend.set(k, entry('41', CacheReturnCode.Json), 0);
        expect(await backend.decr(k, 1n)).toBe(40n);
        const json = await read(backend, k);
        expect(textOf(json)?.trimEnd()).toBe('40');
        expect(json?.flags).toBe(CacheReturnCode.Json);
      });

      it('incr keeps the TTL of the entry it changes', { timeout: 15_000 }, async () => {
        const k = key('counter-ttl');
        await backend.set(k, entry('1', CacheReturnCode.Integer), 1);
        expect(await backend.incr(k, 1n)).toBe(2n);
        await advance(expireWaitMs(1));
        expect(await read(backend, k)).toBeUndefined();
      });

      it('incr on a value that is not a decimal integer throws CacheValueError', async () => {
        const k = key('not-a-number');
        await backend.set(k, entry('abc'), 0);
        const error: unknown = await Promise.resolve()
          .then(() => backend.incr(k, 1n))
          .catch((e: unknown) => e);
        expect(isCacheError(error, CacheErrorCode.Value)).toBe(true);
      });

      if (caps.counters === 'unsigned64') {
        it('decr stops at 0 and incr wraps at 2^64 (unsigned64)', async () => {
          const k = key('floor');
          await backend.set(k, entry('5', CacheReturnCode.Integer), 0);
          expect(await backend.decr(k, 10n)).toBe(0n);
          await backend.set(k, entry((2n ** 64n - 1n).toString(), CacheReturnCode.Integer), 0);
          expect(await backend.incr(k, 2n)).toBe(1n);
        });
      } else {
        it('decr goes below 0 (signed64)', async () => {
          const k = key('negative');
          await backend.set(k, entry('5', CacheReturnCode.Integer), 0);
          expect(await backend.decr(k, 10n)).toBe(-5n);
          expect(await backend.incr(k, 7n)).toBe(2n);
        });
      }
    });

    describe('deleteIf', () => {
      it('when implemented, deletes only an entry with exactly the expected bytes and flags', async () => {
        if (backend.deleteIf === undefined) {
          expect(typeof backend.deleteIf).toBe('undefined');
          return;
        }
        const k = key('cad');
        const held = entry('held-bytes', CacheReturnCode.String);
        await backend.set(k, held, 0);
        // Other bytes, or the same bytes under other flags: the newer write survives.
        expect(await backend.deleteIf(k, entry('other-bytes', CacheReturnCode.String))).toBe(false);
        expect(await backend.deleteIf(k, entry('held-bytes', CacheReturnCode.Json))).toBe(false);
        expect(textOf(await read(backend, k))).toBe('held-bytes');
        expect(await backend.deleteIf(k, entry('held-bytes', CacheReturnCode.String))).toBe(true);
        expect(await read(backend, k)).toBeUndefined();
        expect(await backend.deleteIf(k, held)).toBe(false);
      });

      it('when implemented, compares binary payloads byte for byte', async () => {
        if (backend.deleteIf === undefined) {
          expect(typeof backend.deleteIf).toBe('undefined');
          return;
        }
        const k = key('cad-binary');
        const bytes = Buffer.from([0, 255, 13, 10, 0x78, 0x9c, 1, 2, 3]);
        await backend.set(k, entry(bytes, 7), 0);
        const nearly = Buffer.from(bytes);
        nearly[8] = 4;
        expect(await backend.deleteIf(k, entry(nearly, 7))).toBe(false);
        expect(await backend.deleteIf(k, entry(Buffer.from(bytes), 7))).toBe(true);
        expect(await read(backend, k)).toBeUndefined();
      });
    });

    describe('setAndRead', () => {
      it('when implemented, returns exactly what the server holds', async () => {
        const k = key('verify');
        const written = entry('checked', CacheReturnCode.Json);
        if (backend.setAndRead === undefined) {
          // Optional method: the client falls back to set + get, which the tests above cover.
          expect(await backend.set(k, written, 0)).toBe(true);
          return;
        }
        const readBack = await backend.setAndRead(k, written, 0);
        expect(textOf(readBack)).toBe('checked');
        expect(readBack?.flags).toBe(CacheReturnCode.Json);
      });
    });

    describe('namespaces', () => {
      it('two instances with different namespaces do not see each other’s keys', async () => {
        const other = await options.create(`cf-${randomUUID()}`);
        extraBackends.push(other);
        const k = key('iso');
        await backend.set(k, entry('mine'), 0);
        await other.set(k, entry('theirs'), 0);
        expect(textOf(await read(backend, k))).toBe('mine');
        expect(textOf(await read(other, k))).toBe('theirs');
        await other.delete(k);
        expect(textOf(await read(backend, k))).toBe('mine');
      });

      it.skipIf(!caps.scopedClear)(
        'clear() removes only its own namespace (scopedClear)',
        async () => {
          const other = await options.create(`cf-${randomUUID()}`);
          extraBackends.push(other);
          const k = key('scoped-clear');
          await backend.set(k, entry('mine'), 0);
          await other.set(k, entry('theirs'), 0);
          await backend.clear();
          expect(await read(backend, k)).toBeUndefined();
          expect(textOf(await read(other, k))).toBe('theirs');
          await other.clear();
        },
      );

      it.skipIf(caps.scopedClear)('clear() empties the server (no scopedClear)', async () => {
        const other = await options.create(`cf-${randomUUID()}`);
        extraBackends.push(other);
        const k = key('server-clear');
        await other.set(k, entry('theirs'), 0);
        await backend.clear();
        expect(await read(other, k)).toBeUndefined();
      });
    });

    describe('flush', () => {
      it('flush(0) removes every key', async () => {
        const [a, b] = [key('flush'), key('flush')];
        await backend.setMany(
          [a, b].map((k) => ({ key: k, entry: entry(k) })),
          0,
        );
        await backend.flush(0);
        expect(await backend.getMany([a, b])).toEqual([undefined, undefined]);
      });

      it.skipIf(!caps.delayedFlush)(
        'flush(delay) keeps keys until the delay has passed',
        { timeout: 15_000 },
        async () => {
          const k = key('delayed');
          await backend.set(k, entry('soon gone'), 0);
          await backend.flush(1);
          expect(textOf(await read(backend, k))).toBe('soon gone');
          await advance(expireWaitMs(1));
          expect(await read(backend, k)).toBeUndefined();
        },
      );
    });

    describe('close', () => {
      it('is idempotent and makes later calls reject with a CacheError', async () => {
        const other = await options.create(`cf-${randomUUID()}`);
        await other.set(key('close'), entry('x'), 0);
        await other.close();
        await other.close();
        const error: unknown = await Promise.resolve()
          .then(() => other.get(key('close')))
          .catch((e: unknown) => e);
        expect(isCacheError(error)).toBe(true);
      });
    });

    if (options.createUnreachable !== undefined) {
      const createUnreachable = options.createUnreachable;
      describe('unreachable server', () => {
        it(
          'rejects with a CacheBackendError, not a raw client error',
          { timeout: 15_000 },
          async () => {
            const dead = await createUnreachable();
            const attempts: Array<() => Promise<unknown>> = [
              async () => dead.get('k'),
              async () => dead.set('k', entry('v'), 0),
              async () => dead.getMany(['a', 'b']),
            ];
            try {
              for (const attempt of attempts) {
                const error: unknown = await attempt().catch((e: unknown) => e);
                expect(
                  isCacheError(error, CacheErrorCode.Backend) ||
                    isCacheError(error, CacheErrorCode.Timeout),
                ).toBe(true);
              }
            } finally {
              await dead.close();
            }
          },
        );
      });
    }

    options.extra?.(() => backend);
  });
}
