// deserializeJson: Q2's decoder for raw items another client read, checked on items Stowage
// wrote and on items Python wrote as Q2 does (json.dumps, zlib.compress, flags 1/2/3).
import { RecordingBackend } from '@stowage/testkit';
import { describe, expect, it } from 'vitest';
import {
  CacheClient,
  CacheDecodeError,
  CacheValueError,
  createFernetCipher,
  deserializeJson,
} from '../src/index.js';
import { runPython } from './helpers/python.js';

/** What a client stored under `key`, as raw bytes and flags (what memjs or pymemcache would get). */
async function rawItem(
  client: CacheClient,
  key: string,
): Promise<{ value: Uint8Array; flags: number }> {
  const entry = await client.backend.get(client.fullKey(key));
  if (entry === undefined) throw new Error(`nothing under ${key}`);
  return { value: Buffer.from(entry.value), flags: entry.flags };
}

describe('deserializeJson', () => {
  it('decodes what a client stored: string, JSON, integer, compressed', async () => {
    const client = new CacheClient({ backend: new RecordingBackend(), compress: 64 });
    const values: Array<[string, unknown]> = [
      ['s', 'héllo'],
      ['j', { plan: 'gold', seats: [1, 2, 3] }],
      ['i', 42],
      ['big', { text: 'x'.repeat(5000) }],
    ];
    for (const [key, value] of values) await client.set(key, value);
    for (const [key, value] of values) {
      const { value: bytes, flags } = await rawItem(client, key);
      expect(deserializeJson(bytes, flags)).toEqual(value);
    }
  });

  it('decrypts with the encryption key and the full key the item was stored under', async () => {
    const client = new CacheClient({
      backend: new RecordingBackend(),
      encryptionKey: 'k'.repeat(32),
      prefix: 'app',
    });
    await client.set('secret', { card: '4111' });
    const { value, flags } = await rawItem(client, 'secret');
    expect(flags).toBe(4);
    expect(
      deserializeJson(value, flags, { encryptionKey: 'k'.repeat(32), fullKey: 'app:secret' }),
    ).toEqual({
      card: '4111',
    });
    // Bound to its key: the same bytes under another key, or without a key, do not decode.
    expect(() =>
      deserializeJson(value, flags, { encryptionKey: 'k'.repeat(32), fullKey: 'app:other' }),
    ).toThrow(CacheDecodeError);
    expect(() => deserializeJson(value, flags)).toThrow(/encrypted and no encryption key/);
  });

  it('decrypts Fernet items with a cipher, as Q2 writes them', async () => {
    const cipher = createFernetCipher({ key: 'supersecretpassword' });
    const client = new CacheClient({ backend: new RecordingBackend(), cipher });
    await client.set('f', [1, 'two']);
    const { value, flags } = await rawItem(client, 'f');
    expect(deserializeJson(value, flags, { cipher })).toEqual([1, 'two']);
  });

  it("decodes items Python wrote the way Q2 does, compressed or not, with compressData as Q2's flag", () => {
    const items = runPython<Array<{ b64: string; flags: number; compressed: boolean }>>(
      `
import base64, json, sys, zlib
out = []
for value, flags in [("plain text", 1), (json.dumps({"a": [1, 2], "b": None}), 2), ("12345", 3)]:
    raw = value.encode("utf-8")
    for compressed in (False, True):
        data = zlib.compress(raw) if compressed else raw
        out.append({"b64": base64.b64encode(data).decode(), "flags": flags, "compressed": compressed})
json.dump(out, sys.stdout)
`,
      null,
    );
    const expected = ['plain text', { a: [1, 2], b: null }, 12345];
    for (const [index, item] of items.entries()) {
      const value = Buffer.from(item.b64, 'base64');
      const want = expected[Math.floor(index / 2)];
      expect(deserializeJson(value, item.flags, { compressData: item.compressed })).toEqual(want);
    }
  });

  it('takes a string value, and refuses a value or flags that are not an item', () => {
    expect(deserializeJson('{"a":1}', 2)).toEqual({ a: 1 });
    expect(() => deserializeJson(42 as never, 2)).toThrow(CacheValueError);
    expect(() => deserializeJson('x', -1)).toThrow(CacheValueError);
    expect(() => deserializeJson('x', 99)).toThrow(CacheDecodeError);
    expect(() => deserializeJson('{not json', 2)).toThrow(CacheDecodeError);
  });
});
