import { describe, expect, it } from 'vitest';
import {
  CacheClient,
  CacheConfigError,
  CacheReturnCode,
  createAesGcmCipher,
  type CacheCipher,
  type WarningEvent,
} from '../src/index.js';
import { collect } from './helpers/events.js';
import { RecordingBackend } from '@stowage/testkit';

const K1 = Buffer.alloc(32, 1);
const K2 = Buffer.alloc(32, 2);

function client(
  backend: RecordingBackend,
  cipher: CacheCipher,
  prefix?: string,
): {
  client: CacheClient;
  warnings: WarningEvent[];
} {
  const c = new CacheClient({ backend, cipher, prefix, compress: false });
  const warnings = collect(c, 'warning');
  return { client: c, warnings };
}

function flipByte(bytes: Uint8Array, index: number): Buffer {
  const copy = Buffer.from(bytes);
  const at = index < 0 ? copy.byteLength + index : index;
  copy[at] = (copy[at] as number) ^ 0x01;
  return copy;
}

describe('createAesGcmCipher', () => {
  it('stores flag 4 and no plaintext bytes', async () => {
    const backend = new RecordingBackend();
    const { client: c } = client(backend, createAesGcmCipher({ keys: { id: 0, key: K1 } }));
    await c.set('k', 'very secret text');
    const stored = backend.peek('k')!;
    expect(stored.flags).toBe(CacheReturnCode.Encrypted);
    expect(Buffer.from(stored.value).includes('secret')).toBe(false);
    expect(await c.get('k')).toBe('very secret text');
  });

  it('keeps the original type inside the ciphertext', async () => {
    const backend = new RecordingBackend();
    const { client: c } = client(backend, createAesGcmCipher({ keys: { id: 0, key: K1 } }));
    await c.set('n', 2n ** 70n);
    await c.set('o', { a: [1] });
    await c.set('b', true);
    expect(await c.get('n')).toBe(2n ** 70n);
    expect(await c.get('o')).toEqual({ a: [1] });
    expect(await c.get('b')).toBe(true);
  });

  it('uses a fresh random nonce per write', async () => {
    const backend = new RecordingBackend();
    const { client: c } = client(backend, createAesGcmCipher({ keys: { id: 0, key: K1 } }));
    await c.set('a', 'same');
    await c.set('b', 'same');
    expect(Buffer.from(backend.peek('a')!.value).subarray(2, 14)).not.toEqual(
      Buffer.from(backend.peek('b')!.value).subarray(2, 14),
    );
  });

  it('encrypts with the newest (first) key and writes its id', async () => {
    const backend = new RecordingBackend();
    const cipher = createAesGcmCipher({
      keys: [
        { id: 2, key: K2 },
        { id: 1, key: K1 },
      ],
    });
    const { client: c } = client(backend, cipher);
    await c.set('k', 'v');
    expect(backend.peek('k')!.value[1]).toBe(2);
  });

  it('decrypts items written under an older key after a rotation', async () => {
    const backend = new RecordingBackend();
    const { client: old } = client(backend, createAesGcmCipher({ keys: { id: 1, key: K1 } }));
    await old.set('k', { written: 'before rotation' });
    const rotated = createAesGcmCipher({
      keys: [
        { id: 2, key: K2 },
        { id: 1, key: K1 },
      ],
    });
    const { client: next, warnings } = client(backend, rotated);
    expect(await next.get('k')).toEqual({ written: 'before rotation' });
    expect(warnings).toEqual([]);
  });

  it('reads an item under an unknown key id as a miss plus a warning', async () => {
    const backend = new RecordingBackend();
    const { client: next } = client(backend, createAesGcmCipher({ keys: { id: 2, key: K2 } }));
    await next.set('k', 'v');
    const { client: old, warnings } = client(
      backend,
      createAesGcmCipher({ keys: { id: 1, key: K1 } }),
    );
    expect(await old.get('k', 'default')).toBe('default');
    expect(warnings[0]?.kind).toBe('decode');
    expect(warnings[0]?.error.message).toMatch(/unknown key id 2/);
  });

  it('reads an item under the same id but another key as a miss', async () => {
    const backend = new RecordingBackend();
    const { client: a } = client(backend, createAesGcmCipher({ keys: { id: 1, key: K1 } }));
    const { client: b, warnings } = client(
      backend,
      createAesGcmCipher({ keys: { id: 1, key: K2 } }),
    );
    await a.set('k', 'v');
    expect(await b.get('k')).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });

  it('binds the ciphertext to the full key: an item copied to another key is a miss', async () => {
    const backend = new RecordingBackend();
    const { client: c, warnings } = client(
      backend,
      createAesGcmCipher({ keys: { id: 0, key: K1 } }),
    );
    await c.set('a', 'for a only');
    const stored = backend.peek('a')!;
    backend.put('b', stored.value, stored.flags);
    expect(await c.get('b')).toBeUndefined();
    expect(await c.get('a')).toBe('for a only');
    expect(warnings[0]?.error.message).toMatch(/does not decrypt/);
  });

  it("binds to the tenant: tenant A's item spliced under tenant B's key is a miss", async () => {
    const backend = new RecordingBackend();
    const { client: root } = client(
      backend,
      createAesGcmCipher({ keys: { id: 0, key: K1 } }),
      'app',
    );
    const a = root.scoped('stack', { stack: 'a' });
    const b = root.scoped('stack', { stack: 'b' });
    await a.set('balance', 1000);
    const stored = backend.peek(a.fullKey('balance'))!;
    backend.put(b.fullKey('balance'), stored.value, stored.flags);
    expect(await b.get('balance')).toBeUndefined();
  });

  it.each([
    ['the version byte', 0],
    ['the key id', 1],
    ['the nonce', 5],
    ['the ciphertext', 15],
    ['the tag', -1],
  ])('reads an item with a flipped bit in %s as a miss', async (_name, index) => {
    const backend = new RecordingBackend();
    const { client: c, warnings } = client(
      backend,
      createAesGcmCipher({ keys: { id: 0, key: K1 } }),
    );
    await c.set('k', 'value');
    const stored = backend.peek('k')!;
    backend.put('k', flipByte(stored.value, index), stored.flags);
    expect(await c.get('k', 'default')).toBe('default');
    expect(warnings).toHaveLength(1);
  });

  it('reads a truncated token as a miss', async () => {
    const backend = new RecordingBackend();
    const { client: c } = client(backend, createAesGcmCipher({ keys: { id: 0, key: K1 } }));
    await c.set('k', 'value');
    backend.put('k', Buffer.from(backend.peek('k')!.value).subarray(0, 20), 4);
    expect(await c.get('k')).toBeUndefined();
  });

  it('derives the same key from the same passphrase in every client', async () => {
    const backend = new RecordingBackend();
    const a = new CacheClient({ backend, encryptionKey: 'correct horse battery staple' });
    const b = new CacheClient({ backend, encryptionKey: 'correct horse battery staple' });
    await a.set('k', 'shared');
    expect(await b.get('k')).toBe('shared');
  });

  it.each([
    ['an empty keyring', { keys: [] }],
    ['a 16-byte key', { keys: { id: 0, key: Buffer.alloc(16) } }],
    ['an empty passphrase', { keys: { id: 0, key: '' } }],
    ['id 256', { keys: { id: 256, key: K1 } }],
    ['id -1', { keys: { id: -1, key: K1 } }],
    ['id 1.5', { keys: { id: 1.5, key: K1 } }],
    [
      'a duplicate id',
      {
        keys: [
          { id: 1, key: K1 },
          { id: 1, key: K2 },
        ],
      },
    ],
  ])('refuses %s with CacheConfigError', (_name, options) => {
    expect(() => createAesGcmCipher(options as Parameters<typeof createAesGcmCipher>[0])).toThrow(
      CacheConfigError,
    );
  });
});

