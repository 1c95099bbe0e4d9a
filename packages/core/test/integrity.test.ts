import { describe, expect, it } from 'vitest';
import { CacheWriteError } from '../src/index.js';
import { collect } from './helpers/events.js';
import { recordingClient } from './helpers/clients.js';

describe('CacheClient.set integrity check', () => {
  it('reads the value back after writing by default (set, then get)', async () => {
    const { client, backend } = recordingClient({ prefix: 'app' });
    expect(await client.set('k', 'v')).toBe(true);
    expect(backend.calls).toEqual([
      { op: 'set', keys: ['app:k'], ttl: 0 },
      { op: 'get', keys: ['app:k'] },
    ]);
  });

  it('uses setAndRead, one backend call, when the backend offers it', async () => {
    const { client, backend } = recordingClient({}, { setAndRead: true });
    expect(await client.set('k', 'v', { ttl: 5 })).toBe(true);
    expect(backend.calls).toEqual([{ op: 'setAndRead', keys: ['k'], ttl: 5 }]);
  });

  it('skips the read-back with skipIntegrityCheck', async () => {
    const { client, backend } = recordingClient({}, { setAndRead: true });
    expect(await client.set('k', 'v', { skipIntegrityCheck: true })).toBe(true);
    expect(backend.ops).toEqual(['set']);
  });

  it('trusts the answer of set with skipIntegrityCheck even when the server lies', async () => {
    const { client, backend } = recordingClient();
    backend.tamper = () => undefined;
    expect(await client.set('k', 'v', { skipIntegrityCheck: true })).toBe(true);
  });

  for (const setAndRead of [false, true]) {
    const how = setAndRead ? 'with setAndRead' : 'with set + get';
    it(`returns false and warns when the server stores different bytes (${how})`, async () => {
      const { client, backend } = recordingClient({}, { setAndRead });
      backend.tamper = (_key, entry) => ({ value: Buffer.from('other'), flags: entry.flags });
      const warnings = collect(client, 'warning');
      expect(await client.set('k', 'v')).toBe(false);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ kind: 'integrity', operation: 'set', key: 'k' });
      expect(warnings[0]?.error.message).toMatch(/different bytes/);
      expect(client.stats()).toMatchObject({ integrityFailures: 1, setFailures: 1, sets: 0 });
    });

    it(`returns false and warns when the server stores other flags (${how})`, async () => {
      const { client, backend } = recordingClient({}, { setAndRead });
      backend.tamper = (_key, entry) => ({ value: entry.value, flags: 2 });
      expect(await client.set('k', 'v')).toBe(false);
    });

    it(`returns false and warns when the server stores nothing (${how})`, async () => {
      const { client, backend } = recordingClient({}, { setAndRead });
      backend.tamper = () => undefined;
      const warnings = collect(client, 'warning');
      expect(await client.set('k', 'v')).toBe(false);
      expect(warnings[0]?.error.message).toMatch(/does not hold the value/);
    });

    it(`makes setAndReturn throw CacheWriteError on a failed check (${how})`, async () => {
      const { client, backend } = recordingClient({}, { setAndRead });
      backend.tamper = () => undefined;
      await expect(client.setAndReturn('k', 'v')).rejects.toThrow(CacheWriteError);
    });
  }

  it('does not remember a key whose check failed', async () => {
    const { client, backend } = recordingClient();
    backend.tamper = () => undefined;
    await client.set('k', 'v');
    expect(client.recentKeys()).toEqual([]);
  });

  it('compares encrypted items by their bytes, so random nonces do not fail the check', async () => {
    const { client } = recordingClient({ encryptionKey: Buffer.alloc(32, 3) });
    expect(await client.set('k', { secret: 1 })).toBe(true);
  });

  it('does not read back in setMany', async () => {
    const { client, backend } = recordingClient();
    backend.tamper = () => undefined;
    expect(await client.setMany({ a: 1 })).toEqual([]);
    expect(backend.ops).toEqual(['setMany']);
  });
});
