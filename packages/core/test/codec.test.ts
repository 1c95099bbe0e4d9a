import { deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CacheClient,
  CacheDecodeError,
  CacheErrorCode,
  CacheReturnCode,
  CacheValueError,
  createAesGcmCipher,
  type CacheClientOptions,
  type WarningEvent,
} from '../src/index.js';
import { Codec } from '../src/codec/codec.js';
import { looksLikeZlib } from '../src/codec/zlib.js';
import { collect } from './helpers/events.js';
import { RecordingBackend } from '@stowage/testkit';

function setup(options: Omit<CacheClientOptions, 'backend'> = {}): {
  client: CacheClient;
  backend: RecordingBackend;
  warnings: WarningEvent[];
} {
  const backend = new RecordingBackend();
  const client = new CacheClient({ compress: false, ...options, backend });
  const warnings = collect(client, 'warning');
  return { client, backend, warnings };
}

const text = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');

describe('Codec.encode', () => {
  it.each<[string, unknown, number, string]>([
    ['a string', 'abc', CacheReturnCode.String, 'abc'],
    ['the empty string', '', CacheReturnCode.String, ''],
    ['a non-ASCII string', 'héllo 世界 😀', CacheReturnCode.String, 'héllo 世界 😀'],
    ['a negative integer', -5, CacheReturnCode.Integer, '-5'],
    ['zero', 0, CacheReturnCode.Integer, '0'],
    ['negative zero', -0, CacheReturnCode.Integer, '0'],
    ['MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER, CacheReturnCode.Integer, '9007199254740991'],
    ['2n ** 70n', 2n ** 70n, CacheReturnCode.Integer, '1180591620717411303424'],
    ['a negative bigint', -(2n ** 70n), CacheReturnCode.Integer, '-1180591620717411303424'],
    ['true', true, CacheReturnCode.Json, 'true'],
    ['false', false, CacheReturnCode.Json, 'false'],
    ['null', null, CacheReturnCode.Json, 'null'],
    ['a fraction', 1.5, CacheReturnCode.Json, '1.5'],
    ['an unsafe integer', 2 ** 53, CacheReturnCode.Json, '9007199254740992'],
    ['an object', { a: [1] }, CacheReturnCode.Json, '{"a":[1]}'],
    ['an array', [1, 'two', null], CacheReturnCode.Json, '[1,"two",null]'],
    ['a lone surrogate string', 'a\ud800b', CacheReturnCode.Json, '"a\\ud800b"'],
  ])('stores %s with its Q2 flag and plain payload', async (_name, value, flags, payload) => {
    const { client, backend } = setup();
    await client.set('k', value);
    expect(backend.peek('k')?.flags).toBe(flags);
    expect(text(backend.peek('k')?.value)).toBe(payload);
  });

  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a Map', new Map([['a', 1]])],
    ['a Set', new Set([1])],
    ['a Buffer', Buffer.from('x')],
    ['a Uint8Array', new Uint8Array(2)],
    ['an ArrayBuffer', new ArrayBuffer(2)],
    ['a nested bigint', { n: 1n }],
    // What JSON would silently change at depth is refused like it is at the top (issue 10 §3).
    ['a nested Map', { rows: [{ tags: new Map([['a', 1]]) }] }],
    ['a nested Set', { tags: new Set(['a']) }],
    ['a nested Buffer', { blob: Buffer.from('x') }],
    ['a Buffer inside an array', [1, Buffer.from('x')]],
    ['a nested typed array', { samples: new Float64Array([1, 2]) }],
    ['a nested ArrayBuffer', { raw: new ArrayBuffer(2) }],
    ['a nested NaN', { ratio: Number.NaN }],
    ['a nested Infinity', [1, Number.POSITIVE_INFINITY]],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o['self'] = o;
        return o;
      })(),
    ],
  ])('rejects %s with CacheValueError before any I/O', async (_name, value) => {
    const { client, backend } = setup();
    await expect(client.set('k', value)).rejects.toThrow(CacheValueError);
    expect(backend.calls).toEqual([]);
  });

  it('names the key on a CacheValueError', async () => {
    const { client } = setup();
    await expect(client.set('the-key', () => 1)).rejects.toMatchObject({
      code: CacheErrorCode.Value,
      key: 'the-key',
    });
  });

  it('runs the serializer before encoding', async () => {
    const { client, backend } = setup({
      serializer: (value) => ({ wrapped: value as number }),
    });
    await client.set('k', 7);
    expect(backend.peek('k')?.flags).toBe(CacheReturnCode.Json);
    expect(text(backend.peek('k')?.value)).toBe('{"wrapped":7}');
  });

  it('lets a serializer make otherwise uncacheable values cacheable', async () => {
    const { client } = setup({
      serializer: (value) => [...(value as Map<string, number>)],
      deserializer: (value) => new Map(value as Array<[string, number]>),
    });
    await client.set('k', new Map([['a', 1]]));
    expect(await client.get('k')).toEqual(new Map([['a', 1]]));
  });

  it('turns a throwing serializer into CacheValueError with the cause', async () => {
    const boom = new Error('boom');
    const { client, backend } = setup({
      serializer: () => {
        throw boom;
      },
    });
    await expect(client.set('k', 1)).rejects.toMatchObject({
      code: CacheErrorCode.Value,
      cause: boom,
    });
    expect(backend.calls).toEqual([]);
  });
});

