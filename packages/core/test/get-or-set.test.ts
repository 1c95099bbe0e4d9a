import { describe, expect, it } from 'vitest';
import {
  CacheBackendError,
  CacheClient,
  CacheErrorCode,
  CacheValueError,
  type CacheError,
  type ErrorEvent,
} from '../src/index.js';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import { recordingClient } from './helpers/clients.js';

function failing(ops?: string[]): {
  client: CacheClient;
  backend: FaultBackend;
  errors: ErrorEvent[];
} {
  const backend = new FaultBackend(new RecordingBackend());
  backend.mode = { kind: 'alwaysReject', error: new Error('down') };
  if (ops !== undefined) backend.ops = new Set(ops);
  const client = new CacheClient({ backend });
  const errors: ErrorEvent[] = [];
  client.on('error', (event) => errors.push(event));
  return { client, backend, errors };
}

describe('CacheClient.getOrSet', () => {
  it('runs the factory on a miss, stores and returns its value', async () => {
    const { client } = recordingClient();
    expect(await client.getOrSet('k', () => ({ fresh: true }))).toEqual({ fresh: true });
    expect(await client.get('k')).toEqual({ fresh: true });
  });

  it('returns the cached value on a hit without running the factory', async () => {
    const { client } = recordingClient();
    await client.set('k', 'cached');
    let runs = 0;
    expect(
      await client.getOrSet('k', () => {
        runs++;
        return 'fresh';
      }),
    ).toBe('cached');
    expect(runs).toBe(0);
  });

  it('runs the factory once for 100 concurrent calls (single-flight)', async () => {
    const { client, backend } = recordingClient({}, { async: true });
    let runs = 0;
    const factory = async (): Promise<number> => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return 7;
    };
    const results = await Promise.all(
      Array.from({ length: 100 }, () => client.getOrSet('k', factory)),
    );
    expect(runs).toBe(1);
    expect(results).toEqual(Array.from({ length: 100 }, () => 7));
    expect(client.stats().joins).toBe(99);
    expect(backend.ops.filter((op) => op === 'get')).toHaveLength(2); // one read, one read-back
  });

  it('shares the flight between a client and its scoped clients only for the same full key', async () => {
    const { client } = recordingClient();
    const a = client.scoped('stack', { stack: 'a' });
    const b = client.scoped('stack', { stack: 'b' });
    let runs = 0;
    const factory = async (): Promise<number> => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return runs;
    };
    await Promise.all([
      a.getOrSet('k', factory),
      a.getOrSet('k', factory),
      b.getOrSet('k', factory),
    ]);
    expect(runs).toBe(2);
  });

  it('does not cache a factory error: every waiter gets it and the next call runs again', async () => {
    const { client } = recordingClient({}, { async: true });
    const boom = new Error('factory failed');
    let runs = 0;
    const factory = async (): Promise<string> => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (runs === 1) throw boom;
      return 'ok';
    };
    const first = await Promise.allSettled([
      client.getOrSet('k', factory),
      client.getOrSet('k', factory),
    ]);
    expect(first.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect((first[0] as PromiseRejectedResult).reason).toBe(boom);
    expect(await client.get('k')).toBeUndefined();
    expect(await client.getOrSet('k', factory)).toBe('ok');
    expect(runs).toBe(2);
  });

  it('does not store a factory result of undefined', async () => {
    const { client, backend } = recordingClient();
    expect(await client.getOrSet('k', () => undefined)).toBeUndefined();
    expect(backend.ops).toEqual(['get']);
  });

  it('passes its TTL to the write', async () => {
    const { client, backend } = recordingClient();
    await client.getOrSet('k', () => 1, { ttl: '1m' });
    expect(backend.calls.find((call) => call.op === 'set')?.ttl).toBe(60);
  });

  it('skips the read-back with skipIntegrityCheck', async () => {
    const { client, backend } = recordingClient();
    await client.getOrSet('k', () => 1, { skipIntegrityCheck: true });
    expect(backend.ops).toEqual(['get', 'set']);
  });

  it('fails open when the backend is down: runs the factory, reports via onError and the error event', async () => {
    const { client, errors } = failing();
    const reported: CacheError[] = [];
    const value = await client.getOrSet('k', () => 'computed', {
      onError: (error) => reported.push(error),
    });
    expect(value).toBe('computed');
    // Only the read: after a failed read the result is returned without trying to store it.
    expect(reported).toHaveLength(1);
    expect(reported[0]).toBeInstanceOf(CacheBackendError);
    expect((reported[0] as CacheBackendError).operation).toBe('getOrSet');
    expect(errors.map((event) => event.operation)).toEqual(['getOrSet']);
    expect(errors[0]?.key).toBe('k');
    expect(client.stats().errors).toBe(1);
  });

  it('does not wait for a write after its read timed out (one deadline, not two)', async () => {
    const inner = new RecordingBackend();
    const backend = new FaultBackend(inner);
    const client = new CacheClient({ backend, timeoutMs: 200 });
    backend.mode = { kind: 'neverAnswer' }; // a paused server
    const value = await client.getOrSet('k', () => 'computed');
    expect(value).toBe('computed');
    // Only the read is held: no write was sent, so the call waited one deadline, not two.
    expect(backend.pending).toBe(1);
    backend.failLate();
    backend.mode = { kind: 'pass' };
    expect(inner.ops).toEqual([]);
    await client.close();
  });

  it('fails open on a failed write after a miss', async () => {
    const { client } = failing(['set', 'setAndRead']);
    const reported: CacheError[] = [];
    expect(await client.getOrSet('k', () => 5, { onError: (e) => reported.push(e) })).toBe(5);
    expect(reported).toHaveLength(1);
    expect((reported[0] as CacheBackendError).indeterminate).toBe(true);
  });

  it('throws backend errors with strict: true and does not run the factory', async () => {
    const { client } = failing();
    let runs = 0;
    await expect(
      client.getOrSet(
        'k',
        () => {
          runs++;
          return 1;
        },
        { strict: true },
      ),
    ).rejects.toMatchObject({ code: CacheErrorCode.Backend });
    expect(runs).toBe(0);
  });

  it('ignores an onError that throws and counts it', async () => {
    const { client } = failing();
    const value = await client.getOrSet('k', () => 'v', {
      onError: () => {
        throw new Error('bad handler');
      },
    });
    expect(value).toBe('v');
    expect(client.stats().listenerErrors).toBe(1);
  });

  it('returns an uncacheable factory result and reports CacheValueError', async () => {
    const { client, backend } = recordingClient();
    const fn = (): number => 1;
    const reported: CacheError[] = [];
    expect(await client.getOrSet('k', () => fn, { onError: (e) => reported.push(e) })).toBe(fn);
    expect(reported[0]).toBeInstanceOf(CacheValueError);
    expect(backend.ops).toEqual(['get']);
  });

  it('throws an uncacheable factory result with strict: true', async () => {
    const { client } = recordingClient();
    await expect(client.getOrSet('k', () => Symbol('s'), { strict: true })).rejects.toThrow(
      CacheValueError,
    );
  });

  it('refuses a factory that is not a function', async () => {
    const { client, backend } = recordingClient();
    await expect(client.getOrSet('k', 5 as never)).rejects.toThrow(/`factory` must be a function/);
    expect(backend.calls).toEqual([]);
  });
});

