// The text an entry of the codec carries (private to the codec; the backend contract knows
// nothing of it): set on the entries the client encodes, used on a hit only when the backend
// handed back that very object (an in-process backend), and never trusted on an entry of any
// other origin. `retainedBytes` (what the memory backend sizes entries with) makes it visible.
import { describe, expect, it } from 'vitest';
import { CacheClient, CacheReturnCode, type StoredEntry } from '../src/index.js';
import { retainedBytes } from '../src/backend/kit.js';
import { RecordingBackend } from '@stowage/testkit';
import { recordingClient } from './helpers/clients.js';

/** Length of the text the codec attached to `entry` (0 when none). */
const textLength = (entry: StoredEntry | undefined): number =>
  entry === undefined ? -1 : retainedBytes(entry) - entry.value.byteLength;

const record = { id: 7, name: 'donald', tags: ['billing'] };

describe('the text of an entry', () => {
  it('is attached to String and JSON entries the client encodes unencrypted and uncompressed', async () => {
    const { client, backend } = recordingClient({ compress: false });
    let entry: StoredEntry | undefined;
    backend.tamper = (_key, stored) => (entry = stored);
    await client.set('json', record);
    expect(entry?.flags).toBe(CacheReturnCode.Json);
    expect(textLength(entry)).toBe(JSON.stringify(record).length);
    await client.set('string', 'héllo');
    expect(entry?.flags).toBe(CacheReturnCode.String);
    expect(textLength(entry)).toBe('héllo'.length);
    await client.set('integer', 42);
    expect(textLength(entry)).toBe(0);
  });

  it('is not attached to compressed or encrypted entries', async () => {
    const compressing = recordingClient({ compress: true });
    let entry: StoredEntry | undefined;
    compressing.backend.tamper = (_key, stored) => (entry = stored);
    await compressing.client.set('k', record);
    expect(textLength(entry)).toBe(0);
    const encrypting = recordingClient({ encryptionKey: Buffer.alloc(32, 1) });
    encrypting.backend.tamper = (_key, stored) => (entry = stored);
    await encrypting.client.set('k', record);
    expect(entry?.flags).toBe(CacheReturnCode.Encrypted);
    expect(textLength(entry)).toBe(0);
  });

  it('answers a hit on the entry object the client made, without decoding its bytes', async () => {
    const { client, backend } = recordingClient({ compress: false });
    let entry: StoredEntry | undefined;
    backend.tamper = (_key, stored) => (entry = stored);
    await client.set('k', record);
    backend.tamper = undefined;
    // Only this test touches the bytes after the write (the contract forbids it): if the hit
    // decoded them, it would not parse.
    (entry?.value as Buffer).fill(0x7b);
    expect(await client.get('k')).toEqual(record);
    expect((await client.getMany(['k'])).get('k')).toEqual(record);
    expect(client.stats()).toMatchObject({ hits: 2, decodeErrors: 0 });
  });

  it('is ignored on an entry the client did not make: the bytes are decoded', async () => {
    const { client, backend } = recordingClient({ compress: false });
    // What a remote backend or a foreign writer hands back: a new object, here with a forged text.
    backend.tamper = (_key, stored) => ({
      value: stored.value,
      flags: stored.flags,
      text: '"forged"',
    });
    await client.set('k', record);
    expect(await client.get('k')).toEqual(record);
    await client.set('s', 'real');
    expect(await client.get('s')).toBe('real');
  });

  it('still drops prototype keys, as decoding the bytes does', async () => {
    const { client } = recordingClient({ compress: false });
    const hostile = JSON.parse('{"a":1,"__proto__":{"polluted":true}}') as object;
    await client.set('k', hostile);
    const read = (await client.get('k')) as Record<string, unknown>;
    expect(read).toEqual({ a: 1 });
    expect(Object.prototype.hasOwnProperty.call(read, '__proto__')).toBe(false);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it("leaves the reader's own rules in force: encryption required, deserializer", async () => {
    const backend = new RecordingBackend();
    const writer = new CacheClient({ backend, compress: false });
    await writer.set('k', record);
    const strict = new CacheClient({ backend, encryptionKey: Buffer.alloc(32, 2) });
    const warnings: string[] = [];
    strict.on('warning', (event) => warnings.push(event.error.message));
    expect(await strict.get('k')).toBeUndefined();
    expect(warnings[0]).toMatch(/not encrypted/);
    const migrating = new CacheClient({
      backend,
      encryptionKey: Buffer.alloc(32, 2),
      acceptPlaintext: true,
      deserializer: (value) => ({ wrapped: value }),
    });
    expect(await migrating.get('k')).toEqual({ wrapped: record });
  });
});
