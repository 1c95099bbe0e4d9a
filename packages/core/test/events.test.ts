import { describe, expect, it } from 'vitest';
import { CacheBackendError, CacheClient, CacheDecodeError } from '../src/index.js';
import { collect } from './helpers/events.js';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import { recordingClient } from './helpers/clients.js';

describe('CacheClient.on', () => {
  it('emits hit and miss with the operation, caller key and full key', async () => {
    const { client } = recordingClient({ prefix: 'app' });
    const hits = collect(client, 'hit');
    const misses = collect(client, 'miss');
    await client.set('a', 1);
    await client.get('a');
    await client.get('b');
    await client.getMany(['a', 'c']);
    expect(hits).toEqual([
      { operation: 'get', key: 'a', fullKey: 'app:a' },
      { operation: 'getMany', key: 'a', fullKey: 'app:a' },
    ]);
    expect(misses).toEqual([
      { operation: 'get', key: 'b', fullKey: 'app:b' },
      { operation: 'getMany', key: 'c', fullKey: 'app:c' },
    ]);
  });

  it('emits set with whether the value was stored', async () => {
    const { client, backend } = recordingClient();
    const sets = collect(client, 'set');
    await client.set('a', 1);
    backend.refuse = (key) => key === 'c';
    await client.setMany({ b: 1, c: 2 });
    await client.add('b', 1);
    expect(sets).toEqual([
      { operation: 'set', key: 'a', fullKey: 'a', stored: true },
      { operation: 'setMany', key: 'b', fullKey: 'b', stored: true },
      { operation: 'setMany', key: 'c', fullKey: 'c', stored: false },
      { operation: 'add', key: 'b', fullKey: 'b', stored: false },
    ]);
  });

  it('emits delete with the caller keys', async () => {
    const { client } = recordingClient();
    const deletes = collect(client, 'delete');
    await client.set('a', 1);
    await client.delete('a');
    await client.deleteMany(['b', 'c']);
    await client.set('d', 1);
    await client.bustRecent();
    expect(deletes).toEqual([
      { operation: 'delete', keys: ['a'] },
      { operation: 'deleteMany', keys: ['b', 'c'] },
      { operation: 'bustRecent', keys: ['d'] },
    ]);
  });

  it('emits a decode warning carrying a CacheDecodeError', async () => {
    const { client, backend } = recordingClient();
    const warnings = collect(client, 'warning');
    backend.put('k', 'abc', 99);
    await client.get('k');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ kind: 'decode', operation: 'get', key: 'k', fullKey: 'k' });
    expect(warnings[0]?.error).toBeInstanceOf(CacheDecodeError);
    expect((warnings[0]?.error as CacheDecodeError).flags).toBe(99);
  });

  it('emits error with the thrown CacheError', async () => {
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'alwaysReject' };
    const client = new CacheClient({ backend });
    const errors = collect(client, 'error');
    const thrown = await client.get('k').catch((e: unknown) => e);
    expect(errors).toEqual([{ operation: 'get', key: 'k', error: thrown }]);
    expect(thrown).toBeInstanceOf(CacheBackendError);
  });

  it('emits timing for each backend call with outcome and key count', async () => {
    const { client } = recordingClient();
    const timings = collect(client, 'timing');
    await client.set('a', 1);
    await client.get('a');
    await client.get('b');
    await client.getMany(['a', 'b']);
    await client.setMany({ c: 1, d: 2 });
    expect(timings.map(({ operation, keys, outcome }) => [operation, keys, outcome])).toEqual([
      ['set', 1, 'ok'],
      ['get', 1, 'hit'],
      ['get', 1, 'miss'],
      ['getMany', 2, 'hit'],
      ['setMany', 2, 'ok'],
    ]);
    for (const timing of timings) expect(timing.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('stops calling a listener after unsubscribing', async () => {
    const { client } = recordingClient();
    let count = 0;
    const off = client.on('miss', () => count++);
    await client.get('a');
    off();
    off();
    await client.get('a');
    expect(count).toBe(1);
  });

  it('keeps the call working and the other listeners called when a listener throws', async () => {
    const { client } = recordingClient();
    const seen: string[] = [];
    client.on('set', () => {
      throw new Error('listener bug');
    });
    client.on('set', (event) => seen.push(event.key));
    client.on('hit', () => {
      throw new Error('listener bug');
    });
    expect(await client.set('a', 1)).toBe(true);
    expect(await client.get('a')).toBe(1);
    expect(seen).toEqual(['a']);
    expect(client.stats().listenerErrors).toBe(2);
  });

  it('lets a listener unsubscribe itself while being called', async () => {
    const { client } = recordingClient();
    const order: string[] = [];
    const off = client.on('miss', () => {
      order.push('first');
      off();
    });
    client.on('miss', () => order.push('second'));
    await client.get('a');
    await client.get('a');
    expect(order).toEqual(['first', 'second', 'second']);
  });
});

describe('CacheClient.stats', () => {
  it('counts hits, misses, sets, failures, deletes and decode errors', async () => {
    const { client, backend } = recordingClient();
    await client.set('a', 1);
    await client.get('a');
    await client.get('b');
    backend.put('bad', 'x', 0);
    await client.get('bad');
    backend.refuse = () => true;
    await client.set('c', 1);
    await client.deleteMany(['a', 'b']);
    expect(client.stats()).toEqual({
      hits: 1,
      misses: 2,
      sets: 1,
      setFailures: 1,
      deletes: 2,
      errors: 0,
      decodeErrors: 1,
      integrityFailures: 1,
      listenerErrors: 0,
      joins: 0,
      leasesTaken: 0,
      leaseWaits: 0,
      leaseTimeouts: 0,
      leasesLost: 0,
      staleHits: 0,
      staleServed: 0,
    });
  });

  it('returns a snapshot that later calls do not change', async () => {
    const { client } = recordingClient();
    const before = client.stats();
    await client.get('a');
    expect(before.misses).toBe(0);
    expect(client.stats().misses).toBe(1);
  });
});
