// noreply (Q2's): resolve once the command is sent; a later failure is reported, never thrown;
// errors found before anything is sent still reject.
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import { describe, expect, it } from 'vitest';
import { CacheClient, CacheKeyError, CacheValueError, type CacheLogger } from '../src/index.js';

function linesLogger(): { logger: CacheLogger; lines: string[] } {
  const lines: string[] = [];
  const add = (line: string): void => {
    lines.push(line);
  };
  return { logger: { debug: add, info: add, warn: add, error: add }, lines };
}

describe('noreply', () => {
  it('resolves undefined while the server has not answered, then books the write when it does', async () => {
    const inner = new RecordingBackend();
    const backend = new FaultBackend(inner);
    backend.mode = { kind: 'neverAnswer' };
    const client = new CacheClient({ backend, timeoutMs: 5_000 });
    expect(await client.set('k', 'v', { noreply: true })).toBeUndefined();
    expect(await client.setMany({ a: 1, b: 2 }, { noreply: true })).toBeUndefined();
    expect(await client.deleteMany(['x'], { noreply: true })).toBeUndefined();
    expect(await client.flushAll({ noreply: true })).toBeUndefined();
    expect(client.stats().sets).toBe(0);
    backend.mode = { kind: 'pass' };
    await backend.answerLate();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(client.stats().sets).toBeGreaterThanOrEqual(1);
    await client.close();
  });

  it('sends a set without the integrity read-back', async () => {
    const backend = new RecordingBackend();
    const client = new CacheClient({ backend });
    await client.set('k', 'v', { noreply: true });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(backend.calls.map((call) => call.op)).toEqual(['set']);
    await client.set('k', 'w');
    expect(backend.calls.map((call) => call.op).slice(1)).not.toEqual(['set']);
  });

  it('reports a failure after sending to the error event and the logger, and never throws it', async () => {
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'alwaysReject', error: new Error('ECONNRESET') };
    const { logger, lines } = linesLogger();
    const client = new CacheClient({ backend, logger });
    const errors: string[] = [];
    client.on('error', (event) => errors.push(`${event.operation}:${event.error.code}`));
    expect(await client.set('k', 'v', { noreply: true })).toBeUndefined();
    expect(await client.deleteMany(['k'], { noreply: true })).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(errors).toEqual(['set:E_CACHE_BACKEND', 'deleteMany:E_CACHE_BACKEND']);
    expect(lines).toEqual([
      expect.stringMatching(
        /^stowage: set with noreply failed: .*ECONNRESET.*\[E_CACHE_BACKEND\]$/,
      ),
      expect.stringMatching(/^stowage: deleteMany with noreply failed: /),
    ]);
    expect(client.stats().errors).toBe(2);
  });

  it('still rejects what is wrong before anything is sent, and sends nothing', async () => {
    const backend = new RecordingBackend();
    const client = new CacheClient({ backend });
    await expect(client.set('a b', 'v', { noreply: true })).rejects.toBeInstanceOf(CacheKeyError);
    await expect(client.set('k', 'v', { noreply: true, ttl: -1 })).rejects.toBeInstanceOf(
      CacheValueError,
    );
    await expect(client.setMany({ 'a b': 1 }, { noreply: true })).rejects.toBeInstanceOf(
      CacheKeyError,
    );
    await expect(client.deleteMany('abc' as never, { noreply: true })).rejects.toBeInstanceOf(
      CacheKeyError,
    );
    await expect(client.flushAll({ noreply: true, delaySeconds: -1 })).rejects.toBeInstanceOf(
      CacheValueError,
    );
    expect(backend.calls).toEqual([]);
    await client.close();
    await expect(client.set('k', 'v', { noreply: true })).rejects.toMatchObject({
      code: 'E_CACHE_CLOSED',
    });
  });

  it('keeps order: a read right after a noreply write sees it', async () => {
    const client = new CacheClient({ backend: new RecordingBackend({ async: true }) });
    await client.set('k', 'old');
    await client.set('k', 'new', { noreply: true });
    expect(await client.get('k')).toBe('new');
    await client.deleteMany(['k'], { noreply: true });
    expect(await client.get('k')).toBeUndefined();
  });
});