describe('CacheClient encryption options', () => {
  it('refuses encryptionKey and cipher together', () => {
    expect(
      () =>
        new CacheClient({
          backend: new RecordingBackend(),
          encryptionKey: K1,
          cipher: createAesGcmCipher({ keys: { id: 0, key: K2 } }),
        }),
    ).toThrow(CacheConfigError);
  });

  it('refuses an empty encryptionKey instead of silently storing plaintext', () => {
    expect(() => new CacheClient({ backend: new RecordingBackend(), encryptionKey: '' })).toThrow(
      CacheConfigError,
    );
  });

  it('refuses a cipher without encrypt and decrypt', () => {
    expect(
      () =>
        new CacheClient({
          backend: new RecordingBackend(),
          cipher: { name: 'broken' } as unknown as CacheCipher,
        }),
    ).toThrow(CacheConfigError);
  });

  it('says whether values are encrypted', () => {
    expect(new CacheClient({ backend: new RecordingBackend(), encryptionKey: K1 }).encrypted).toBe(
      true,
    );
    expect(new CacheClient({ backend: new RecordingBackend() }).encrypted).toBe(false);
  });

  it('compresses a compressible value inside the ciphertext', async () => {
    const backend = new RecordingBackend();
    const c = new CacheClient({ backend, encryptionKey: K1, compress: 1024 });
    const value = 'compress me '.repeat(1000);
    await c.set('k', value);
    expect(backend.peek('k')!.value.byteLength).toBeLessThan(1000);
    expect(await c.get('k')).toBe(value);
  });
});
