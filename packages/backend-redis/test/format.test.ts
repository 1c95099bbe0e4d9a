import {
  CacheClient,
  CacheErrorCode,
  CacheReturnCode,
  isCacheError,
  type WarningEvent,
} from '@stowage/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { createRedisBackend, type RedisBackend } from '../src/index.js';
import {
  decodeStored,
  encodeStored,
  HEADER_BYTES,
  isCanonicalInt64,
  readStored,
  StoredProblem,
} from '../src/stored-format.js';
import { drivers, redisAvailable, useRedisServer } from './helpers.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

const KEY = 'app:k';

describe('stored format', () => {
  it('keeps canonical signed 64-bit integers raw and nothing else', () => {
    for (const text of ['0', '7', '-7', '42', '9223372036854775807', '-9223372036854775808']) {
      expect(isCanonicalInt64(bytes(text)), text).toBe(true);
      const stored = encodeStored({ value: bytes(text), flags: CacheReturnCode.Integer }, KEY);
      expect(stored.toString('latin1')).toBe(text);
    }
    for (const text of [
      '',
      '-',
      '-0',
      '007',
      '+5',
      '5 ',
      ' 5',
      '1e3',
      '9223372036854775808',
      '-9223372036854775809',
      '99999999999999999999',
      '١٢',
    ]) {
      expect(isCanonicalInt64(Buffer.from(text, 'utf8')), JSON.stringify(text)).toBe(false);
    }
  });

  it('puts a 10-byte header (FF 02, CRC-32 of key + flags + payload, flags) before everything else', () => {
    const stored = encodeStored({ value: bytes('hi'), flags: CacheReturnCode.String }, KEY);
    const crc = crc32(Buffer.concat([bytes(KEY), Buffer.from([0, 0, 0, 1]), bytes('hi')]));
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc);
    expect([...stored]).toEqual([0xff, 0x02, ...sum, 0, 0, 0, 1, 0x68, 0x69]);
    expect(HEADER_BYTES).toBe(10);
    // An integer-looking payload under another flag keeps its flag.
    const text42 = encodeStored({ value: bytes('42'), flags: CacheReturnCode.String }, KEY);
    expect(text42.byteLength).toBe(HEADER_BYTES + 2);
    expect(decodeStored(text42, KEY)).toEqual({
      value: bytes('42'),
      flags: CacheReturnCode.String,
    });
    // A non-canonical integer payload is not stored raw (INCRBY would refuse or rewrite it).
    expect(encodeStored({ value: bytes('007'), flags: CacheReturnCode.Integer }, KEY)[0]).toBe(
      0xff,
    );
  });

  it('round-trips every flags value and every byte', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const flags of [0, 1, 2, 3, 4, 255, 65_536, 0x7fffffff, 0x80000000, 0xffffffff]) {
      const back = decodeStored(encodeStored({ value: all, flags }, KEY), KEY);
      expect(back?.flags).toBe(flags);
      expect(Buffer.from(back!.value).equals(all)).toBe(true);
    }
    const empty = decodeStored(encodeStored({ value: new Uint8Array(0), flags: 2 }, KEY), KEY);
    expect(empty?.flags).toBe(2);
    expect(empty?.value.byteLength).toBe(0);
  });

  it('refuses any changed, dropped or added byte, and a value read under another key', () => {
    const stored = encodeStored({ value: bytes('{"balance":100}'), flags: 2 }, KEY);
    expect(readStored(stored, 'app:other')).toBe(StoredProblem.Checksum);
    for (let at = 2; at < stored.length; at++) {
      const changed = Buffer.from(stored);
      changed[at] = (changed[at] as number) ^ 0x01;
      expect(readStored(changed, KEY), `byte ${at} changed`).toBe(StoredProblem.Checksum);
      const dropped = Buffer.concat([stored.subarray(0, at), stored.subarray(at + 1)]);
      expect(typeof readStored(dropped, KEY), `byte ${at} dropped`).toBe('string');
      const added = Buffer.concat([stored.subarray(0, at), bytes('x'), stored.subarray(at)]);
      expect(readStored(added, KEY), `byte added at ${at}`).toBe(StoredProblem.Checksum);
    }
    expect(readStored(stored.subarray(0, 9), KEY)).toBe(StoredProblem.Truncated);
  });

  it('reads a raw decimal as an integer, a version-1 value as a miss, anything else as foreign', () => {
    expect(decodeStored(bytes('-15'), KEY)).toEqual({
      value: bytes('-15'),
      flags: CacheReturnCode.Integer,
    });
    expect(decodeStored(bytes('hello'), KEY)?.flags).toBe(0);
    // Raw digits are checked strictly: they carry no checksum.
    for (const text of ['1 5', '15\r\n', '0x1F', '+15', '015']) {
      expect(decodeStored(bytes(text), KEY)?.flags, JSON.stringify(text)).toBe(0);
    }
    // Written by an earlier release (FF 01 + flags, no checksum): a miss, never a hit.
    expect(readStored(Buffer.from([0xff, 0x01, 0, 0, 0, 1, 0x41]), KEY)).toBe(StoredProblem.Legacy);
    expect(decodeStored(Buffer.from([0xff, 0x01, 0, 0, 0, 1, 0x41]), KEY)).toBeUndefined();
    // A header of an unknown format version is foreign, never misread.
    expect(decodeStored(Buffer.from([0xff, 0x03, 0, 0, 0, 1, 0x41]), KEY)?.flags).toBe(0);
    expect(decodeStored(Buffer.from([0xff, 0x01, 0, 0]), KEY)?.flags).toBe(0);
  });
});