describe('Codec round trips', () => {
  const values: Array<[string, unknown]> = [
    ['string', 'abc'],
    ['empty string', ''],
    ['non-ASCII', 'héllo 世界 😀'],
    ['lone surrogates', '\ud800x\udfff'],
    ['integer', -5],
    ['bigint 2n**70n', 2n ** 70n],
    ['true', true],
    ['false', false],
    ['null', null],
    ['float', 3.25],
    ['object', { a: [1], b: { c: 'd' } }],
    ['big string', 'lorem ipsum '.repeat(500)],
    ['big object', { rows: Array.from({ length: 200 }, (_, i) => ({ i, name: `row ${i}` })) }],
  ];

  for (const compress of [false, true, 0, 1024] as const) {
    for (const encrypted of [false, true]) {
      it.each(values)(
        `restores %s (compress ${String(compress)}, ${encrypted ? 'encrypted' : 'plain'})`,
        async (_name, value) => {
          const { client, warnings } = setup({
            compress,
            ...(encrypted ? { encryptionKey: Buffer.alloc(32, 7) } : {}),
          });
          await client.set('k', value);
          const read = await client.get('k', 'MISS');
          expect(read).toStrictEqual(value);
          expect(warnings).toEqual([]);
        },
      );
    }
  }

  it('returns a bigint for integers beyond MAX_SAFE_INTEGER and a number otherwise', async () => {
    const { client } = setup();
    await client.set('big', 2n ** 70n);
    await client.set('small', 5n);
    expect(await client.get('big')).toBe(2n ** 70n);
    expect(await client.get('small')).toBe(5);
  });

  it('treats a stored null as a hit, not the default', async () => {
    const { client } = setup();
    await client.set('k', null);
    expect(await client.get('k', 'default')).toBeNull();
  });
});

