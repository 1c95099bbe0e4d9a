import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CacheClient,
  CacheConfigError,
  CacheKeyError,
  CacheScopeError,
  CacheValueError,
  StorageLevel,
} from '../src/index.js';
import { RecordingBackend } from '@stowage/testkit';
import { recordingClient } from './helpers/clients.js';

const HASHED = /#[0-9a-f]{64}$/;
const utf8 = (text: string): number => Buffer.byteLength(text, 'utf8');

describe('CacheClient.fullKey', () => {
  it('joins prefix and key with the separator', () => {
    const { client } = recordingClient({ prefix: 'app' });
    expect(client.fullKey('user:1')).toBe('app:user:1');
  });

  it('uses the key as is without a prefix', () => {
    const { client } = recordingClient();
    expect(client.fullKey('user:1')).toBe('user:1');
  });

  it('accepts a full key of exactly 250 UTF-8 bytes after the prefix', () => {
    const { client } = recordingClient({ prefix: 'app' });
    const key = 'k'.repeat(250 - 'app:'.length);
    expect(utf8(client.fullKey(key))).toBe(250);
  });

  it('rejects a full key of 251 bytes with CacheKeyError naming the byte count', () => {
    const { client } = recordingClient({ prefix: 'app' });
    const key = 'k'.repeat(251 - 'app:'.length);
    expect(() => client.fullKey(key)).toThrow(CacheKeyError);
    expect(() => client.fullKey(key)).toThrow(/251 bytes/);
  });

  it('counts the limit in UTF-8 bytes, not UTF-16 code units', () => {
    const { client } = recordingClient({ prefix: 'app' });
    // 'é' is 2 bytes: 123 of them fill 246 bytes + 'app:' = 250; 124 make 252 with .length 124.
    expect(utf8(client.fullKey('é'.repeat(123)))).toBe(250);
    expect(() => client.fullKey('é'.repeat(124))).toThrow(CacheKeyError);
  });

  it('counts a non-ASCII prefix in UTF-8 bytes beside an ASCII key', () => {
    const { client } = recordingClient({ prefix: 'é' });
    // 'é:' is 3 bytes, so 247 ASCII characters fill 250 bytes.
    expect(utf8(client.fullKey('k'.repeat(247)))).toBe(250);
    expect(() => client.fullKey('k'.repeat(248))).toThrow(/251 bytes/);
  });

  it('hashes an ASCII key one byte over the limit with longKeys: hash', () => {
    const { client } = recordingClient({ prefix: 'app', longKeys: 'hash' });
    expect(client.fullKey('k'.repeat(246))).toBe(`app:${'k'.repeat(246)}`);
    const hashed = client.fullKey('k'.repeat(247));
    expect(hashed).toMatch(/#[0-9a-f]{64}$/);
    expect(utf8(hashed)).toBeLessThanOrEqual(250);
  });

  it('counts a surrogate pair as its 4 UTF-8 bytes', () => {
    const { client } = recordingClient();
    expect(utf8(client.fullKey('😀'.repeat(62)))).toBe(248);
    expect(() => client.fullKey('😀'.repeat(63))).toThrow(CacheKeyError);
  });

  it('accepts non-ASCII keys (UTF-8 keys are allowed by design D3)', () => {
    const { client } = recordingClient({ prefix: 'app' });
    expect(client.fullKey('ключ-键-😀')).toBe('app:ключ-键-😀');
  });

  it.each([
    ['space', 'a b', /whitespace/],
    ['tab', 'a\tb', /whitespace/],
    ['newline', 'a\nb', /whitespace/],
    ['carriage return', 'a\r\nflush_all', /whitespace/],
    ['vertical tab', 'a\vb', /whitespace/],
    ['form feed', 'a\fb', /whitespace/],
    ['no-break space', 'a\u00a0b', /whitespace/],
    ['line separator', 'a\u2028b', /whitespace/],
    ['leading space', ' a', /whitespace/],
    ['trailing space', 'a ', /whitespace/],
    ['NUL', 'a\u0000b', /control character \(U\+0000\)/],
    ['C0 control \\x01', 'a\u0001b', /control character \(U\+0001\)/],
    ['DEL', 'a\u007fb', /control character/],
    ['C1 control \\x9f', 'a\u009fb', /control character/],
    ['lone high surrogate', 'a\ud800b', /lone UTF-16 surrogate/],
    ['lone low surrogate', 'a\udfffb', /lone UTF-16 surrogate/],
    ['high surrogate at the end', 'key\udbff', /lone UTF-16 surrogate/],
  ])('rejects a key with a %s with CacheKeyError', (_name, key, message) => {
    const { client } = recordingClient();
    expect(() => client.fullKey(key)).toThrow(CacheKeyError);
    expect(() => client.fullKey(key)).toThrow(message);
  });

  it('rejects the empty key', () => {
    const { client } = recordingClient({ prefix: 'app' });
    expect(() => client.fullKey('')).toThrow(/must not be empty/);
  });

  it.each([[42], [null], [undefined], [{}], [Buffer.from('k')]])(
    'rejects a key that is not a string (%o)',
    (key) => {
      const { client } = recordingClient();
      expect(() => client.fullKey(key as unknown as string)).toThrow(/key must be a string/);
    },
  );

  it('keeps the offending key on the error', () => {
    const { client } = recordingClient();
    try {
      client.fullKey('a b');
      expect.unreachable();
    } catch (error) {
      expect((error as CacheKeyError).key).toBe('a b');
    }
  });

  it('gives two lone surrogates that encode to the same UTF-8 no chance to collide', () => {
    // '\ud800' and '\udbff' both become EF BF BD in UTF-8; both are refused instead.
    const { client } = recordingClient();
    expect(() => client.fullKey('key\ud800')).toThrow(CacheKeyError);
    expect(() => client.fullKey('key\udbff')).toThrow(CacheKeyError);
    expect(client.fullKey('key\ufffd')).toBe('key\ufffd');
  });
});

describe('key validation before I/O', () => {
  const bad = 'bad key';

  it.each([
    ['get', (c: CacheClient) => c.get(bad)],
    ['set', (c: CacheClient) => c.set(bad, 1)],
    ['setAndReturn', (c: CacheClient) => c.setAndReturn(bad, 1)],
    ['add', (c: CacheClient) => c.add(bad, 1)],
    ['touch', (c: CacheClient) => c.touch(bad, 10)],
    ['incr', (c: CacheClient) => c.incr(bad)],
    ['decr', (c: CacheClient) => c.decr(bad)],
    ['delete', (c: CacheClient) => c.delete(bad)],
    ['getOrSet', (c: CacheClient) => c.getOrSet(bad, () => 1)],
  ])('%s rejects a bad key and calls the backend not at all', async (_name, call) => {
    const { client, backend } = recordingClient();
    await expect(call(client)).rejects.toThrow(CacheKeyError);
    expect(backend.calls).toEqual([]);
  });

  it('getMany with one bad key among good ones sends nothing', async () => {
    const { client, backend } = recordingClient({ prefix: 'app' });
    await expect(client.getMany(['a', 'b', 'c d', 'e'])).rejects.toThrow(CacheKeyError);
    expect(backend.calls).toEqual([]);
  });

  it('setMany with one bad key among good ones sends nothing and stores nothing', async () => {
    const { client, backend } = recordingClient({ prefix: 'app' });
    await expect(client.setMany({ a: 1, b: 2, 'c\u0000': 3, e: 4 })).rejects.toThrow(CacheKeyError);
    expect(backend.calls).toEqual([]);
    expect(backend.keys()).toEqual([]);
  });

  it('setMany with one uncacheable value among good ones sends nothing', async () => {
    const { client, backend } = recordingClient();
    await expect(
      client.setMany([
        ['a', 1],
        ['b', () => 2],
        ['c', 3],
      ]),
    ).rejects.toThrow(CacheValueError);
    expect(backend.calls).toEqual([]);
  });

  it('deleteMany with one bad key among good ones deletes nothing', async () => {
    const { client, backend } = recordingClient();
    await client.set('a', 1, { skipIntegrityCheck: true });
    backend.calls.length = 0;
    await expect(client.deleteMany(['a', 'b\tc'])).rejects.toThrow(CacheKeyError);
    expect(backend.calls).toEqual([]);
    expect(backend.keys()).toEqual(['a']);
  });

  it('getMany with a key over the byte limit sends nothing', async () => {
    const { client, backend } = recordingClient();
    await expect(client.getMany(['a', 'x'.repeat(251)])).rejects.toThrow(/too long/);
    expect(backend.calls).toEqual([]);
  });
});

describe("longKeys: 'hash'", () => {
  const long = 'report:' + 'x'.repeat(400);

  it('stores a too-long key as a readable head plus # and the SHA-256 of the whole full key', () => {
    const { client } = recordingClient({ prefix: 'app', longKeys: 'hash' });
    const full = client.fullKey(long);
    const digest = createHash('sha256').update(`app:${long}`, 'utf8').digest('hex');
    expect(full.endsWith(`#${digest}`)).toBe(true);
    expect(full.startsWith('app:report:xxxx')).toBe(true);
    expect(utf8(full)).toBeLessThanOrEqual(250);
  });

  it('leaves keys within the limit unchanged', () => {
    const { client } = recordingClient({ prefix: 'app', longKeys: 'hash' });
    expect(client.fullKey('short')).toBe('app:short');
  });

  it('round-trips a value under a long key', async () => {
    const { client } = recordingClient({ longKeys: 'hash' });
    await client.set(long, { big: true });
    expect(await client.get(long)).toEqual({ big: true });
  });

  it('gives long keys that share their head different full keys', () => {
    const { client } = recordingClient({ longKeys: 'hash' });
    const a = client.fullKey(`${'h'.repeat(300)}a`);
    const b = client.fullKey(`${'h'.repeat(300)}b`);
    expect(a).not.toBe(b);
    expect(a.slice(0, 150)).toBe(b.slice(0, 150));
  });

  it('hashes a literal key shaped like a hashed one, so it never names a hashed entry', async () => {
    const { client } = recordingClient({ longKeys: 'hash' });
    await client.set(long, 'secret');
    const hashed = client.fullKey(long);
    expect(client.fullKey(hashed)).not.toBe(hashed);
    expect(client.fullKey(hashed)).toMatch(HASHED);
    expect(await client.get(hashed)).toBeUndefined();
    expect(await client.get(long)).toBe('secret');
  });

  it('cuts the head at a code point boundary so the full key stays well-formed', () => {
    const { client } = recordingClient({ prefix: 'app', longKeys: 'hash' });
    for (const unit of ['é', '键', '😀']) {
      for (let pad = 0; pad < 4; pad++) {
        const full = client.fullKey('p'.repeat(pad) + unit.repeat(200));
        expect(full).not.toMatch(/\p{Cs}/u); // well-formed: no lone surrogate
        expect(utf8(full)).toBeLessThanOrEqual(250);
        expect(full).toMatch(HASHED);
        expect(full).not.toContain('\ufffd');
      }
    }
  });

  it('still rejects whitespace and control characters', () => {
    const { client } = recordingClient({ longKeys: 'hash' });
    expect(() => client.fullKey(`${'x'.repeat(300)} y`)).toThrow(CacheKeyError);
    expect(() => client.fullKey('a\nb')).toThrow(CacheKeyError);
  });

  it('refuses a prefix that leaves no room for the digest with CacheConfigError', () => {
    expect(
      () =>
        new CacheClient({
          backend: new RecordingBackend(),
          prefix: 'p'.repeat(190),
          longKeys: 'hash',
        }),
    ).toThrow(CacheConfigError);
  });

  it('refuses an unknown longKeys value with CacheConfigError', () => {
    expect(
      () => new CacheClient({ backend: new RecordingBackend(), longKeys: 'truncate' as 'hash' }),
    ).toThrow(CacheConfigError);
  });
});

describe("longKeys: 'hash-unsafe'", () => {
  const hostile = [
    'user input with spaces',
    'tab\there',
    'line\r\nbreak',
    'nul\u0000byte',
    'del\u007f',
    'c1\u0085next-line',
    'nbsp\u00a0',
    'lone \ud800 high',
    'lone \udfff low',
    'stack=acme:balance',
    'session=s1:x',
    'service=billing:y',
  ];

  it.each(hostile)('hashes %j into a key every backend takes', (key) => {
    const { client } = recordingClient({ prefix: 'app', longKeys: 'hash-unsafe' });
    const full = client.fullKey(key);
    expect(full).toMatch(HASHED);
    expect(full.startsWith('app:')).toBe(true);
    expect(full).not.toMatch(/[\s\p{Cc}\p{Cs}]/u);
    expect(full.slice('app:'.length)).not.toMatch(/^(stack|session|service)=/);
    expect(utf8(full)).toBeLessThanOrEqual(250);
  });

  it('gives every hostile key its own full key, even keys whose UTF-8 bytes are equal', () => {
    const { client } = recordingClient({ longKeys: 'hash-unsafe' });
    // Two different lone surrogates encode to the same UTF-8 bytes (U+FFFD each).
    const keys = [...hostile, 'a \ud800', 'a \ud801', 'a \udc00', 'a_b', 'a b', 'a\tb', 'a\nb'];
    const fulls = keys.map((key) => client.fullKey(key));
    expect(new Set(fulls).size).toBe(keys.length);
  });

  it('keeps legal keys as they are, and hashes long keys as hash does', () => {
    const { client } = recordingClient({ prefix: 'app', longKeys: 'hash-unsafe' });
    const hashing = recordingClient({ prefix: 'app', longKeys: 'hash' }).client;
    expect(client.fullKey('user:1')).toBe('app:user:1');
    const long = 'x'.repeat(400);
    expect(client.fullKey(long)).toBe(hashing.fullKey(long));
  });

  it('keeps tenants apart: a hostile key never reaches another scope', async () => {
    const { client } = recordingClient({ prefix: 'app', longKeys: 'hash-unsafe' });
    const acme = client.scoped(StorageLevel.Stack, { stack: 'acme' });
    await acme.set('balance', 100);
    expect(await client.get('stack=acme:balance')).toBeUndefined();
    await client.set('stack=acme:balance', -1);
    expect(await acme.get('balance')).toBe(100);
    expect(client.fullKey('stack=acme:balance')).not.toBe(acme.fullKey('balance'));
  });

  it('round-trips values under hostile keys and still refuses an empty or non-string key', async () => {
    const { client, backend } = recordingClient({ longKeys: 'hash-unsafe' });
    for (const [index, key] of hostile.entries()) await client.set(key, index);
    for (const [index, key] of hostile.entries()) expect(await client.get(key)).toBe(index);
    const before = backend.calls.length;
    expect(() => client.fullKey('')).toThrow(CacheKeyError);
    await expect(client.get(42 as unknown as string)).rejects.toThrow(CacheKeyError);
    expect(backend.calls.length).toBe(before);
  });

  it('points at the mode in the error of a key with a space in the default mode', () => {
    const { client } = recordingClient();
    expect(() => client.fullKey('a b')).toThrow(/hash-unsafe/);
  });
});

describe('prefix and keySeparator', () => {
  it('refuses a prefix containing the separator, so "a:b"+"c" cannot equal "a"+"b:c"', () => {
    expect(() => new CacheClient({ backend: new RecordingBackend(), prefix: 'a:b' })).toThrow(
      /must not contain the key separator/,
    );
  });

  it.each([['a b'], ['a\u0000'], ['a\ud800'], ['a\n']])(
    'refuses a prefix %j with whitespace or control characters',
    (prefix) => {
      expect(() => new CacheClient({ backend: new RecordingBackend(), prefix })).toThrow(
        CacheConfigError,
      );
    },
  );

  it('keeps the two Q2 tenants "12"+"3x" and "123"+"x" apart with the separator', () => {
    const backend = new RecordingBackend();
    const a = new CacheClient({ backend, prefix: '12' });
    const b = new CacheClient({ backend, prefix: '123' });
    expect(a.fullKey('3x')).not.toBe(b.fullKey('x'));
  });

  it("reproduces Q2's raw concatenation with keySeparator ''", () => {
    const { client } = recordingClient({ prefix: '1234', keySeparator: '' });
    expect(client.fullKey('quotes')).toBe('1234quotes');
  });

  it('uses a custom separator everywhere', () => {
    const { client } = recordingClient({ prefix: 'app', keySeparator: '|' });
    expect(client.fullKey('k')).toBe('app|k');
    expect(client.scoped(StorageLevel.Stack, { stack: 'acme' }).fullKey('k')).toBe(
      'app|stack=acme|k',
    );
  });

  it.each([[' '], ['\n'], ['\u0000']])('refuses a separator %j', (keySeparator) => {
    expect(() => new CacheClient({ backend: new RecordingBackend(), keySeparator })).toThrow(
      CacheConfigError,
    );
  });

  it.each([['stack=acme'], ['session=s1'], ['service=billing']])(
    'refuses a prefix %j that is a scope segment, which would share keys with a scoped client',
    (prefix) => {
      // prefix 'stack=acme' + 'x' would be 'stack=acme:x', the key of tenant acme's 'x'.
      expect(() => new CacheClient({ backend: new RecordingBackend(), prefix })).toThrow(
        CacheConfigError,
      );
    },
  );
});

describe('reserved scope starts on the unscoped client', () => {
  it.each([['stack=acme:balance'], ['session=s1:cart'], ['service=billing:rates']])(
    'refuses %j on the root client, which would land in a scope',
    (key) => {
      const { client } = recordingClient({ prefix: 'app' });
      expect(() => client.fullKey(key)).toThrow(/reserved for scope segments/);
    },
  );

  it('cannot address a tenant key from the root client', () => {
    const { client } = recordingClient({ prefix: 'app' });
    const tenant = client.scoped(StorageLevel.Stack, { stack: 'acme' });
    expect(tenant.fullKey('balance')).toBe('app:stack=acme:balance');
    expect(() => client.fullKey('stack=acme:balance')).toThrow(CacheKeyError);
  });

  it("refuses them on a scoped client too, where they would reach a nested session's space", () => {
    const { client } = recordingClient({ prefix: 'app' });
    const tenant = client.scoped(StorageLevel.Stack, { stack: 'acme' });
    const session = client.scoped(StorageLevel.Session, { stack: 'acme', session: 's1' });
    expect(session.fullKey('x')).toBe('app:stack=acme:session=s1:x');
    expect(() => tenant.fullKey('session=s1:x')).toThrow(/reserved for scope segments/);
  });

  it('allows keys that merely contain the level names', () => {
    const { client } = recordingClient();
    expect(client.fullKey('stacks=1')).toBe('stacks=1');
    expect(client.fullKey('my:stack=acme')).toBe('my:stack=acme');
  });
});

describe('scope ids', () => {
  it.each([['a:b'], ['a b'], ['a\u0001'], ['a\udc00'], ['']])(
    'refuses the stack id %j with CacheScopeError',
    (stack) => {
      const { client } = recordingClient({ prefix: 'app' });
      expect(() => client.scoped(StorageLevel.Stack, { stack })).toThrow(CacheScopeError);
    },
  );

  it('refuses a stack id that is not a string with CacheScopeError', () => {
    const { client } = recordingClient();
    expect(() => client.scoped(StorageLevel.Stack, { stack: 42 as unknown as string })).toThrow(
      CacheScopeError,
    );
  });

  it('refuses a scope id too long to leave room for keys with CacheScopeError', () => {
    const { client } = recordingClient({ prefix: 'app' });
    expect(() => client.scoped(StorageLevel.Session, { session: 's'.repeat(260) })).toThrow(
      CacheScopeError,
    );
  });

  it('keeps the tenant "a" with key "b:c" apart from tenants that cannot exist ("a:b")', () => {
    const { client } = recordingClient({ prefix: 'app' });
    expect(client.scoped(StorageLevel.Stack, { stack: 'a' }).fullKey('b:c')).toBe(
      'app:stack=a:b:c',
    );
    expect(() => client.scoped(StorageLevel.Stack, { stack: 'a:b' })).toThrow(CacheScopeError);
  });

  it('counts the scope segment toward the 250-byte limit', () => {
    const { client } = recordingClient({ prefix: 'app' });
    const tenant = client.scoped(StorageLevel.Stack, { stack: 'acme' });
    const room = 250 - utf8('app:stack=acme:');
    expect(utf8(tenant.fullKey('k'.repeat(room)))).toBe(250);
    expect(() => tenant.fullKey('k'.repeat(room + 1))).toThrow(CacheKeyError);
  });
});

describe('an unambiguous key space (issue 10 §2)', () => {
  it.each([['::'], ['--'], ['#:#']])(
    'refuses a tenant id that ends with the start of the separator %j',
    (separator) => {
      const { client } = recordingClient({ prefix: 'app', keySeparator: separator });
      const start = separator.slice(0, 1);
      expect(() => client.scoped(StorageLevel.Stack, { stack: `acme${start}` })).toThrow(
        CacheScopeError,
      );
      // The collision the check prevents: `acme:` + `::` + `balance` = `acme` + `::` + `:balance`.
      const tenant = client.scoped(StorageLevel.Stack, { stack: 'acme' });
      expect(tenant.fullKey(`${start}balance`)).toBe(
        `app${separator}stack=acme${separator}${start}balance`,
      );
    },
  );

  it('allows the separator characters inside an id where they cannot be misread', () => {
    const { client } = recordingClient({ keySeparator: '--' });
    expect(client.scoped(StorageLevel.Stack, { stack: 'acme-corp' }).fullKey('x')).toBe(
      'stack=acme-corp--x',
    );
  });

  it('length-prefixes scope ids with the empty separator, so 12 + 3x and 123 + x differ', () => {
    const { client } = recordingClient({ prefix: 'app', keySeparator: '' });
    const a = client.scoped(StorageLevel.Stack, { stack: '12' }).fullKey('3x');
    const b = client.scoped(StorageLevel.Stack, { stack: '123' }).fullKey('x');
    expect(a).toBe('appstack=2.123x');
    expect(b).toBe('appstack=3.123x');
    expect(a).not.toBe(b);
    // The root keeps Q2's raw concatenation for keys shared with Python services.
    expect(client.fullKey('quotes')).toBe('appquotes');
  });

  it('nests a session under its tenant: equal session ids of two tenants never share an entry', () => {
    const { client } = recordingClient({ prefix: 'app' });
    const a = client.scoped(StorageLevel.Session, { stack: 'acme', session: 's1' });
    const b = client.scoped(StorageLevel.Session, { stack: 'globex', session: 's1' });
    expect(a.fullKey('cart')).toBe('app:stack=acme:session=s1:cart');
    expect(b.fullKey('cart')).toBe('app:stack=globex:session=s1:cart');
    expect(a.level).toBe(StorageLevel.Session);
    // From a tenant's client the tenant is known without repeating it.
    const tenant = client.scoped(StorageLevel.Stack, { stack: 'acme' });
    expect(tenant.scoped(StorageLevel.Session, { session: 's1' }).fullKey('cart')).toBe(
      'app:stack=acme:session=s1:cart',
    );
    // Without a tenant, the session stands alone.
    expect(client.scoped(StorageLevel.Session, { session: 's1' }).fullKey('cart')).toBe(
      'app:session=s1:cart',
    );
  });

  it('checks the tenant id of a nested session like any tenant id', () => {
    const { client } = recordingClient({ prefix: 'app' });
    expect(() => client.scoped(StorageLevel.Session, { stack: 'ac:me', session: 's1' })).toThrow(
      CacheScopeError,
    );
  });

  it('maps no two distinct (scope, key) pairs to one stored key, for any separator (property)', () => {
    // A seeded generator, so a failure reproduces; ids and keys are drawn from an alphabet rich
    // in separator characters, '=', digits and the level names' letters.
    let seed = 0x5eed;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const pick = <V>(items: readonly V[]): V => items[Math.floor(random() * items.length)] as V;
    const alphabet = [
      ':',
      '::',
      '-',
      '=',
      '.',
      '#',
      '|',
      'a',
      's',
      '1',
      '2',
      '3',
      'x',
      'é',
      ' ',
      '_',
    ];
    const word = (max: number): string => {
      let text = '';
      const length = 1 + Math.floor(random() * max);
      for (let i = 0; i < length; i++) text += pick(alphabet);
      return random() < 0.2 ? `${pick(['stack=', 'session=', 'service='])}${text}` : text;
    };
    const separators = ['', ':', '::', '--', '-', '|', '#:#', '.', '=', ':-'];
    let checked = 0;
    for (const [separator, longKeys] of separators.flatMap((separator) =>
      (['error', 'hash-unsafe'] as const).map((mode) => [separator, mode] as const),
    )) {
      const { client } = recordingClient({ prefix: 'p', keySeparator: separator, longKeys });
      const owners = new Map<string, string>();
      for (let i = 0; i < 4000; i++) {
        const shape = Math.floor(random() * 4);
        let scoped: CacheClient;
        let owner: string;
        try {
          if (shape === 0) {
            scoped = client;
            owner = 'root';
          } else if (shape === 1) {
            const stack = word(4);
            scoped = client.scoped(StorageLevel.Stack, { stack });
            owner = `stack ${JSON.stringify(stack)}`;
          } else if (shape === 2) {
            const session = word(4);
            scoped = client.scoped(StorageLevel.Session, { session });
            owner = `session ${JSON.stringify(session)}`;
          } else {
            const stack = word(3);
            const session = word(3);
            scoped = client.scoped(StorageLevel.Session, { stack, session });
            owner = `stack ${JSON.stringify(stack)} session ${JSON.stringify(session)}`;
          }
        } catch (error) {
          expect(error).toBeInstanceOf(CacheScopeError);
          continue;
        }
        const key = word(5);
        let full: string;
        try {
          full = scoped.fullKey(key);
        } catch (error) {
          expect(error).toBeInstanceOf(CacheKeyError);
          continue;
        }
        const pair = `${owner} key ${JSON.stringify(key)}`;
        const previous = owners.get(full);
        if (previous !== undefined && previous !== pair) {
          throw new Error(
            `separator ${JSON.stringify(separator)}, ${longKeys}: ${previous} and ${pair} both map to ${full}`,
          );
        }
        owners.set(full, pair);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20_000);
  });
});
