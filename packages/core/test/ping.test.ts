// client.ping(): the backend's own ping when it has one, else a read of a key nobody writes;
// bounded by the deadline; a failure is a typed error counted like any call's.
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import { describe, expect, it } from 'vitest';
import { CacheClient, CacheErrorCode, CacheTimeoutError } from '../src/index.js';

describe('ping', () => {
  it('calls the backend ping when there is one, and counts no hit or miss', async () => {
    let pings = 0;
    const backend = Object.assign(new RecordingBackend(), {
      ping: () => {
        pings++;
      },
    });
    const client = new CacheClient({ backend });
    expect(await client.ping()).toBeGreaterThanOrEqual(0);
    expect(pings).toBe(1);
    expect(backend.calls).toEqual([]);
    expect(client.stats()).toMatchObject({ hits: 0, misses: 0, errors: 0 });
  });

  it('reads a key nobody writes, under the client prefix, on a backend without ping', async () => {
    const backend = new RecordingBackend();
    const client = new CacheClient({ backend, prefix: 'app' });
    await client.ping();
    expect(backend.calls).toEqual([{ op: 'get', keys: ['app:__stowage_ping__'] }]);
    expect(client.stats()).toMatchObject({ hits: 0, misses: 0 });
  });

  it('rejects by the deadline when the backend never answers, and counts the error', async () => {
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'neverAnswer' };
    const client = new CacheClient({ backend, timeoutMs: 50 });
    const started = performance.now();
    const error = await client.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheTimeoutError);
    expect(error).toMatchObject({ code: CacheErrorCode.Timeout, operation: 'ping' });
    expect(performance.now() - started).toBeLessThan(2_000); // settled, not hung
    expect(client.stats().errors).toBe(1);
    void backend.answerLate();
  });

  it('rejects with E_CACHE_CLOSED after close', async () => {
    const client = new CacheClient({ backend: new RecordingBackend() });
    await client.close();
    await expect(client.ping()).rejects.toMatchObject({ code: CacheErrorCode.Closed });
  });
});