// Found by the soak (issue 10 §7): a `getOrSet` flight reads the key before a write or delete of
// this process; later callers joined it and got the value from before their own write, and the
// flight stored its factory's result over that write.
describe('getOrSet and a write of this process during its flight', () => {
  /** A factory that returns `value` once `release()` was called. */
  function gated(value: string): { factory: () => Promise<string>; release: () => void } {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    return {
      factory: async () => {
        await gate;
        return value;
      },
      release: () => release(),
    };
  }

  it('a getOrSet after this process set the key does not join the older flight', async () => {
    const { client } = recordingClient({}, { async: true });
    const { factory, release } = gated('computed-before-the-write');
    const first = client.getOrSet('k', factory);
    await new Promise((resolve) => setTimeout(resolve, 5)); // the flight's read missed
    expect(await client.set('k', 'v2')).toBe(true);
    const second = client.getOrSet('k', () => 'never');
    expect(await second).toBe('v2');
    release();
    // The first caller asked before the write: it gets its factory's result, which is not stored.
    expect(await first).toBe('computed-before-the-write');
    expect(await client.get('k')).toBe('v2');
  });

  it('a flight overtaken by a delete of this process does not store its result', async () => {
    const { client } = recordingClient({}, { async: true });
    const { factory, release } = gated('computed-before-the-delete');
    const first = client.getOrSet('k', factory);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await client.delete('k');
    release();
    expect(await first).toBe('computed-before-the-delete');
    expect(await client.get('k')).toBeUndefined();
    // The key is free for a new flight, which stores as usual.
    expect(await client.getOrSet('k', () => 'after')).toBe('after');
    expect(await client.get('k')).toBe('after');
  });

  it('setMany, deleteMany, add and flushAll overtake the flight too', async () => {
    const writes: Array<(client: CacheClient) => Promise<unknown>> = [
      (client) => client.setMany([['k', 'many']]),
      (client) => client.deleteMany(['k']),
      (client) => client.add('k', 'added'),
      (client) => client.flushAll(),
    ];
    for (const write of writes) {
      const { client } = recordingClient({}, { async: true });
      const { factory, release } = gated('stale');
      const first = client.getOrSet('k', factory);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await write(client);
      const after = await client.get('k');
      release();
      expect(await first).toBe('stale');
      expect(await client.get('k'), String(write)).toEqual(after);
    }
  });
});
