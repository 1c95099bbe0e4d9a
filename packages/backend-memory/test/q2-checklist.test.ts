// The Q2 conformance checklist (research/q2-cache-spec.md §13, items 1–7) through a CacheClient
// on the memory backend, adapted to DESIGN D3/D2: the separator is ':', UTF-8 keys are allowed,
// control characters are refused (pymemcache lets \x01 through; memcached's protocol forbids it),
// set returns a boolean and setMany the keys that were not stored.
import {
  CacheClient,
  CacheKeyError,
  CacheReturnCode,
  createFernetCipher,
  type CacheClientOptions,
  type WarningEvent,
} from '@stowage/core';
import { deflateSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import {
  createMemoryBackend,
  type MemoryBackend,
  type MemoryBackendOptions,
} from '../src/index.js';

function setup(
  options: Omit<CacheClientOptions, 'backend'> = {},
  backendOptions: MemoryBackendOptions = {},
): { client: CacheClient; backend: MemoryBackend; warnings: WarningEvent[] } {
  const backend = createMemoryBackend(backendOptions);
  const client = new CacheClient({ prefix: 'q2', ...options, backend });
  const warnings: WarningEvent[] = [];
  client.on('warning', (event) => warnings.push(event));
  return { client, backend, warnings };
}

describe('Q2 checklist 1: keys', () => {
  it('passes 250 bytes after prefixing and throws CacheKeyError at 251', async () => {
    const { client } = setup();
    const room = 250 - 'q2:'.length;
    expect(await client.set('k'.repeat(room), 1)).toBe(true);
    await expect(client.set('k'.repeat(room + 1), 1)).rejects.toThrow(CacheKeyError);
  });

  it.each([
    ['space', 'a b'],
    ['tab', 'a\tb'],
    ['newline', 'a\nb'],
    ['NUL', 'a\u0000b'],
    ['\\x01 (refused by D3, unlike pymemcache)', 'a\u0001b'],
  ])('throws CacheKeyError for a key with a %s', async (_name, key) => {
    const { client } = setup();
    await expect(client.get(key)).rejects.toThrow(CacheKeyError);
  });

  it('accepts non-ASCII keys (D3 allows UTF-8) and counts them in bytes', async () => {
    const { client } = setup();
    expect(await client.set('ключ', 'v')).toBe(true);
    expect(await client.get('ключ')).toBe('v');
    await expect(client.set('é'.repeat(124), 1)).rejects.toThrow(/too long/); // 248 + 3 bytes
  });
});

describe('Q2 checklist 2: a batch with one bad key sends nothing', () => {
  it.each([
    ['getMany', (c: CacheClient) => c.getMany(['a', 'b c'])],
    ['setMany', (c: CacheClient) => c.setMany({ a: 1, 'b c': 2 })],
    ['deleteMany', (c: CacheClient) => c.deleteMany(['a', 'b c'])],
  ] as const)('%s rejects and never reaches the backend', async (method, call) => {
    const { client, backend } = setup();
    await client.set('a', 'kept');
    const spy = vi.spyOn(backend, method);
    await expect(call(client)).rejects.toThrow(CacheKeyError);
    expect(spy).not.toHaveBeenCalled();
    expect(await client.get('a')).toBe('kept');
  });
});

describe('Q2 checklist 3: getMany', () => {
  it("returns the caller's unprefixed keys and omits misses", async () => {
    const { client } = setup();
    await client.setMany({ a: 1, c: 3 });
    const result = await client.getMany(['a', 'b', 'c']);
    expect([...result]).toEqual([
      ['a', 1],
      ['c', 3],
    ]);
  });
});

describe('Q2 checklist 4: setMany', () => {
  it('returns [] when every entry is stored', async () => {
    const { client } = setup();
    expect(await client.setMany({ a: 1, b: 2 })).toEqual([]);
  });

  it('returns the unprefixed keys that were not stored', async () => {
    // 3,000 bytes fit the 1 MiB value limit the client checks, but not a 2,000-byte store.
    const { client } = setup({ compress: false }, { maxBytes: 2_000 });
    expect(await client.setMany({ small: 'x', big: 'y'.repeat(3_000) })).toEqual(['big']);
    expect(await client.get('small')).toBe('x');
  });
});

describe('Q2 checklist 5: deleteMany([])', () => {
  it('returns true with no I/O', async () => {
    const { client, backend } = setup();
    const spy = vi.spyOn(backend, 'deleteMany');
    expect(await client.deleteMany([])).toBe(true);
    expect(spy).not.toHaveBeenCalled();
  });
});

describe('Q2 checklist 6: round trips', () => {
  const cases: Array<[string, unknown, number]> = [
    ['a string', 'héllo', CacheReturnCode.String],
    ['{a:[1]}', { a: [1] }, CacheReturnCode.Json],
    ['-5', -5, CacheReturnCode.Integer],
    ['2n ** 70n', 2n ** 70n, CacheReturnCode.Integer],
    ['true', true, CacheReturnCode.Json],
  ];
  const modes: Array<[string, Omit<CacheClientOptions, 'backend'>]> = [
    ['compression off', { compress: false }],
    ['compression on', { compress: true }],
    ['encryption on', { encryptionKey: Buffer.alloc(32, 5) }],
    ['Fernet encryption on', { cipher: createFernetCipher({ key: 'supersecretpassword' }) }],
  ];

  for (const [mode, options] of modes) {
    it.each(cases)(`restores %s with its flag (${mode})`, async (_name, value, flags) => {
      const { client, backend } = setup(options);
      expect(await client.set('k', value)).toBe(true);
      const expectedFlags = client.encrypted ? CacheReturnCode.Encrypted : flags;
      expect(backend.get('q2:k')?.flags).toBe(expectedFlags);
      expect(await client.get('k')).toStrictEqual(value);
    });
  }

  it("decodes a flag-3 payload 'True' (a Python bool) to true", async () => {
    const { client, backend } = setup();
    backend.set('q2:k', { value: Buffer.from('True'), flags: CacheReturnCode.Integer }, 0);
    expect(await client.get('k')).toBe(true);
  });
});

describe('Q2 checklist 7: decode failures are misses with a warning', () => {
  async function expectMissWithWarning(
    value: Uint8Array,
    flags: number,
    options: Omit<CacheClientOptions, 'backend'> = {},
  ): Promise<void> {
    const { client, backend, warnings } = setup(options);
    backend.set('q2:k', { value, flags }, 0);
    expect(await client.get('k', 'default')).toBe('default');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ kind: 'decode', key: 'k', fullKey: 'q2:k' });
  }

  it('corrupt zlib', async () => {
    await expectMissWithWarning(Buffer.from([0x78, 0x9c, 0xde, 0xad, 0xbe, 0xef]), 2);
  });

  it('bad JSON', async () => {
    await expectMissWithWarning(Buffer.from('{"a": [1,'), CacheReturnCode.Json);
  });

  it('bad HMAC (Fernet)', async () => {
    const cipher = createFernetCipher({ key: 'supersecretpassword' });
    const { client, backend } = setup({ cipher, compress: false });
    await client.set('k', 'v');
    const token = Buffer.from(backend.get('q2:k')!.value);
    token[token.length - 5] = token[token.length - 5] === 0x41 ? 0x42 : 0x41;
    await expectMissWithWarning(token, CacheReturnCode.Encrypted, { cipher });
  });

  it('bad tag (AES-256-GCM)', async () => {
    const encryptionKey = Buffer.alloc(32, 8);
    const { client, backend } = setup({ encryptionKey });
    await client.set('k', 'v');
    const token = Buffer.from(backend.get('q2:k')!.value);
    token[token.length - 1] = (token[token.length - 1] as number) ^ 1;
    await expectMissWithWarning(token, CacheReturnCode.Encrypted, { encryptionKey });
  });

  it.each([[0], [7]])('unknown flag %i', async (flags) => {
    await expectMissWithWarning(Buffer.from('abc'), flags);
  });

  it('flag 4 with no key', async () => {
    await expectMissWithWarning(Buffer.from('gAAAAABfake'), CacheReturnCode.Encrypted);
  });

  it('a compressed payload that inflates past maxDecompressedBytes', async () => {
    await expectMissWithWarning(deflateSync(Buffer.alloc(1 << 20)), CacheReturnCode.String, {
      maxDecompressedBytes: 1 << 16,
    });
  });
});