describe('compression', () => {
  const big = 'a'.repeat(2000);

  it('compresses payloads at or above the threshold and keeps smaller ones plain', async () => {
    const { client, backend } = setup({ compress: 1000 });
    await client.set('small', 'a'.repeat(999));
    await client.set('exact', 'a'.repeat(1000));
    expect(text(backend.peek('small')?.value)).toBe('a'.repeat(999));
    expect(looksLikeZlib(backend.peek('exact')!.value)).toBe(true);
    expect(await client.get('exact')).toBe('a'.repeat(1000));
  });

  it('compresses at the default threshold of 1024 bytes', async () => {
    const backend = new RecordingBackend();
    const client = new CacheClient({ backend });
    await client.set('under', 'b'.repeat(1023));
    await client.set('at', 'b'.repeat(1024));
    expect(backend.peek('under')!.value.byteLength).toBe(1023);
    expect(backend.peek('at')!.value.byteLength).toBeLessThan(100);
  });

  it('keeps a payload plain under a threshold when compressing would not make it smaller', async () => {
    const { client, backend } = setup({ compress: 0 });
    await client.set('k', 'abc');
    expect(text(backend.peek('k')?.value)).toBe('abc');
  });

  it('compresses every payload with compress: true, even when it grows', async () => {
    const { client, backend } = setup({ compress: true });
    await client.set('k', 'abc');
    expect(looksLikeZlib(backend.peek('k')!.value)).toBe(true);
    expect(await client.get('k')).toBe('abc');
  });

  it('never compresses integers, so memcached incr keeps working on them', async () => {
    const { client, backend } = setup({ compress: true });
    await client.set('n', 12345);
    expect(text(backend.peek('n')?.value)).toBe('12345');
  });

  it('never compresses with compress: false', async () => {
    const { client, backend } = setup({ compress: false });
    await client.set('k', big);
    expect(text(backend.peek('k')?.value)).toBe(big);
  });

  it('stores a plain payload that looks like zlib compressed, so it reads back intact', async () => {
    const { client, backend } = setup({ compress: false });
    const lookalike = 'x^ not zlib at all';
    expect(looksLikeZlib(Buffer.from(lookalike))).toBe(true);
    await client.set('k', lookalike);
    expect(text(backend.peek('k')?.value)).not.toBe(lookalike);
    expect(await client.get('k')).toBe(lookalike);
  });

  it('reads compressed items with compression off and plain items with it on', async () => {
    const backend = new RecordingBackend();
    const on = new CacheClient({ backend, compress: true });
    const off = new CacheClient({ backend, compress: false });
    await on.set('a', { from: 'on' });
    await off.set('b', { from: 'off' });
    expect(await off.get('a')).toEqual({ from: 'on' });
    expect(await on.get('b')).toEqual({ from: 'off' });
  });

  it('reads an item a Python writer compressed with zlib.compress', async () => {
    const { client, backend } = setup();
    backend.put('k', deflateSync(Buffer.from('{"a": 1}'), { level: 6 }), CacheReturnCode.Json);
    expect(await client.get('k')).toEqual({ a: 1 });
  });

  it('refuses to write a payload larger than maxDecompressedBytes that it would compress', async () => {
    const { client, backend } = setup({ compress: true, maxDecompressedBytes: 1000 });
    await expect(client.set('k', 'z'.repeat(1001))).rejects.toThrow(/maxDecompressedBytes/);
    expect(backend.calls).toEqual([]);
  });

  it('refuses a compress option that is not a boolean or a non-negative integer', () => {
    for (const compress of [-1, 1.5, 'yes'] as unknown as number[]) {
      expect(() => new CacheClient({ backend: new RecordingBackend(), compress })).toThrow(
        /`compress`/,
      );
    }
  });
});