describe.skipIf(!redisAvailable)('stored format on a real server', () => {
  const redis = useRedisServer();
  afterEach(async () => {
    await redis.raw.flushdb();
  });

  for (const [label, driver] of drivers) {
    describe(label, () => {
      let backend: RedisBackend;
      let cache: CacheClient;
      beforeAll(() => {
        backend = createRedisBackend({
          url: `redis://127.0.0.1:${redis.server.port}`,
          keyPrefix: 'fmt:',
          driver,
        });
        cache = new CacheClient({ backend, prefix: 'app' });
      });
      afterAll(async () => {
        await cache?.close();
      });

      it('stores set(key, 42) as the plain decimal and strings behind the header', async () => {
        await cache.set('n', 42);
        await cache.set('s', 'hi');
        expect(await redis.raw.get('fmt:app:n')).toBe('42');
        expect([...(await redis.raw.getBuffer('fmt:app:s'))!]).toEqual([
          ...encodeStored({ value: bytes('hi'), flags: CacheReturnCode.String }, 'fmt:app:s'),
        ]);
        expect((await redis.raw.getBuffer('fmt:app:s'))!.subarray(0, 2)).toEqual(
          Buffer.from([0xff, 0x02]),
        );
      });

      it('incr and decr work on integers written with set(key, 42), keeping the type', async () => {
        expect(await cache.set('counter', 42)).toBe(true);
        expect(await cache.incr('counter')).toBe(43);
        expect(await cache.incr('counter', 10)).toBe(53);
        expect(await cache.decr('counter', 3)).toBe(50);
        expect(await cache.get('counter')).toBe(50);
        // Redis counters are signed: decr goes below zero.
        expect(await cache.decr('counter', 75)).toBe(-25);
        expect(await cache.get('counter')).toBe(-25);
        expect(await redis.raw.get('fmt:app:counter')).toBe('-25');
      });

      it('incr keeps the TTL and works beyond 2^53 with a bigint delta', async () => {
        await cache.set('ttl-counter', 1, { ttl: 60 });
        await cache.incr('ttl-counter');
        const pttl = await redis.raw.pttl('fmt:app:ttl-counter');
        expect(pttl).toBeGreaterThan(50_000);
        await cache.set('big', 2n ** 60n);
        expect(await cache.incr('big', 2n ** 40n)).toBe(2n ** 60n + 2n ** 40n);
        expect(await cache.get('big')).toBe(2n ** 60n + 2n ** 40n);
      });

      it('incr on a missing key resolves undefined and does not create it', async () => {
        expect(await cache.incr('nothing')).toBeUndefined();
        expect(await cache.decr('nothing')).toBeUndefined();
        expect(await redis.raw.exists('fmt:app:nothing')).toBe(0);
      });

      it('incr on a non-integer or an overflowing counter throws CacheValueError', async () => {
        await cache.set('text', 'forty-two');
        const notANumber = await cache.incr('text').catch((e: unknown) => e);
        expect(isCacheError(notANumber, CacheErrorCode.Value)).toBe(true);
        await cache.set('max', 2n ** 63n - 1n);
        const overflow = await cache.incr('max', 1n).catch((e: unknown) => e);
        expect(isCacheError(overflow, CacheErrorCode.Value)).toBe(true);
        expect(await cache.get('max')).toBe(2n ** 63n - 1n);
      });

      it('keeps flags and every byte through compression and encryption', async () => {
        const encrypted = new CacheClient({
          backend,
          ownsBackend: false,
          prefix: 'enc',
          encryptionKey: 'correct horse battery staple',
          compress: true,
        });
        const value = { text: 'x'.repeat(5000), nested: [1, 'two', null] };
        expect(await encrypted.set('doc', value)).toBe(true);
        expect(await encrypted.get('doc')).toEqual(value);
        const stored = (await redis.raw.getBuffer('fmt:enc:doc'))!;
        expect(stored.readUInt32BE(6)).toBe(CacheReturnCode.Encrypted);
        const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        await backend.set('binary', { value: all, flags: 0xdeadbeef }, 0);
        const back = await backend.get('binary');
        expect(back?.flags).toBe(0xdeadbeef);
        expect(Buffer.from(back!.value).equals(all)).toBe(true);
      });

      it('reads a value another program wrote without the format as a miss plus a warning', async () => {
        const warnings: WarningEvent[] = [];
        const off = cache.on('warning', (event) => warnings.push(event));
        await redis.raw.set('fmt:app:foreign', 'written by someone else');
        expect(await cache.get('foreign')).toBeUndefined();
        expect(warnings.map((w) => w.kind)).toEqual(['decode']);
        // A plain decimal written by another program is still a number.
        await redis.raw.set('fmt:app:foreign-number', '17');
        expect(await cache.get('foreign-number')).toBe(17);
        off();
      });

      it('reads a value written by an earlier release (FF 01, no checksum) as a miss, without a warning', async () => {
        const warnings: WarningEvent[] = [];
        const off = cache.on('warning', (event) => warnings.push(event));
        await redis.raw.set('fmt:app:old', Buffer.from([0xff, 0x01, 0, 0, 0, 1, 0x68, 0x69]));
        expect(await cache.get('old')).toBeUndefined();
        expect((await cache.getMany(['old'])).size).toBe(0);
        expect(warnings).toEqual([]);
        // The next write stores the current format, and it reads back.
        expect(await cache.set('old', 'hi')).toBe(true);
        expect(await cache.get('old')).toBe('hi');
        off();
      });

      it('reads a key holding another Redis type as a miss, in get and getMany alike', async () => {
        await redis.raw.hset('fmt:app:hash', 'f', 'v');
        await cache.set('plain', 'v');
        expect(await cache.get('hash')).toBeUndefined();
        expect([...(await cache.getMany(['hash', 'plain'])).entries()]).toEqual([['plain', 'v']]);
      });

      it('incr on a String or JSON "7" answers 8, keeps the flags, the TTL and a valid checksum', async () => {
        expect(await cache.set('s7', '7', { ttl: 60 })).toBe(true);
        expect(await cache.incr('s7')).toBe(8);
        expect(await cache.get('s7')).toBe('8');
        const stored = (await redis.raw.getBuffer('fmt:app:s7'))!;
        expect(decodeStored(stored, 'fmt:app:s7')).toEqual({
          value: bytes('8'),
          flags: CacheReturnCode.String,
        });
        expect(await redis.raw.pttl('fmt:app:s7')).toBeGreaterThan(50_000);
        // Beyond 2^53, exactly, and below zero (signed counters).
        expect(await backend.set('json', { value: bytes('9007199254740993'), flags: 2 }, 0)).toBe(
          true,
        );
        expect(await backend.incr('json', 2n ** 62n)).toBe(9007199254740993n + 2n ** 62n);
        expect(await backend.decr('json', 2n ** 63n - 1n)).toBe(
          9007199254740993n + 2n ** 62n - 2n ** 63n + 1n,
        );
        const back = await backend.get('json');
        expect(back?.flags).toBe(2);
        expect(Buffer.from(back!.value).toString()).toBe(
          String(9007199254740993n + 2n ** 62n - 2n ** 63n + 1n),
        );
        expect(await redis.raw.pttl('fmt:json')).toBe(-1);
      });

      it('incr on a flagged decimal that Redis refuses leaves the value exactly as it was', async () => {
        const cases: Array<[string, bigint]> = [
          ['9223372036854775807', 1n], // overflow
          ['007', 1n], // not canonical: INCRBY refuses it
          ['-0', 1n],
          ['12', 2n ** 63n], // delta out of range
        ];
        for (const [text, delta] of cases) {
          await backend.set('refused', { value: bytes(text), flags: CacheReturnCode.String }, 60);
          const before = await redis.raw.getBuffer('fmt:refused');
          const error = await backend.incr('refused', delta).catch((e: unknown) => e);
          expect(isCacheError(error, CacheErrorCode.Value), text).toBe(true);
          expect(await redis.raw.getBuffer('fmt:refused'), text).toEqual(before);
          expect(await redis.raw.pttl('fmt:refused')).toBeGreaterThan(50_000);
        }
        // Not digits at all, a version-1 value, or a payload that fails its checksum: refused too.
        const stored = encodeStored({ value: bytes('5'), flags: 1 }, 'fmt:damaged');
        stored[HEADER_BYTES] = 0x36; // '5' → '6' behind the checksum's back
        await redis.raw.set('fmt:damaged', stored);
        await redis.raw.set('fmt:old', Buffer.from([0xff, 0x01, 0, 0, 0, 1, 0x35]));
        await backend.set('words', { value: bytes('seven'), flags: 1 }, 0);
        for (const key of ['damaged', 'old', 'words']) {
          const error = await backend.incr(key, 1n).catch((e: unknown) => e);
          expect(isCacheError(error, CacheErrorCode.Value), key).toBe(true);
        }
        expect(await redis.raw.getBuffer('fmt:damaged')).toEqual(stored);
      });

      it('stores TTLs in milliseconds and touch(0) removes the expiry', async () => {
        await cache.set('short', 'v', { ttl: 0.25 });
        const pttl = await redis.raw.pttl('fmt:app:short');
        expect(pttl).toBeGreaterThan(0);
        expect(pttl).toBeLessThanOrEqual(250);
        expect(await cache.touch('short', 0)).toBe(true);
        expect(await redis.raw.pttl('fmt:app:short')).toBe(-1);
        expect(await cache.touch('short', '2s')).toBe(true);
        expect(await redis.raw.pttl('fmt:app:short')).toBeGreaterThan(1000);
        expect(await cache.touch('absent', 0)).toBe(false);
      });
    });
  }
});