describe('Codec.decode failures', () => {
  async function expectMiss(
    put: (backend: RecordingBackend) => void,
    message: RegExp,
    options: Omit<CacheClientOptions, 'backend'> = {},
  ): Promise<void> {
    const { client, backend, warnings } = setup(options);
    put(backend);
    await expect(client.get('k', 'default')).resolves.toBe('default');
    expect(await client.getMany(['k'])).toEqual(new Map());
    expect(warnings).toHaveLength(2);
    const warning = warnings[0]!;
    expect(warning).toMatchObject({ kind: 'decode', operation: 'get', key: 'k', fullKey: 'k' });
    expect(warning.error).toBeInstanceOf(CacheDecodeError);
    expect(warning.error.message).toMatch(message);
    expect(client.stats().decodeErrors).toBe(2);
    expect(client.stats().misses).toBe(2);
  }

  it('reads a decompression bomb as a miss plus a warning', async () => {
    const bomb = deflateSync(Buffer.alloc(64 * 1024));
    await expectMiss((b) => b.put('k', bomb, CacheReturnCode.String), /inflates beyond 4096/, {
      maxDecompressedBytes: 4096,
    });
  });

  it('stops a 17 MiB bomb at the default 16 MiB limit', async () => {
    const bomb = deflateSync(Buffer.alloc(17 * 1024 * 1024), { level: 9 });
    expect(bomb.byteLength).toBeLessThan(64 * 1024);
    await expectMiss((b) => b.put('k', bomb, CacheReturnCode.String), /inflates beyond/);
  });

  it('reads corrupt zlib as a miss plus a warning', async () => {
    await expectMiss(
      (b) => b.put('k', Buffer.from([0x78, 0x9c, 1, 2, 3, 4, 5, 6]), CacheReturnCode.Json),
      /not valid UTF-8/,
    );
  });

  it('reads a truncated zlib stream as a miss plus a warning', async () => {
    const whole = deflateSync(Buffer.from(JSON.stringify({ a: 'b'.repeat(100) })));
    await expectMiss(
      (b) => b.put('k', whole.subarray(0, whole.byteLength - 6), CacheReturnCode.Json),
      /not valid UTF-8/,
    );
  });

  it.each([
    ['x^2 + y^2', CacheReturnCode.String, 'x^2 + y^2'],
    ['x\u0001 plain', CacheReturnCode.String, 'x\u0001 plain'],
    ['x^ marks the spot', CacheReturnCode.String, 'x^ marks the spot'],
  ])(
    "reads another program's plain item %j that starts like a zlib header as written",
    async (stored, flags, expected) => {
      const { client, backend } = setup();
      expect(looksLikeZlib(Buffer.from(stored))).toBe(true);
      backend.put('k', stored, flags);
      expect(await client.get('k')).toBe(expected);
    },
  );

  it('reads bad JSON as a miss plus a warning', async () => {
    await expectMiss((b) => b.put('k', '{"a":', CacheReturnCode.Json), /does not parse/);
  });

  it('reads invalid UTF-8 under the string flag as a miss plus a warning', async () => {
    await expectMiss(
      (b) => b.put('k', Buffer.from([0x61, 0xff, 0x62]), CacheReturnCode.String),
      /not valid UTF-8/,
    );
  });

  it.each([[0], [5], [7], [0xffffffff]])(
    'reads an item with unknown flags %i as a miss plus a warning',
    async (flags) => {
      await expectMiss((b) => b.put('k', 'abc', flags), new RegExp(`unknown flags ${flags}`));
    },
  );

  it('reads flag 4 without a configured key as a miss plus a warning', async () => {
    await expectMiss(
      (b) => b.put('k', 'gAAAAA', CacheReturnCode.Encrypted),
      /no encryption key is configured/,
    );
  });

  it('reads a non-decimal integer item as a miss plus a warning', async () => {
    await expectMiss((b) => b.put('k', '12abc', CacheReturnCode.Integer), /not a decimal integer/);
  });

  it('reads an unencrypted item as a miss when a key is configured', async () => {
    await expectMiss((b) => b.put('k', 'abc', CacheReturnCode.String), /not encrypted/, {
      encryptionKey: Buffer.alloc(32, 1),
    });
  });

  it('reads an unencrypted item when acceptPlaintext is set', async () => {
    const { client, backend, warnings } = setup({
      encryptionKey: Buffer.alloc(32, 1),
      acceptPlaintext: true,
    });
    backend.put('k', 'abc', CacheReturnCode.String);
    expect(await client.get('k')).toBe('abc');
    expect(warnings).toEqual([]);
  });

  it('reads a throwing deserializer as a miss plus a warning', async () => {
    const { client, warnings } = setup({
      deserializer: () => {
        throw new Error('nope');
      },
    });
    await client.set('k', 'v');
    expect(await client.get('k', 'default')).toBe('default');
    expect(warnings[0]?.error.message).toMatch(/deserializer/);
  });

  it('never runs the deserializer on a miss or a default', async () => {
    let calls = 0;
    const { client } = setup({
      deserializer: (value) => {
        calls++;
        return value;
      },
    });
    expect(await client.get('absent', 'default')).toBe('default');
    expect(calls).toBe(0);
  });

  it('throws CacheDecodeError from Codec.decode itself', () => {
    const codec = new Codec({
      compress: false,
      cipher: undefined,
      acceptPlaintext: false,
      maxDecompressedBytes: 1024,
      frozen: false,
      serializer: undefined,
      deserializer: undefined,
    });
    expect(() => codec.decode({ value: Buffer.from('x'), flags: 9 }, 'k')).toThrow(
      CacheDecodeError,
    );
  });
});

describe('values written by Python', () => {
  it.each<[string, string, number, unknown]>([
    [
      'NaN and Infinity literals',
      '{"a": NaN, "b": Infinity, "c": -Infinity}',
      2,
      { a: null, b: null, c: null },
    ],
    [
      'literals inside strings left alone',
      '{"s": "NaN Infinity", "n": NaN}',
      2,
      { s: 'NaN Infinity', n: null },
    ],
    ['escaped quotes before a literal', '["a\\"", NaN]', 2, ['a"', null]],
    ['ensure_ascii escapes', '{"name": "Jos\\u00e9 \\ud83d\\ude00"}', 2, { name: 'José 😀' }],
    [
      "json.dumps' spaced separators",
      '{"a": [1, 2], "b": {"c": true}}',
      2,
      { a: [1, 2], b: { c: true } },
    ],
    ['a bool stored under the integer flag (True)', 'True', 3, true],
    ['a bool stored under the integer flag (False)', 'False', 3, false],
    ["memcached decr's space padding", '9 ', 3, 9],
    ['a padded big counter', '18446744073709551615', 3, 18446744073709551615n],
    ['a negative integer', '-42', 3, -42],
    ['a str', 'plain text', 1, 'plain text'],
  ])('reads %s', async (_name, payload, flags, expected) => {
    const { client, backend, warnings } = setup();
    backend.put('k', payload, flags);
    expect(await client.get('k')).toStrictEqual(expected);
    expect(warnings).toEqual([]);
  });
});

describe('prototype safety of JSON reads', () => {
  afterEach(() => {
    delete (Object.prototype as Record<string, unknown>)['polluted'];
  });

  function naiveMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
    for (const key of Object.keys(source)) {
      const value = source[key];
      if (typeof value === 'object' && value !== null) {
        if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
        naiveMerge(target[key] as Record<string, unknown>, value as Record<string, unknown>);
      } else {
        target[key] = value;
      }
    }
  }

  it.each([
    ['__proto__', '{"__proto__":{"polluted":1},"ok":true}'],
    ['escaped __proto__', '{"\\u005f_proto__":{"polluted":1},"ok":true}'],
    ['constructor.prototype', '{"constructor":{"prototype":{"polluted":1}},"ok":true}'],
    ['nested __proto__', '{"ok":true,"inner":[{"__proto__":{"polluted":1}}]}'],
  ])('leaves Object.prototype untouched after reading a %s payload', async (_name, json) => {
    const { client, backend } = setup();
    backend.put('k', json, CacheReturnCode.Json);
    const value = (await client.get('k')) as Record<string, unknown>;
    expect(value['ok']).toBe(true);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    naiveMerge({}, value);
    Object.assign({}, value);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('keeps an ordinary key named constructor', async () => {
    const { client, backend } = setup();
    backend.put('k', '{"constructor":"Foo","a":1}', CacheReturnCode.Json);
    expect(await client.get('k')).toEqual({ constructor: 'Foo', a: 1 });
  });
});

describe('looksLikeZlib', () => {
  it('recognises the headers Node and Python write at every level', () => {
    for (let level = 0; level <= 9; level++) {
      expect(looksLikeZlib(deflateSync(Buffer.from('payload'), { level }))).toBe(true);
    }
  });

  it('rejects JSON, decimal text and short input', () => {
    for (const sample of ['{"a":1}', '[1]', '"s"', '123', 'x', '']) {
      expect(looksLikeZlib(Buffer.from(sample))).toBe(false);
    }
  });

  it('rejects AES-GCM tokens, which start with the version byte 1', () => {
    const cipher = createAesGcmCipher({ keys: { id: 0, key: Buffer.alloc(32) } });
    const token = cipher.encrypt({ flags: 1, payload: Buffer.from('x') }, 'k');
    expect(looksLikeZlib(token)).toBe(false);
  });
});
